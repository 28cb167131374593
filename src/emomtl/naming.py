"""Names of training settings: one rule for the row names of results files, reports, grids and
CLI tables.

A row is named ``"<tasks> <method><protocol>"``, e.g. ``"0.1S+T+E SE+GN"``,
``"0.1S+T+E MH+UW [balanced, per-task]"`` or ``"S+T+E LABEL+FT"``: the task string in canonical
order, the paper's method name for (head, loss weighting), and the sampling and selection where
they differ from the defaults of the run's mode.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from emomtl.data.tasks import format_task_spec, parse_task_spec
from emomtl.report.paper_values import METHOD_NAMES

#: Training-protocol defaults a row name leaves out: (sampling, selection) of frozen-feature
#: runs (the paper's) and of fine-tuned runs.
PROTOCOL_DEFAULTS: Mapping[bool, tuple[str, str]] = MappingProxyType(
    {False: ("proportional", "sum"), True: ("temperature", "mean")}
)


def method_name(head: str, weighting: str) -> str:
    """The paper's method name for a head and loss weighting: ``("se", "gradnorm") -> "SE+GN"``.

    Weightings the paper did not use are named after themselves (``("mh", "uw") -> "MH+UW"``;
    fine-tuned runs record ``weighting = "ft"``, so ``("label", "ft") -> "LABEL+FT"``).
    """
    return METHOD_NAMES.get((head, weighting), f"{head.upper()}+{weighting.upper()}")


def protocol_suffix(train: Mapping[str, Any], n_tasks: int) -> str:
    """``" [balanced, per-task]"``: the run's sampling (multi-task runs only; one task has
    nothing to sample between) and selection where they differ from the defaults of its mode
    (:data:`PROTOCOL_DEFAULTS`), so settings that differ only in them are separate rows;
    ``""`` for the defaults."""
    sampling_default, selection_default = PROTOCOL_DEFAULTS[bool(train.get("finetune", False))]
    sampling = str(train.get("sampling", sampling_default))
    selection = str(train.get("selection", selection_default))
    extras = [sampling] if n_tasks > 1 and sampling != sampling_default else []
    extras += [selection] if selection != selection_default else []
    return f" [{', '.join(extras)}]" if extras else ""


def run_method(train: Mapping[str, Any]) -> str:
    """The method part of a run's row name from its ``config.json`` ``train`` mapping
    (``TrainConfig`` or ``FinetuneConfig`` ``.to_dict()``): :func:`method_name` plus
    :func:`protocol_suffix`, e.g. ``"MH+UW [balanced]"``.

    Raises:
        KeyError: without ``tasks``; ValueError: for a task string that does not parse.
    """
    n_tasks = len(parse_task_spec(train["tasks"]))
    method = method_name(str(train.get("head", "mh")), str(train.get("weighting", "equal")))
    return method + protocol_suffix(train, n_tasks)


def run_name(train: Mapping[str, Any]) -> str:
    """The row name of a run: its canonical task string and :func:`run_method`, e.g.
    ``"0.1S+T+E SE+GN [balanced]"``.

    Raises:
        KeyError: without ``tasks``; ValueError: for a task string that does not parse.
    """
    return f"{format_task_spec(parse_task_spec(train['tasks']))} {run_method(train)}"
