"""What the console shows of multi-run experiments, read from the store: plain functions.

Stacked ensembles' reports, ablation groups and sweeps are read and tabulated by the engine
API (``read_stack_report``, ``ablation_rows``, ``rows_from_runs``, ``best_trial``,
``by_param``), torch-free and called on the runs the console already holds, so the views and
`resnet-tui ablate --show` / `sweeps show` agree; this module adds only what drawing needs
(value formatting, which axis is numeric or log).

Nothing here raises for a bad file: a reader returns (None, why) or skips the file.
"""

from __future__ import annotations

import math
from typing import Any

from engine import api


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


# ---------------------------------------------------------------- stacked ensembles


def is_stacked(run: api.RunRecord | None) -> bool:
    return run is not None and run.is_stacked


def read_stacking(store: api.RunStore, run_id: str) -> tuple[dict[str, Any] | None, str]:
    """(the stacked run's report as its JSON, "") or (None, why not)."""
    try:
        return api.read_stack_report(store, run_id).to_dict(), ""
    except api.UserError as exc:
        why = str(exc)
        if "has no stacking.json" in why:
            why = "no stacking.json yet: it is written when the stacking layer has trained"
        return None, why


def member_labels(members: list[dict[str, Any]]) -> list[str]:
    """Members' names; runs of one preset share a name, so those get the end of their id."""
    names = [str(m.get("name") or m.get("id") or "?") for m in members]
    return [
        n if names.count(n) == 1 else f"{n}-{str(m.get('id', ''))[-4:]}"
        for n, m in zip(names, members, strict=True)
    ]


def valid_per_class(report: dict[str, Any]) -> list[list[float]] | None:
    """The members x classes shares, when they have the shape the member and class lists say."""
    per_class = report.get("per_class")
    members, classes = report.get("members") or [], report.get("classes") or []
    if (
        not isinstance(per_class, list)
        or len(per_class) != len(members)
        or not all(
            isinstance(row, list)
            and len(row) == len(classes)
            and all(_number(v) is not None for v in row)
            for row in per_class
        )
    ):
        return None
    return [[float(v) for v in row] for row in per_class]


# ---------------------------------------------------------------- ablation groups


def ablation_group(run: api.RunRecord | None) -> str | None:
    return run.ablation_group if run is not None else None


def sweep_params(sweep: api.SweepRecord) -> list[dict[str, Any]]:
    """The swept keys of a sweep: [{"key", "kind", "values" | "low"/"high"/"log"}]."""
    params = sweep.spec.get("params") or []
    return [p for p in params if isinstance(p, dict) and isinstance(p.get("key"), str)]


def describe_param(param: dict[str, Any]) -> str:
    """`optim.lr in {0.01, 0.1}` or `optim.lr in [0.0001, 1] (float, log)`, as the CLI says."""
    if param.get("kind") in ("grid", "choice"):
        return f"{param['key']} in {{{', '.join(show_value(v) for v in param.get('values', []))}}}"
    scale = ", log" if param.get("log") else ""
    low, high = show_value(param.get("low")), show_value(param.get("high"))
    return f"{param['key']} in [{low}, {high}] ({param.get('kind')}{scale})"


def show_value(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def is_numeric(param: dict[str, Any], rows: list[dict[str, Any]]) -> bool:
    """A float/int range, or a grid/choice whose values are all numbers."""
    if param.get("kind") in ("float", "int"):
        return True
    values = list(param.get("values") or []) + [
        r["params"][param["key"]] for r in rows if param["key"] in r["params"]
    ]
    return bool(values) and all(_number(v) is not None for v in values)


def log_scale(param: dict[str, Any], values: list[float]) -> bool:
    """Log x when the sweep sampled on a log scale or the values span two decades or more
    (the rule of the analysis's parallel coordinates too)."""
    return api.log_axis(param, values)
