"""Experiments over several runs through the engine API: sweeps, ablations, stacked ensembles.

Torch- and optuna-free: what the console does in its own process. Starting a sweep or an
ablation needs the registries (and a sweep its Optuna study), so those verbs are
``engine.api.compute``'s (the console reaches them through its helper process); everything
else (reading, stopping, resuming, deleting, and a whole stacked ensemble) is here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine import lifecycle
from engine.ablation import groups
from engine.api.types import Launched, StackRequest, SweepRequest
from engine.config import RunConfig
from engine.errors import UserError
from engine.procs import spawn_detached
from engine.records import RunRecord, SweepRecord
from engine.stacking import plan as stacking
from engine.store import LOG_FILE, RunStore
from engine.sweep import docs as sweep_docs
from engine.sweep import report as sweep_report
from engine.sweep.analysis import ParallelCoordinates, parallel_coordinates
from engine.sweep.spec import SweepSpec
from engine.sweep.spec import plan_sweep as _plan_sweep

# ---------------------------------------------------------------- sweeps


def plan_sweep(request: SweepRequest) -> SweepSpec:
    """A sweep request parsed and checked (every grid point, both ends of every range), with
    its name; nothing is written. The registry names it sweeps are checked by
    ``compute.check_sweep``."""
    return _plan_sweep(
        request.preset,
        list(request.sets),
        grid=list(request.grid),
        ranges=list(request.ranges),
        choices=list(request.choices),
        search=request.search,
        name=request.name,
        prune=request.prune,
        prune_startup=request.prune_startup,
        seed=request.seed,
    )


def existing_sweep(store: RunStore, spec: SweepSpec) -> SweepRecord | None:
    """The sweep ``spec`` names when it was recorded already with the same request (starting
    it again continues it); a sweep of that name with another request is refused."""
    doc = sweep_docs.existing_sweep(store, spec)
    return SweepRecord.from_json(doc) if doc is not None else None


def resolve_sweep(store: RunStore, ref: str) -> str:
    return sweep_docs.resolve_sweep(store, ref)


def get_sweep(store: RunStore, ref: str) -> SweepRecord:
    """A sweep; one marked running whose process is gone reads as crashed."""
    return SweepRecord.from_json(sweep_docs.get_sweep(store, resolve_sweep(store, ref)))


def list_sweeps(store: RunStore, runs: list[RunRecord] | None = None) -> list[dict[str, Any]]:
    """One row per sweep of the store, newest first (``runs``: when the caller holds them)."""
    return sweep_report.list_sweeps(store, runs)


def sweep_summary(store: RunStore, ref: str) -> dict[str, Any]:
    """Everything a sweep view shows: its trials, the best one, accuracy per swept value."""
    return sweep_report.sweep_summary(store, resolve_sweep(store, ref))


def sweep_parallel(
    store: RunStore, ref: str, runs: list[RunRecord] | None = None
) -> ParallelCoordinates:
    """The sweep's finished trials as parallel coordinates: one line per trial over its swept
    keys (normalised to [0, 1]; log-scaled or categorical levels) and val accuracy, last
    (``runs``: the run records, when the caller holds them)."""
    name = resolve_sweep(store, ref)
    spec = sweep_docs.get_sweep(store, name)["spec"]
    rows = sweep_report.rows_from_runs(store.list_runs() if runs is None else runs, name)
    return parallel_coordinates(list(spec.get("params") or []), rows)


def stop_sweep(store: RunStore, ref: str) -> None:
    """SIGTERM the sweep's process: its trials stop at a checkpoint, the sweep is stopped."""
    sweep_docs.request_sweep_stop(store, resolve_sweep(store, ref))


def resume_sweep(store: RunStore, ref: str, parallel: int | None = None) -> Launched:
    """Continue a sweep that is not running or finished, in a detached process: finished
    trials are kept, stopped ones resume, the rest are started."""
    name = resolve_sweep(store, ref)
    sweep = get_sweep(store, name)
    if sweep.status in ("running", "finished"):
        raise UserError(f"sweep {name} is {sweep.status}: nothing to resume")
    pid = sweep_docs.launch_sweep_detached(store, name, parallel)
    return Launched(name, pid, log=str(sweep_docs.sweep_path(store, name, ".log")))


def delete_sweep(store: RunStore, ref: str, with_runs: bool = False) -> list[str]:
    """Remove a sweep (its trials stay as ordinary runs unless ``with_runs``); returns the
    deleted run ids."""
    return sweep_docs.delete_sweep(store, resolve_sweep(store, ref), with_runs)


# ---------------------------------------------------------------- ablations


def list_ablations(store: RunStore) -> list[dict[str, Any]]:
    """Every ablation group, newest first, with its base run's val accuracy."""
    return groups.list_groups(store)


def ablation_table(store: RunStore, group: str) -> list[dict[str, Any]]:
    """One row per run of a group (or a unique prefix of one): val and test accuracy and the
    differences to the base run."""
    return groups.ablation_table(store, group)


def resume_ablation(store: RunStore, group: str) -> Launched:
    """Train a group's unfinished runs one after another in a new queue process."""
    run_ids, pid = groups.resume_ablation(store, group)
    return Launched(group, pid, tuple(run_ids), str(store.run_dir(run_ids[0]) / "queue.log"))


# ---------------------------------------------------------------- stacked ensembles


@dataclass(frozen=True)
class StackPlan:
    """Runs that can be stacked, and the stacked run's config."""

    members: tuple[RunRecord, ...]
    config: RunConfig
    name: str


def plan_stack(store: RunStore, request: StackRequest) -> StackPlan:
    """The members (finished, on the same data and split, each with its best.pt) and the
    meta-classifier's config; refused with the reason otherwise. Writes nothing."""
    members = stacking.check_members(store, list(request.members))
    config = stacking.stack_config(members, list(request.sets))
    records = tuple(RunRecord.from_json(m) for m in members)
    return StackPlan(records, config, request.name)


def start_stack(store: RunStore, request: StackRequest) -> tuple[RunRecord, Launched]:
    """Record the stacked run (queued) and train it in a detached worker: it shows in the
    store at once and fails with the reason if a member cannot be read any more."""
    plan = plan_stack(store, request)
    doc = stacking.create_stacked_run(
        store, [m.to_json() for m in plan.members], plan.config, plan.name
    )
    command = lifecycle.worker_command(store.root, "stack", doc["id"])
    log = store.run_dir(doc["id"]) / LOG_FILE
    process = spawn_detached(command, log)
    lifecycle.record_launch(store, doc["id"], process.pid)
    return RunRecord.from_json(doc), Launched(doc["id"], process.pid, (doc["id"],), str(log))


def read_stack_report(store: RunStore, run_id: str) -> stacking.StackResult:
    """A finished stacked run's report: members beside the ensemble, contributions."""
    return stacking.StackResult.from_json(stacking.read_stacking(store, run_id))


# ---------------------------------------------------------------- the loader bench


def loader_bench_command(
    store: RunStore, preset: str, workers: str = "", sets: tuple[str, ...] = ()
) -> list[str]:
    """The process that times ``preset``'s data loader per ``num_workers`` value (seed 003's
    Table 2) and prints JSON lines: ``{"setup": {...}}``, then one row per measurement as it is
    made (``engine.loader_bench.stream``)."""
    args = ["bench-loader", preset]
    if workers:
        args += ["--workers", workers]
    for text in sets:
        args += ["--set", text]
    return lifecycle.worker_command(store.root, *args)
