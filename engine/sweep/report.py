"""A sweep's results as plain rows, from the run documents its trials left in the store: the
trials table, the best trial, accuracy against each swept key, every sweep of the store.

Torch- and optuna-free: the console computes these from the runs it already holds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from engine.errors import StoreError
from engine.records import RunRecord
from engine.store import RunStore
from engine.sweep.docs import get_sweep, sweep_names, sweep_path
from engine.sweep.spec import SweepSpec

OBJECTIVE = "val_acc"  # the best checkpoint's val_acc (the run's ``best``), maximised


Run = RunRecord | Mapping[str, Any]


def record(run: Run) -> RunRecord:
    return run if isinstance(run, RunRecord) else RunRecord.from_json(run)


def trial_status(run: Run) -> str:
    """A trial the sweep stopped as hopeless reads "pruned"."""
    r = record(run)
    pruned = r.sweep is not None and r.sweep.pruned
    return "pruned" if pruned and r.status in ("stopped", "crashed") else r.status


def was_pruned(run: Run) -> bool:
    return trial_status(run) == "pruned"


def objective(run: Run) -> float | None:
    """What a trial scores: its best epoch's val accuracy."""
    best = record(run).best
    return best.val_acc if best is not None else None


def trials_of(runs: Sequence[Run], name: str) -> list[RunRecord]:
    """The trial runs of sweep ``name`` among ``runs``, in trial order."""
    found = [r for r in map(record, runs) if r.sweep is not None and r.sweep.name == name]
    last = 1 << 30
    found.sort(
        key=lambda r: (r.sweep.trial if r.sweep and r.sweep.trial is not None else last, r.id)
    )
    return found


def rows_from_runs(runs: Sequence[Run], name: str) -> list[dict[str, Any]]:
    """One row per trial run of sweep ``name`` among ``runs`` (records or run documents), in
    trial order (the console calls this on the runs it already holds)."""
    rows = []
    for r in trials_of(runs, name):
        assert r.sweep is not None
        rows.append(
            {
                "trial": r.sweep.trial,
                "run": r.id,
                "name": r.name,
                "status": trial_status(r),
                "params": dict(r.sweep.params),
                "val_acc": objective(r),
                "test_acc": r.test.acc if r.test else None,
                "best_epoch": r.best.epoch if r.best else None,
                "epoch": r.epoch,
                "epochs": r.epochs,
                "message": r.message,
            }
        )
    return rows


def trial_rows(store: RunStore, name: str) -> list[dict[str, Any]]:
    """One row per trial run of sweep ``name`` (this run store), in trial order."""
    return rows_from_runs(store.list_runs(), name)


def best_trial(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The finished trial with the best val accuracy (then test accuracy)."""
    done = [r for r in rows if r["status"] == "finished" and r["val_acc"] is not None]
    if not done:
        return None
    return max(done, key=lambda r: (r["val_acc"], r["test_acc"] or 0.0))


def by_param(rows: list[dict[str, Any]], keys: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Accuracy against each swept key (seed 003's "optimizer vs accuracy", "learning rate vs
    accuracy"): per value, the best val_acc over the other keys, the mean, and the test_acc of
    that best trial. Values are sorted (numbers ascending)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for key in keys:
        groups: dict[str, list[dict[str, Any]]] = {}
        values: dict[str, Any] = {}
        for r in rows:
            if key not in r["params"]:
                continue
            k = json.dumps(r["params"][key], default=str)
            groups.setdefault(k, []).append(r)
            values[k] = r["params"][key]
        table = []
        for k, members in groups.items():
            scored = [m for m in members if m["val_acc"] is not None]
            best = max(scored, key=lambda m: m["val_acc"]) if scored else None
            table.append(
                {
                    "value": values[k],
                    "trials": len(members),
                    "finished": sum(1 for m in members if m["status"] == "finished"),
                    "best_val_acc": best["val_acc"] if best else None,
                    "mean_val_acc": (
                        sum(m["val_acc"] for m in scored) / len(scored) if scored else None
                    ),
                    "test_acc": best["test_acc"] if best else None,
                    "best_trial": best["trial"] if best else None,
                }
            )
        table.sort(key=lambda row: _sort_value(row["value"]))
        out[key] = table
    return out


def _sort_value(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, int | float):
        return (1, value)
    return (2, str(value))


def status_counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return counts


def sweep_summary(store: RunStore, name: str) -> dict[str, Any]:
    """Everything a sweep view shows, as plain data::

    {"sweep": {...document...}, "keys": ["optim.name", ...], "planned": 9,
     "counts": {"finished": 7, "pruned": 1, ...}, "trials": [row, ...],
     "best": row | None, "by_param": {"optim.name": [{"value", "trials", "finished",
     "best_val_acc", "mean_val_acc", "test_acc", "best_trial"}, ...], ...}}
    """
    doc = get_sweep(store, name)
    spec = SweepSpec.from_dict(doc["spec"])
    rows = trial_rows(store, name)
    return {
        "sweep": {k: v for k, v in doc.items() if k != "spec"},
        "spec": [p.describe() for p in spec.params],
        "keys": spec.keys,
        "planned": spec.trials,
        "counts": status_counts(rows),
        "trials": rows,
        "best": best_trial(rows),
        "by_param": by_param(rows, spec.keys),
    }


def read_sweeps(store: RunStore) -> tuple[list[dict[str, Any]], list[str]]:
    """(every sweep document of the store, newest first; why unreadable files were skipped).
    A sweep marked running whose process is gone shows as crashed, as ``get_sweep`` says."""
    docs, problems = [], []
    for name in sweep_names(store):
        try:
            doc = get_sweep(store, name)
        except StoreError as exc:
            problems.append(str(exc))
            continue
        if not isinstance(doc.get("spec"), dict):
            problems.append(f"sweep file {sweep_path(store, name)} is not a sweep document")
            continue
        docs.append({**doc, "name": name})
    docs.sort(key=lambda d: str(d.get("created") or ""), reverse=True)
    return docs, problems


def planned_trials(doc: dict[str, Any]) -> int | None:
    value = (doc.get("spec") or {}).get("trials")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def list_sweeps(store: RunStore, runs: Sequence[Run] | None = None) -> list[dict[str, Any]]:
    """One row per sweep of the store, newest first (``runs``: the run documents, when the
    caller holds them already)."""
    runs = store.list_runs() if runs is None else runs
    docs, problems = read_sweeps(store)
    store.warnings.extend(problems)
    rows = []
    for doc in docs:
        trials = rows_from_runs(runs, doc["name"])
        counts = status_counts(trials)
        best = best_trial(trials)
        rows.append(
            {
                "name": doc["name"],
                "mode": doc.get("mode"),
                "preset": doc.get("preset"),
                "status": doc.get("status"),
                "planned": planned_trials(doc),
                "trials": len(trials),
                "finished": counts.get("finished", 0),
                "running": counts.get("queued", 0) + counts.get("running", 0),
                "best_val_acc": best["val_acc"] if best else None,
                "created": doc.get("created"),
                "message": doc.get("message", ""),
            }
        )
    return rows
