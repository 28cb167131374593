"""PCGrad (Yu et al., "Gradient Surgery for Multi-Task Learning", NeurIPS 2020, Alg. 1): for each
task i, in a random order of the others, if ``g_i . g_j < 0`` project
``g_i <- g_i - (g_i . g_j / ||g_j||^2) g_j``; the update is the sum of the projected gradients.
TorchJD's ``PCGradWeighting`` on each seed's Gramian. Its random orders come from torch's global
generator; we seed it per call from the training seed's own generator, so a seed's run does not
depend on the other seeds. Deviation: the paper projects the gradients of all parameters; here (as
in TorchJD's ``mtl_backward``) only the shared layer's W and b, heads get their own gradient."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from emomtl.sampling import seed_generator
from emomtl.weighting.aggregation import GramianAggregation

if TYPE_CHECKING:  # pragma: no cover
    from emomtl.train import TrainConfig

_PCGRAD_STREAM = 3  # generator stream of a training seed (train.py uses 0-2)


class PCGrad(GramianAggregation):
    """PCGrad aggregation; ``seeds`` are the training seeds (for the projection orders)."""

    def __init__(self, n_seeds: int, n_tasks: int, *, seeds: Sequence[int] | None = None) -> None:
        super().__init__(n_seeds, n_tasks)
        seeds = range(n_seeds) if seeds is None else seeds
        self.generators = [seed_generator(s, _PCGRAD_STREAM) for s in seeds]

    @classmethod
    def from_config(cls, config: TrainConfig, *, n_seeds: int, n_tasks: int) -> PCGrad:
        cls.resolve_args(config.weighting_args)  # no hyper-parameters: rejects any
        return cls(n_seeds, n_tasks, seeds=config.seeds)

    def make_weighting(self, n_tasks: int, **options: object) -> Callable[[Tensor], Tensor]:
        from torchjd.aggregation import PCGradWeighting

        return PCGradWeighting()

    def keep_seeds(self, rows: Tensor) -> None:
        super().keep_seeds(rows)
        self.generators = [self.generators[r] for r in rows.tolist()]

    def seed_weights(self, gramian: Tensor) -> Tensor:
        weights = []
        for weighting, gram, g in zip(
            self.weightings, gramian.double(), self.generators, strict=True
        ):
            state = int(torch.randint(0, 2**62, (1,), generator=g))
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(state)
                weights.append(weighting(gram).to(torch.float32))
        return torch.stack(weights)
