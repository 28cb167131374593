"""Loss-weighting methods (paper Eq. 1 and Sec. 3.4), one per file, behind one interface.

``WEIGHTINGS`` maps the config key to the class; build one with
``WEIGHTINGS[key].from_config(config, n_seeds=..., n_tasks=...)``.
"""

from emomtl.weighting.base import SharedLayer, Weighting
from emomtl.weighting.equal import EqualWeighting
from emomtl.weighting.gradnorm import GradNorm

WEIGHTINGS: dict[str, type[Weighting]] = {"equal": EqualWeighting, "gradnorm": GradNorm}

__all__ = ["WEIGHTINGS", "EqualWeighting", "GradNorm", "SharedLayer", "Weighting"]
