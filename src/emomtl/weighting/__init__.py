"""Loss-weighting methods (paper Eq. 1 and Sec. 3.4, and issue 12's MTL methods), one per file,
behind one interface.

``WEIGHTINGS`` maps the config key to the class; build one with
``WEIGHTINGS[key].from_config(config, n_seeds=..., n_tasks=...)``. Loss weightings: ``equal``,
``gradnorm`` (the paper's), ``gradnorm_mean`` (the variant for disparate datasets), ``uw``,
``dwa``, ``famo``. Gradient aggregators (need every task in every batch: sampling ``round``,
``balanced`` or ``temperature``): ``pcgrad``, ``cagrad``, ``nash_mtl``, ``upgrad``,
``aligned_mtl``.
"""

from emomtl.weighting.aggregation import GramianAggregation
from emomtl.weighting.aligned_mtl import AlignedMTL
from emomtl.weighting.base import SharedLayer, Weighting
from emomtl.weighting.cagrad import CAGrad
from emomtl.weighting.dwa import DynamicWeightAverage
from emomtl.weighting.equal import EqualWeighting
from emomtl.weighting.famo import FAMO
from emomtl.weighting.gradnorm import GradNorm
from emomtl.weighting.gradnorm_mean import GradNormMean
from emomtl.weighting.nash_mtl import NashMTL
from emomtl.weighting.pcgrad import PCGrad
from emomtl.weighting.upgrad import UPGrad
from emomtl.weighting.uw import UncertaintyWeighting

WEIGHTINGS: dict[str, type[Weighting]] = {
    "equal": EqualWeighting,
    "gradnorm": GradNorm,
    "gradnorm_mean": GradNormMean,
    "uw": UncertaintyWeighting,
    "dwa": DynamicWeightAverage,
    "famo": FAMO,
    "pcgrad": PCGrad,
    "cagrad": CAGrad,
    "nash_mtl": NashMTL,
    "upgrad": UPGrad,
    "aligned_mtl": AlignedMTL,
}

__all__ = [
    "FAMO",
    "WEIGHTINGS",
    "AlignedMTL",
    "CAGrad",
    "DynamicWeightAverage",
    "EqualWeighting",
    "GradNorm",
    "GradNormMean",
    "GramianAggregation",
    "NashMTL",
    "PCGrad",
    "SharedLayer",
    "UPGrad",
    "UncertaintyWeighting",
    "Weighting",
]
