"""What the console shows of multi-run experiments, read from the store: plain functions.

Stacked ensembles (``stacking.json`` in the stacked run's folder), ablation groups (runs whose
``group`` starts with "ablate-", each with its ``ablation`` label), and sweeps (documents
``runs/sweeps/NAME.json``; every trial is a run with ``sweep``, ``trial`` and
``sweep_params``). The engine modules that make them (engine.stacking, engine.ablation,
engine.sweep) are not imported here: the first needs torch, and the console reads only the
files and documents they leave behind. The rows below are those of ``engine.ablation.
ablation_table`` and ``engine.sweep.sweep_summary`` (what `resnet-tui ablate --show` and
`resnet-tui sweeps show` print), computed from the run documents the console already holds.

Nothing here raises for a bad file: a reader returns (None, why) or skips the file.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from engine.store import RunStore

STACKED_MODEL = "stacked"  # engine.stacking.STACKED_MODEL
STACKING_FILE = "stacking.json"  # engine.stacking.STACKING_FILE
ABLATION_PREFIX = "ablate-"  # engine.ablation.GROUP_PREFIX
ABLATION_ORDER = ("base", "relu", "bn", "skip")  # the base, then engine.ablation.COMPONENTS
SWEEPS_DIR = "sweeps"  # engine.sweep.SWEEPS_DIR
SWEEP_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


# ---------------------------------------------------------------- stacked ensembles


def is_stacked(doc: dict[str, Any] | None) -> bool:
    return bool(doc) and (doc or {}).get("model") == STACKED_MODEL


def read_stacking(store: RunStore, run_id: str) -> tuple[dict[str, Any] | None, str]:
    """(stacking.json, "") or (None, why not)."""
    try:
        data = json.loads((store.run_dir(run_id) / STACKING_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"no {STACKING_FILE} yet: it is written when the stacking layer has trained"
    except Exception as exc:
        return None, f"{STACKING_FILE} is unreadable: {exc}"
    if not isinstance(data, dict) or not isinstance(data.get("members"), list):
        return None, f"{STACKING_FILE} is unreadable: no member list"
    return data, ""


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


def ablation_group(doc: dict[str, Any] | None) -> str | None:
    group = (doc or {}).get("group")
    return group if isinstance(group, str) and group.startswith(ABLATION_PREFIX) else None


def ablation_rows(runs: list[dict[str, Any]], group: str) -> list[dict[str, Any]]:
    """The group's runs, base first: val/test accuracy and their differences to the base
    (None until both are known), as ``engine.ablation.ablation_table``."""
    docs = [d for d in runs if d.get("group") == group]

    def rank(doc: dict[str, Any]) -> tuple[int, str]:
        label = doc.get("ablation")
        order = ABLATION_ORDER.index(label) if label in ABLATION_ORDER else len(ABLATION_ORDER)
        return order, str(doc.get("created") or "")

    docs.sort(key=rank)
    base = next((d for d in docs if d.get("ablation") == "base"), None)

    def stat(doc: dict[str, Any] | None, section: str, key: str) -> float | None:
        return _number(((doc or {}).get(section) or {}).get(key))

    base_val, base_test = stat(base, "best", "val_acc"), stat(base, "test", "test_acc")
    rows = []
    for doc in docs:
        val, test = stat(doc, "best", "val_acc"), stat(doc, "test", "test_acc")
        rows.append(
            {
                "id": doc["id"],
                "name": doc.get("name", ""),
                "ablation": str(doc.get("ablation") or "?"),
                "status": doc.get("status"),
                "epoch": doc.get("epoch") or 0,
                "epochs": doc.get("epochs"),
                "val_acc": val,
                "test_acc": test,
                "d_val_acc": val - base_val if val is not None and base_val is not None else None,
                "d_test_acc": (
                    test - base_test if test is not None and base_test is not None else None
                ),
            }
        )
    return rows


# ---------------------------------------------------------------- sweeps


def read_sweeps(store: RunStore) -> tuple[list[dict[str, Any]], list[str]]:
    """(the sweep documents, newest first; problems with unreadable files). A sweep marked
    running whose process is gone shows as crashed, as ``engine.sweep.get_sweep`` says."""
    folder = store.root / SWEEPS_DIR
    docs, problems = [], []
    try:
        paths = sorted(p for p in folder.glob("*.json") if SWEEP_NAME_RE.match(p.stem))
    except OSError:
        return [], []
    for path in paths:
        try:
            doc = json.loads(path.read_bytes())
        except (OSError, ValueError) as exc:
            problems.append(f"sweep file {path} is unreadable ({exc})")
            continue
        if not isinstance(doc, dict) or not isinstance(doc.get("spec"), dict):
            problems.append(f"sweep file {path} is not a sweep document")
            continue
        doc["name"] = path.stem
        if doc.get("status") == "running" and not store.is_alive(doc):
            doc["status"] = "crashed"
            doc["message"] = (
                f"the sweep process crashed; continue it with `resnet-tui sweep --resume "
                f"{path.stem}`"
            )
        docs.append(doc)
    docs.sort(key=lambda d: str(d.get("created") or ""), reverse=True)
    return docs, problems


def sweep_params(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The swept keys of a sweep document: [{"key", "kind", "values" | "low"/"high"/"log"}]."""
    params = (doc.get("spec") or {}).get("params") or []
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


def trial_status(doc: dict[str, Any]) -> str:
    """A trial the sweep stopped as hopeless reads "pruned" (engine.sweep._trial_status)."""
    status = str(doc.get("status") or "?")
    return "pruned" if doc.get("pruned") and status in ("stopped", "crashed") else status


def trial_rows(runs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """One row per trial run of sweep ``name``, in trial order."""
    docs = [d for d in runs if d.get("sweep") == name]
    docs.sort(key=lambda d: (_trial_number(d), d["id"]))
    return [
        {
            "trial": d.get("trial"),
            "run": d["id"],
            "name": d.get("name", ""),
            "status": trial_status(d),
            "params": dict(d.get("sweep_params") or {}),
            "val_acc": _number((d.get("best") or {}).get("val_acc")),
            "test_acc": _number((d.get("test") or {}).get("test_acc")),
            "epoch": d.get("epoch") or 0,
            "epochs": d.get("epochs"),
        }
        for d in docs
    ]


def _trial_number(doc: dict[str, Any]) -> int:
    value = doc.get("trial")
    return value if isinstance(value, int) and not isinstance(value, bool) else 1 << 30


def best_trial(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The finished trial with the best val accuracy (then test accuracy)."""
    done = [r for r in rows if r["status"] == "finished" and r["val_acc"] is not None]
    if not done:
        return None
    return max(done, key=lambda r: (r["val_acc"], r["test_acc"] or 0.0))


def status_counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return counts


def is_numeric(param: dict[str, Any], rows: list[dict[str, Any]]) -> bool:
    """A float/int range, or a grid/choice whose values are all numbers."""
    if param.get("kind") in ("float", "int"):
        return True
    values = list(param.get("values") or []) + [
        r["params"][param["key"]] for r in rows if param["key"] in r["params"]
    ]
    return bool(values) and all(_number(v) is not None for v in values)


def log_scale(param: dict[str, Any], values: list[float]) -> bool:
    """Log x when the sweep sampled on a log scale or the values span two decades or more."""
    if param.get("log"):
        return True
    positive = [v for v in values if v > 0]
    return len(positive) == len(values) and len(values) > 1 and max(values) / min(values) >= 100


def best_by_value(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Per value of ``key``: the trials, and the best val accuracy over the other keys with
    that trial's test accuracy (seed 003's "optimizer vs accuracy"). Values sorted."""
    groups: dict[str, list[dict[str, Any]]] = {}
    values: dict[str, Any] = {}
    for row in rows:
        if key not in row["params"]:
            continue
        k = json.dumps(row["params"][key], default=str)
        groups.setdefault(k, []).append(row)
        values[k] = row["params"][key]
    table = []
    for k, members in groups.items():
        scored = [m for m in members if m["val_acc"] is not None]
        best = max(scored, key=lambda m: m["val_acc"]) if scored else None
        table.append(
            {
                "value": values[k],
                "trials": len(members),
                "best_val_acc": best["val_acc"] if best else None,
                "test_acc": best["test_acc"] if best else None,
                "best_trial": best["trial"] if best else None,
            }
        )
    table.sort(key=lambda row: _sort_value(row["value"]))
    return table


def _sort_value(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, int | float):
        return (1, value)
    return (2, str(value))
