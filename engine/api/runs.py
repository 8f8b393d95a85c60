"""Runs through the engine API: plan, create, start, stop, resume, delete, rename, read.

Everything here is torch-free, so the console calls it in its own process. The checks that need
torch (the model built for the data, the data itself, the device) are ``engine.api.compute``'s
``check_run``; a front-end calls ``plan_run``, then ``check_run`` (the console through its
helper process), then ``create_run`` and ``start_run`` (or trains in its own process).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine import ddp_env, lifecycle, provenance
from engine.api.types import Launched, RunRequest
from engine.config import RunConfig, check_dict, deep_merge
from engine.errors import ConfigError, PlanError, StoreError
from engine.presets import DEFAULT_PRESET, resolve, with_overrides
from engine.procs import is_alive as owner_alive
from engine.records import RunRecord
from engine.store import LOG_FILE, RunStore


def open_store(root: str | os.PathLike[str] | None = None) -> RunStore:
    """The run store at ``root`` (default: ``$RESNET_TUI_RUNS`` or ``./runs``)."""
    return RunStore(root)


@dataclass(frozen=True)
class RunPlan:
    """A run request, checked as far as needs no torch: its config and how it will train."""

    config: RunConfig
    preset: str
    name: str
    nnodes: int = 1
    rdzv_endpoint: str = ""
    preset_ref: str | None = None  # the preset it was resolved from, or a form started from
    from_form: bool = False  # a whole config from a form (the console's Launch form)

    @property
    def devices(self) -> int:
        return self.config.train.devices

    @property
    def distributed(self) -> bool:
        return self.devices > 1 or self.nnodes > 1 or bool(self.rdzv_endpoint)

    def worker_args(self) -> list[str]:
        """What ``engine.worker run`` needs to hear again for several machines."""
        if self.nnodes == 1 and not self.rdzv_endpoint:
            return []
        return ["--nnodes", str(self.nnodes), "--rdzv-endpoint", self.rdzv_endpoint]


def plan_run(request: RunRequest) -> RunPlan:
    """The config ``request`` describes, checked: its preset or form config, its overrides,
    its processes and machines. Every problem is raised at once (a PlanError of several, each
    a ConfigError with its key); nothing is written."""
    problems: list[ConfigError] = []
    try:
        ddp_env.check_topology(request.nnodes, request.rdzv_endpoint)
    except ConfigError as exc:
        problems.append(exc)
    sets = list(request.sets)
    if request.nproc is not None:
        if request.nproc < 1:
            problems.append(ConfigError(f"--nproc: must be at least 1, got {request.nproc}"))
        else:
            sets.append(f"train.devices={request.nproc}")
    config: RunConfig | None = None
    preset = request.preset or DEFAULT_PRESET
    try:
        if request.config is not None:
            config = _form_config(request.config, sets)
        else:
            config, preset = resolve(request.preset, sets)
    except PlanError as exc:
        problems += exc.problems
    except ConfigError as exc:
        problems.append(exc)
    if config is not None and not problems:
        try:
            ddp_env.check_global_batch(
                config.data.batch_size, config.train.devices * request.nnodes
            )
        except ConfigError as exc:
            problems.append(exc)
    if problems:
        raise problems[0] if len(problems) == 1 else PlanError(problems)
    assert config is not None
    form = request.config is not None
    ref = request.preset if form else (request.preset or DEFAULT_PRESET)
    return RunPlan(config, preset, request.name, request.nnodes, request.rdzv_endpoint, ref, form)


def _form_config(config: Any, sets: list[str]) -> RunConfig:
    """A whole config (a form's) with overrides over it: every key is checked (unlike a
    preset, a form's config has no defaults left to fill, but older forms may)."""
    check = check_dict(deep_merge(RunConfig().to_dict(), dict(config)))
    if check.errors:
        raise check.errors[0] if len(check.errors) == 1 else PlanError(check.errors)
    assert check.config is not None
    return with_overrides(check.config.to_dict(), sets) if sets else check.config


def create_run(store: RunStore, plan: RunPlan, *, owner_pid: int | None = None) -> RunRecord:
    """Record the planned run (queued). Its name is unique in the store: on a clash it gets
    a numbered suffix and the record's ``name_taken`` says which name was asked for.
    ``owner_pid``: the process that will train it (the run shows as crashed if it dies)."""
    extra: dict[str, Any] = {"schema": 2} | ({"pid": owner_pid} if owner_pid is not None else {})
    fields, diff = provenance.collect(
        command=provenance.LAUNCH_FORM_COMMAND if plan.from_form else None,
        preset_file=provenance.preset_file(plan.preset_ref),
    )
    extra["provenance"] = fields
    doc = store.create_run(plan.config.to_dict(), name=plan.name, preset=plan.preset, extra=extra)
    return RunRecord.from_json(provenance.record_diff(store, doc, diff))


def start_run(store: RunStore, run_id: str, plan: RunPlan | None = None) -> Launched:
    """Train a created (or resumable) run in a detached worker process of its own session."""
    args = plan.worker_args() if plan is not None else []
    pid = lifecycle.launch_detached(store, run_id, args=args)
    return Launched(run_id, pid, (run_id,), str(store.run_dir(run_id) / LOG_FILE))


def resume_run(
    store: RunStore, ref: str, *, nproc: int | None = None, nnodes: int = 1, rdzv: str = ""
) -> Launched:
    """Continue a stopped, crashed or failed run in a detached worker (its own config)."""
    run_id = resolve_run(store, ref)
    check_resume(store, run_id, nproc=nproc, nnodes=nnodes, rdzv=rdzv)
    args = [] if nnodes == 1 and not rdzv else ["--nnodes", str(nnodes), "--rdzv-endpoint", rdzv]
    pid = lifecycle.launch_detached(store, run_id, args=args)
    return Launched(run_id, pid, (run_id,), str(store.run_dir(run_id) / LOG_FILE))


def check_resume(
    store: RunStore, run_id: str, *, nproc: int | None = None, nnodes: int = 1, rdzv: str = ""
) -> RunRecord:
    """Refuse a resume its status forbids, or one with another number of processes."""
    ddp_env.check_topology(nnodes, rdzv)
    if nproc is not None and nproc < 1:
        raise ConfigError(f"--nproc: must be at least 1, got {nproc}")
    if nnodes == 1:  # on several machines the ranks claim the run (engine.lifecycle)
        lifecycle.check_resumable(store, run_id)
    record = get_run(store, run_id)
    devices = int(record.config.get("train", {}).get("devices", 1))
    if nproc is not None and nproc != devices:
        raise ConfigError(
            f"--nproc {nproc}: run {run_id} was set up with train.devices={devices}; a run "
            "keeps its config (start a new run for another number of processes)"
        )
    return record


def stop_run(store: RunStore, ref: str) -> RunRecord:
    """Ask a run's trainer to stop: it finishes the step, checkpoints and is marked stopped."""
    run_id = resolve_run(store, ref)
    lifecycle.request_stop(store, run_id)
    return get_run(store, run_id)


def delete_run(store: RunStore, ref: str) -> str:
    """Delete a run's folder and record; refused while it trains. Returns its id."""
    run_id = resolve_run(store, ref)
    record = get_run(store, run_id)
    if record.active and is_alive(record):
        raise StoreError(
            f"run {run_id} is {record.status}; stop it first (`resnet-tui runs stop {run_id}`)"
        )
    store.delete(run_id)
    return run_id


def rename_run(store: RunStore, ref: str, name: str) -> RunRecord:
    """Give a run another name (refused when another run has it: names are unique)."""
    return RunRecord.from_json(store.rename(resolve_run(store, ref), name))


def note_run(store: RunStore, ref: str, note: str) -> RunRecord:
    """Replace a run's free-text note ("" removes it)."""
    return RunRecord.from_json(store.set_note(resolve_run(store, ref), note))


def tag_run(
    store: RunStore, ref: str, tags: Iterable[str], remove: Iterable[str] = ()
) -> RunRecord:
    """Add tags to a run, and remove ``remove`` in the same write (every tag is checked
    before anything is written; safe against other processes tagging it at the same time)."""
    return RunRecord.from_json(store.change_tags(resolve_run(store, ref), add=tags, remove=remove))


def untag_run(store: RunStore, ref: str, tags: Iterable[str]) -> RunRecord:
    """Remove tags from a run (a tag it does not have is no error)."""
    return RunRecord.from_json(store.change_tags(resolve_run(store, ref), remove=tags))


def archive_run(store: RunStore, ref: str, archived: bool = True) -> RunRecord:
    """Hide a run from the default lists and views (``archived=False`` restores it)."""
    return RunRecord.from_json(store.set_archived(resolve_run(store, ref), archived))


def pin_run(store: RunStore, ref: str, pinned: bool = True) -> RunRecord:
    """Keep a run on top of the lists and make it Compare's baseline (or unpin it)."""
    return RunRecord.from_json(store.set_pinned(resolve_run(store, ref), pinned))


def resolve_run(store: RunStore, ref: str) -> str:
    """A run id from an id, a unique prefix of one, or a name."""
    return store.resolve(ref)


def get_run(store: RunStore, ref: str) -> RunRecord:
    """One run (by id, unique id prefix or name); a dead trainer's run reads as crashed."""
    return RunRecord.from_json(store.get(store.resolve(ref)))


def list_runs(store: RunStore) -> list[RunRecord]:
    """Every run, newest first; a dead trainer's run reads as crashed."""
    return store.list_records()


def newest_runs(store: RunStore, n: int) -> tuple[list[RunRecord], int]:
    """The ``n`` newest runs and how many the store holds: a first screen of a big store, read
    without the rest of its index where it can be (the whole index where it must)."""
    found = store.newest_records(n)
    if found is None:
        runs = store.list_records()
        return runs[:n], len(runs)
    return found


def is_alive(record: RunRecord) -> bool:
    """Whether the run's trainer still runs (another host's counts as alive)."""
    return owner_alive(record.owner)


def run_folder(store: RunStore, run_id: str) -> Path:
    return store.run_dir(run_id)
