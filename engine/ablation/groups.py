"""Ablations (seed 002): a base run and one run per removed component, everything else equal.

The runs of one ablation form a group: every run document carries ``group`` ("ablate-...") and
``ablation`` ("base", "relu", ...). This module records a planned group (``create_ablation``),
reads groups back as plain rows (``list_groups``, ``ablation_rows``: the differences to the
base) and starts or resumes a group's queue: one process (``python -m engine.worker queue``)
that trains the runs one after another. Torch-free: the console uses it in its own process;
``engine.ablation.plan`` checks a request against the model registry (torch).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine import provenance
from engine.config import RunConfig
from engine.errors import UserError
from engine.lifecycle import RESUMABLE, check_resumable, worker_command
from engine.procs import is_alive, owner_lock, spawn_detached
from engine.records import GROUP_PREFIX, SCHEMA, AblationLink, RunRecord
from engine.store import RunStore


class AblationError(UserError):
    """An ablation that cannot be run as asked."""


BASE = "base"


@dataclass(frozen=True)
class Component:
    name: str  # what --remove takes
    field: str  # the ModelConfig field that removes it
    removed: Any  # its value without the component
    description: str


COMPONENTS: dict[str, Component] = {
    c.name: c
    for c in (
        Component("relu", "act", "none", "every ReLU becomes the identity (model.act=none)"),
        Component("bn", "norm", "none", "every BatchNorm becomes the identity (model.norm=none)"),
        Component("skip", "skip", False, "no residual connections (model.skip=false)"),
    )
}


def list_components() -> list[Component]:
    """What ``--remove`` accepts, for forms."""
    return list(COMPONENTS.values())


@dataclass(frozen=True)
class PlannedRun:
    ablation: str  # "base" or the removed component
    config: RunConfig


def new_group_id() -> str:
    return f"{GROUP_PREFIX}{datetime.now():%Y%m%d-%H%M%S}-{os.urandom(2).hex()}"


def create_ablation(
    store: RunStore,
    planned: Sequence[PlannedRun],
    *,
    preset: str = "",
    name: str = "",
) -> tuple[str, list[str]]:
    """Record the planned runs as queued runs of a new group; returns (group, run ids)."""
    group = new_group_id()
    base_name = name or preset or planned[0].config.model.name
    ids = []
    fields, diff = provenance.collect(preset_file=provenance.preset_file(preset))
    for run in planned:
        label = base_name if run.ablation == BASE else f"{base_name}-no-{run.ablation}"
        link = AblationLink(group, run.ablation)
        doc = store.create_run(
            run.config.to_dict(),
            name=label,
            preset=preset,
            extra={"schema": SCHEMA, "ablation": link.to_json(), "provenance": fields},
        )
        provenance.record_diff(store, doc, diff)
        ids.append(str(doc["id"]))
    return group, ids


Runs = Sequence[RunRecord | Mapping[str, Any]]


def _records(runs: Runs) -> list[RunRecord]:
    return [r if isinstance(r, RunRecord) else RunRecord.from_json(r) for r in runs]


def _rank(record: RunRecord) -> tuple[int, str]:
    """Planned order: the base first, then the components as listed, then by creation."""
    order = [BASE, *COMPONENTS]
    label = record.ablation.removed if record.ablation else ""
    return (order.index(label) if label in order else len(order)), str(record.created)


def group_runs(store: RunStore, group: str) -> list[RunRecord]:
    """The runs of ``group`` (or a unique prefix of it), base first, in planned order."""
    records = [
        r for r in _records(store.list_runs()) if r.ablation and r.ablation.group.startswith(group)
    ]
    groups = sorted({r.ablation.group for r in records if r.ablation})
    if not records:
        raise AblationError(
            f"no ablation group '{group}' in {store.root}; see `resnet-tui ablate --list`"
        )
    if len(groups) > 1:
        raise AblationError(f"'{group}' matches {len(groups)} groups: {', '.join(groups)}")
    return sorted(records, key=_rank)


def list_groups(store: RunStore) -> list[dict[str, Any]]:
    """Every ablation group in the store, newest first: its name, preset, runs (base first:
    ablation label, status) and the base run's best val accuracy."""
    groups: dict[str, list[RunRecord]] = {}
    for record in _records(store.list_runs()):
        if record.ablation_group is not None:
            groups.setdefault(record.ablation_group, []).append(record)
    out: list[dict[str, Any]] = []
    for group, members in groups.items():
        rows = ablation_rows(members, group)
        base = next((r for r in rows if r["ablation"] == BASE), None)
        out.append(
            {
                "group": group,
                "preset": members[0].preset,
                "runs": len(rows),
                "removed": ", ".join(r["ablation"] for r in rows if r["ablation"] != BASE),
                "finished": sum(1 for r in rows if r["status"] == "finished"),
                "status": ", ".join(sorted({str(r["status"]) for r in rows})),
                "base_val_acc": base["val_acc"] if base else None,
            }
        )
    out.sort(key=lambda row: str(row["group"]), reverse=True)  # ablate-<time>-...: newest first
    return out


def ablation_rows(runs: Runs, group: str) -> list[dict[str, Any]]:
    """One row per run of ``group`` among ``runs`` (records or run documents), base first:
    its best val accuracy, test accuracy and both differences to the base run (None until
    both are known). The console calls this on the runs it already holds."""
    records = sorted(
        (r for r in _records(runs) if r.ablation and r.ablation.group == group), key=_rank
    )
    base = next((r for r in records if r.ablation and r.ablation.removed == BASE), None)
    base_val, base_test = _val(base), _test(base)
    rows = []
    for record in records:
        val, test = _val(record), _test(record)
        label = record.ablation.removed if record.ablation else "?"
        rows.append(
            {
                "ablation": label,
                "removed": "-" if label == BASE else label,
                "id": record.id,
                "name": record.name,
                "group": group,
                "status": record.status,
                "epoch": record.epoch,
                "epochs": record.epochs,
                "best_epoch": record.best.epoch if record.best else None,
                "val_acc": val,
                "test_acc": test,
                "d_val_acc": val - base_val if val is not None and base_val is not None else None,
                "d_test_acc": (
                    test - base_test if test is not None and base_test is not None else None
                ),
            }
        )
    return rows


def _val(record: RunRecord | None) -> float | None:
    return record.best.val_acc if record is not None and record.best else None


def _test(record: RunRecord | None) -> float | None:
    return record.test.acc if record is not None and record.test else None


def ablation_table(store: RunStore, group: str) -> list[dict[str, Any]]:
    """``ablation_rows`` of ``group`` (or a unique prefix of it) in this store."""
    records = group_runs(store, group)
    first = records[0].ablation
    return ablation_rows(records, first.group if first else group)


def resume_ablation(store: RunStore, group: str) -> tuple[list[str], int]:
    """Train the group's runs that did not finish (stopped: a stopped queue marks the runs it
    had not started so; crashed: a killed queue) one after another in a new queue process, in
    the planned order. Returns (those runs, the queue's pid). Refused when one of the group's
    runs is still training (its queue is alive) or when there is nothing left to train.

    Every run is checked before any is changed, under a lock of the group, so two resumes at
    once start one queue; if the queue cannot be started, the runs get their statuses back."""
    first = group_runs(store, group)[0].ablation
    name = first.group if first else group
    with owner_lock(
        store.root / f".{name}.lock",
        f"ablation {name}",
        busy=f"ablation {name} is being resumed by another process",
    ):
        docs = group_runs(store, name)  # read again under the lock
        live = [r.id for r in docs if r.active and is_alive(r.owner)]
        if live:
            raise AblationError(
                f"ablation {name}: run {live[0]} is still training; stop it first (x)"
            )
        todo = [r for r in docs if r.status in RESUMABLE]
        if not todo:
            raise AblationError(f"ablation {name}: nothing to resume")
        for record in todo:
            check_resumable(store, record.id)
        run_ids = [r.id for r in todo]
        for run_id in run_ids:
            store.set_status(run_id, "queued", "queued again: the ablation resumes", pid=None)
        try:
            pid = launch_queue_detached(store, run_ids)
        except OSError as exc:
            for record in todo:
                store.set_status(record.id, record.status, record.message, pid=None)
            raise AblationError(
                f"ablation {name}: cannot start its queue: {exc.strerror or exc}"
            ) from exc
    return run_ids, pid


def launch_queue_detached(store: RunStore, run_ids: Sequence[str]) -> int:
    """Start one process, in its own session, that trains ``run_ids`` one after another
    (``python -m engine.worker queue``); every queued run records its pid, so a dead queue shows its
    runs as crashed. Output goes to the first run's folder (queue.log)."""
    command = worker_command(store.root, "queue", *run_ids)
    log_path = store.run_dir(run_ids[0]) / "queue.log"

    process = spawn_detached(command, log_path)
    for run_id in run_ids:
        store.update(run_id, pid=process.pid)
    return process.pid
