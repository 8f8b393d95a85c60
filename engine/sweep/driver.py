"""The sweep process: keeps ``parallel`` trials training, one detached run each, and the study
informed.

``run_sweep`` keeps ``parallel`` trials going (one per GPU by default, each with its
``CUDA_VISIBLE_DEVICES``), follows their metrics.jsonl, reports each epoch's val_acc to the
study and, in a search, stops trials the study's MedianPruner finds hopeless. The study is the
queue, not a scheduler of ours: a trial is ``ask``-ed from it and ``tell``-ed when its run ends
(finished: its best val_acc; failed: FAIL; pruned: PRUNED). A trial whose run is stopped or
crashed stays RUNNING in the study, owned by this machine's run store, and is resumed when the
sweep starts again; runs still alive are adopted, not started twice. Several machines share
one study through a shared storage URL (``--join``; docs/SCALE.md).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import os
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import TrialState

from engine import provenance
from engine.alerts import mark_crashed
from engine.config import from_dict
from engine.errors import ConfigError, StoreError
from engine.lifecycle import launch_detached
from engine.procs import StopFlag, is_alive, owner_lock, this_host
from engine.records import SCHEMA, RunRecord, SweepLink
from engine.store import RunStore
from engine.sweep.docs import (
    get_sweep,
    now,
    read_doc,
    resume_message,
    sweep_path,
    sweep_storage,
    update_doc,
)
from engine.sweep.events import (
    SweepEnded,
    SweepEvent,
    TrialEnded,
    TrialEpoch,
    TrialPruned,
    TrialStarted,
)
from engine.sweep.report import OBJECTIVE, objective, was_pruned
from engine.sweep.spec import SweepSpec
from engine.sweep.study import distributions, open_study

ABANDON_S = 60.0  # a trial with no owner this long after ask() was orphaned by a kill
POLL_S = 0.5
FINAL = ("finished", "diverged", "failed")  # run statuses that end a trial for good


def visible_gpus() -> list[str]:
    """The GPUs trials may use: CUDA_VISIBLE_DEVICES when set, else every CUDA device."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d.strip() for d in env.split(",") if d.strip() and d.strip() != "-1"]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except Exception:
        return []


def device_slots(spec: SweepSpec, parallel: int | None) -> list[dict[str, str] | None]:
    """One environment per concurrent trial: on GPUs each slot gets its own device(s) through
    CUDA_VISIBLE_DEVICES (``train.devices`` of them); on the CPU one slot unless asked."""
    train = spec.base.get("train", {})
    device = str(train.get("device", "auto"))
    per_trial = max(1, int(train.get("devices", 1)))
    gpus = visible_gpus() if device == "auto" or device.startswith("cuda") else []
    if not gpus:
        return [None] * max(1, parallel or 1)
    groups = [gpus[i : i + per_trial] for i in range(0, len(gpus) - per_trial + 1, per_trial)]
    groups = groups or [gpus]
    count = parallel or len(groups)
    return [
        dict(os.environ, CUDA_VISIBLE_DEVICES=",".join(groups[i % len(groups)]))
        for i in range(count)
    ]


@dataclass
class _Active:
    trial: int
    run_id: str
    pid: int
    child: bool  # started by this process (reaped with waitpid) or adopted
    slot: int | None
    reader: Any
    pruned: bool = False
    epochs: set[int] = field(default_factory=set)  # reported (a resume rewrites the file)


class _Driver:
    def __init__(
        self,
        store: RunStore,
        spec: SweepSpec,
        study: optuna.Study,
        slots: list[dict[str, str] | None],
        emit: Callable[[SweepEvent], None],
    ) -> None:
        self.store, self.spec, self.study, self.slots, self.emit = store, spec, study, slots, emit
        self.worker = f"{this_host()}:{store.root.resolve()}"
        self.active: dict[str, _Active] = {}
        self.pending: list[str] = []  # runs to resume, in trial order
        self.attempted: set[str] = set()  # runs started by this process: never twice
        self.distributions = distributions(spec)
        self.rng = random.Random()

    # ------------------------------------------------------------ study views

    def _trials(self) -> list[optuna.trial.FrozenTrial]:
        return self.study.get_trials(deepcopy=False)

    def _run(self, run_id: str) -> RunRecord:
        return RunRecord.from_json(self.store.get(run_id))

    def _runs(self) -> dict[int, RunRecord]:
        """This sweep's trial runs in this store, by trial number."""
        out = {}
        for doc in self.store.list_runs():
            record = RunRecord.from_json(doc)
            link = record.sweep
            if link is not None and link.name == self.spec.name and link.trial is not None:
                out[link.trial] = record
        return out

    @staticmethod
    def _counts(t: optuna.trial.FrozenTrial) -> bool:
        """A trial that takes a place in the sweep (an abandoned orphan does not)."""
        return not t.user_attrs.get("abandoned")

    def _orphans(self, trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
        return [
            t
            for t in trials
            if t.state == TrialState.RUNNING and "worker" not in t.user_attrs and self._counts(t)
        ]

    def _more_trials(self, trials: list[optuna.trial.FrozenTrial]) -> bool:
        if any(t.state == TrialState.WAITING for t in trials):
            return True
        if self.spec.mode == "search":
            return sum(1 for t in trials if self._counts(t)) < self.spec.trials
        return bool(self._remaining_points(trials))

    def _remaining_points(self, trials: list[optuna.trial.FrozenTrial]) -> list[dict[str, Any]]:
        covered = {_point_key(t.params) for t in trials if self._counts(t) and t.params}
        return [p for p in self.spec.grid_points() if _point_key(p) not in covered]

    # ------------------------------------------------------------ start-up

    def reconcile(self) -> None:
        """Bring the study and the store into agreement after an earlier process was killed:
        tell the study how ended runs ended, create the run of a trial asked but never
        recorded, give up trials orphaned between ask() and the owner mark; queue stopped or
        crashed trials for resuming and adopt those still training."""
        runs = self._runs()
        for t in self._trials():
            if t.state != TrialState.RUNNING:
                continue
            owner = t.user_attrs.get("worker")
            if owner is None:
                self._abandon_if_stale(t)
                continue
            if owner != self.worker:
                continue
            record = runs.get(t.number)
            if record is None:
                if "run_id" in t.user_attrs:
                    self._tell(t.number, "fail", f"its run {t.user_attrs['run_id']} was deleted")
                    continue
                record = self._create_run(t.number, dict(t.params))
                if record is None:
                    continue
            record = self._run(record.id)
            if record.active and is_alive(record.owner):
                self._adopt(t.number, record)
            elif self._is_final(record):
                self._conclude(t.number, record)
            else:
                self.pending.append(record.id)

    def _abandon_if_stale(self, t: optuna.trial.FrozenTrial) -> None:
        started = t.datetime_start
        if started is None or (dt.datetime.now() - started).total_seconds() < ABANDON_S:
            return
        self.study._storage.set_trial_user_attr(t._trial_id, "abandoned", True)
        self._tell(t.number, "fail", "abandoned: its sweep process was killed before it began")

    def _adopt(self, number: int, record: RunRecord) -> None:
        reader = self.store.metrics_reader(record.id)
        self.active[record.id] = _Active(number, record.id, record.pid or 0, False, None, reader)
        self.emit(TrialStarted(number, record.id, _params(record), True, adopted=True))

    # ------------------------------------------------------------ trials

    def _free_slot(self) -> int | None:
        if len(self.active) >= len(self.slots):
            return None
        used = {a.slot for a in self.active.values()}
        return next(i for i in range(len(self.slots)) if i not in used)

    def _ask(self) -> optuna.trial.Trial | None:
        """The next trial from the study (None: the grid ran out meanwhile)."""
        if self.spec.mode == "search":
            trial = self.study.ask(self.distributions)
            trial.set_user_attr("worker", self.worker)
            return trial
        while True:
            trials = self._trials()
            if not any(t.state == TrialState.WAITING for t in trials):
                remaining = self._remaining_points(trials)
                if not remaining:
                    return None
                # A random point: workers sharing the study rarely pick the same one. It is
                # enqueued with its owner, so a kill right after ask() leaves nothing unowned.
                point = self.rng.choice(remaining)
                self.study.enqueue_trial(point, user_attrs={"worker": self.worker, "queued": True})
            trial = self.study.ask(self.distributions)
            trial.set_user_attr("worker", self.worker)
            if trial.user_attrs.get("queued"):
                return trial
            # another worker took the queued point: this one would be a random draw
            trial.set_user_attr("abandoned", True)
            self.study.tell(trial, state=TrialState.FAIL)

    def _create_run(self, number: int, params: dict[str, Any]) -> RunRecord | None:
        """The run of trial ``number``; a config the trial makes invalid is recorded as a
        failed run (the sweep goes on)."""
        config = self.spec.config_dict(params)
        error = ""
        try:
            config = from_dict(config).to_dict()
        except ConfigError as exc:
            error = str(exc)
        link = SweepLink(self.spec.name, number, dict(params))
        fields, diff = provenance.collect(command=self._command())
        doc = self.store.create_run(
            config,
            name=f"{self.spec.name}-{number}",
            preset=self.spec.preset,
            extra={"schema": SCHEMA, "sweep": link.to_json(), "provenance": fields},
        )
        doc = provenance.record_diff(self.store, doc, diff)
        self.study._storage.set_trial_user_attr(self._trial_id(number), "run_id", doc["id"])
        if error:
            doc = self.store.set_status(doc["id"], "failed", f"the trial's config: {error}")
            self._conclude(number, RunRecord.from_json(doc))
            return None
        return RunRecord.from_json(doc)

    def _command(self) -> str | None:
        """The command line that created the sweep (None: this process's)."""
        try:
            command = read_doc(self.store, self.spec.name).get("command")
        except StoreError:
            return None
        return command if isinstance(command, str) else None

    def _trial_id(self, number: int) -> int:
        for t in self._trials():
            if t.number == number:
                return int(t._trial_id)
        raise StoreError(f"trial {number} is not in study {self.spec.name}")

    def _start(self, run_id: str, slot: int, resumed: bool) -> None:
        record = self._run(run_id)
        number = record.sweep.trial if record.sweep and record.sweep.trial is not None else -1
        self.attempted.add(run_id)
        try:
            pid = launch_detached(self.store, run_id, env=self.slots[slot])
        except (OSError, StoreError) as exc:
            self.store.set_status(run_id, "failed", f"could not start the trial: {exc}")
            self._conclude(number, self._run(run_id))
            return
        reader = self.store.metrics_reader(run_id)
        self.active[run_id] = _Active(number, run_id, pid, True, slot, reader)
        self.emit(TrialStarted(number, run_id, _params(record), resumed))

    def _new_trial(self, slot: int) -> None:
        trial = self._ask()
        if trial is None:
            return
        record = self._create_run(trial.number, dict(trial.params))
        if record is not None:
            self._start(record.id, slot, resumed=False)

    # ------------------------------------------------------------ following trials

    def _alive(self, a: _Active) -> bool:
        if a.child:
            try:
                pid, _ = os.waitpid(a.pid, os.WNOHANG)
            except ChildProcessError:  # reaped already (subprocess reaps orphaned Popens)
                return False
            return pid == 0
        return self.store.is_alive(self.store.get(a.run_id))

    def poll(self) -> None:
        for run_id, a in list(self.active.items()):
            batch = a.reader.poll()
            epochs = [m for m in batch.records if m.get("kind") == "epoch"]
            for m in epochs:
                self._report(a, m)
            if not self._alive(a):
                del self.active[run_id]
                self._finish(a)

    def _report(self, a: _Active, m: dict[str, Any]) -> None:
        """Report an epoch's val_acc to the trial (once per epoch, also after a resume)."""
        epoch, value = int(m["epoch"]), m.get(OBJECTIVE)
        if epoch in a.epochs or not isinstance(value, int | float) or not math.isfinite(value):
            return
        a.epochs.add(epoch)
        self.emit(TrialEpoch(a.trial, a.run_id, epoch, float(value)))
        try:
            trial_id = self._trial_id(a.trial)
        except StoreError:
            return
        frozen = self.study._storage.get_trial(trial_id)
        if frozen.state != optuna.trial.TrialState.RUNNING:
            return
        trial = optuna.trial.Trial(self.study, trial_id)
        if epoch not in frozen.intermediate_values:
            trial.report(float(value), epoch)
        if self.spec.prune and not a.pruned and trial.should_prune():
            self._prune(a, epoch, float(value))

    def _prune(self, a: _Active, epoch: int, value: float) -> None:
        median = _median_at(self._trials(), epoch, a.trial)
        message = (
            f"pruned by sweep {self.spec.name} after epoch {epoch}: val_acc {value:.4f} "
            + (f"below the median {median:.4f} of earlier trials" if median is not None else "")
        ).strip()
        a.pruned = True
        self._set_link(a.run_id, pruned=True, pruned_message=message)  # first: survives a kill
        self._signal(a)
        self.emit(TrialPruned(a.trial, a.run_id, epoch, message))

    def _signal(self, a: _Active) -> None:
        try:
            os.kill(a.pid, signal.SIGTERM)  # the trainer finishes the step and checkpoints
        except ProcessLookupError:
            pass

    def _finish(self, a: _Active) -> None:
        if self._run(a.run_id).active:
            mark_crashed(self.store, a.run_id)  # and the user's alert, once
        self._conclude(a.trial, self._run(a.run_id))

    def _is_final(self, record: RunRecord) -> bool:
        return record.status in FINAL or was_pruned(record)

    def _set_link(self, run_id: str, **changes: Any) -> None:
        """Change the trial's sweep link (only the sweep's process writes it)."""
        link = self._run(run_id).sweep or SweepLink(self.spec.name)
        self.store.update(run_id, sweep=dataclasses.replace(link, **changes).to_json())

    def _conclude(self, number: int, record: RunRecord) -> None:
        """Tell the study how trial ``number``'s run ended; stopped and crashed runs stay
        open (resumed when the sweep starts again)."""
        status, message = record.status, record.message
        value = objective(record)
        link = record.sweep
        if status == "finished" and link is not None and link.pruned:
            self._set_link(record.id, pruned=False)  # it ended before the stop arrived
        if status in ("finished", "diverged"):
            self._tell(number, "complete", value=value if value is not None else 0.0)
        elif status == "failed":
            self._tell(number, "fail", message)
        elif was_pruned(record):
            pruned = link.pruned_message if link is not None else ""
            message = pruned or f"pruned by sweep {self.spec.name}"
            if record.message != message:
                self.store.update(record.id, message=message)
            self._tell(number, "pruned")
            status = "pruned"
        self.emit(TrialEnded(number, record.id, status, value, message))

    def _tell(self, number: int, how: str, note: str = "", value: float = 0.0) -> None:
        if note:
            try:
                self.study._storage.set_trial_user_attr(self._trial_id(number), "note", note)
            except Exception:  # the trial is finished already
                pass
        if how == "complete":
            self.study.tell(number, value, skip_if_finished=True)
        else:
            state = TrialState.FAIL if how == "fail" else TrialState.PRUNED
            self.study.tell(number, state=state, skip_if_finished=True)

    # ------------------------------------------------------------ the loop

    def run(self, stop: Callable[[], bool], poll_s: float = POLL_S) -> None:
        self.reconcile()
        stopping = False
        while True:
            if stop() and not stopping:
                stopping = True
                for a in self.active.values():
                    self._signal(a)
            self.poll()
            if stopping:
                if not self.active or getattr(stop, "count", 1) > 1:
                    return
                time.sleep(poll_s)
                continue
            trials = self._trials()
            self._abandon_orphans(trials)
            while (slot := self._free_slot()) is not None:
                if self.pending:
                    run_id = self.pending.pop(0)
                    if run_id not in self.attempted:
                        self._start(run_id, slot, resumed=True)
                    continue
                if not self._more_trials(self._trials()):
                    break
                self._new_trial(slot)
            if not self.active and not self.pending:
                trials = self._trials()
                if not self._more_trials(trials) and not self._orphans(trials):
                    return
            time.sleep(poll_s)

    def _abandon_orphans(self, trials: list[optuna.trial.FrozenTrial]) -> None:
        for t in self._orphans(trials):
            self._abandon_if_stale(t)

    def outstanding(self) -> list[int]:
        """Trials of this worker still open in the study (stopped or crashed runs)."""
        return [
            t.number
            for t in self._trials()
            if t.state == TrialState.RUNNING and t.user_attrs.get("worker") == self.worker
        ]


def _point_key(params: dict[str, Any]) -> str:
    return json.dumps(sorted(params.items()), default=str)


def _median_at(trials: list[Any], epoch: int, exclude: int) -> float | None:
    values = sorted(
        t.intermediate_values[epoch]
        for t in trials
        if t.number != exclude and epoch in t.intermediate_values
    )
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def run_sweep(
    store: RunStore,
    name: str,
    *,
    parallel: int | None = None,
    on_event: Callable[[SweepEvent], None] | None = None,
    stop: StopFlag | None = None,
    poll_s: float = POLL_S,
) -> dict[str, Any]:
    """Run (or continue) sweep ``name`` until every trial has ended or a stop is requested;
    returns its final document. One sweep process per run store at a time (a lock)."""
    doc = get_sweep(store, name)
    spec = SweepSpec.from_dict(doc["spec"])
    if parallel is not None and parallel < 1:
        raise StoreError(f"--parallel: must be at least 1, got {parallel}")
    lock = owner_lock(
        sweep_path(store, name, ".lock"),
        f"sweep {name}",
        timeout=0,
        busy=f"sweep {name} is already running from this run store (pid {doc.get('pid')}); "
        "use --parallel for more trials at once, or stop it with "
        f"`resnet-tui sweeps stop {name}`",
    )
    lock.acquire()
    emit = on_event or (lambda _e: None)
    stop = stop or StopFlag()
    stop.install()
    try:
        study = open_study(spec, sweep_storage(store, doc))
        slots = device_slots(spec, parallel)
        update_doc(
            store,
            name,
            status="running",
            pid=os.getpid(),
            started=doc.get("started") or now(),
            finished=None,
            message="",
            parallel=len(slots),
        )
        driver = _Driver(store, spec, study, slots, emit)
        try:
            driver.run(stop, poll_s)
        except BaseException as exc:
            if not isinstance(exc, KeyboardInterrupt | SystemExit):
                update_doc(store, name, status="crashed", message=f"the sweep failed: {exc!r}")
            raise
        left = driver.outstanding()
        if stop():
            status = "stopped"
            message = resume_message(name, "was stopped") + (
                f" ({len(left)} trial{'s' if len(left) > 1 else ''} to resume)" if left else ""
            )
        elif left:
            status = "incomplete"
            message = (
                f"trials {', '.join(map(str, left))} stopped or crashed; "
                f"resume them with `resnet-tui sweep --resume {name}`"
            )
        else:
            status, message = "finished", f"{spec.trials} trials"
        emit(SweepEnded(status, message))
        return update_doc(store, name, status=status, message=message, finished=now())
    finally:
        lock.release()


def _params(record: RunRecord) -> dict[str, Any]:
    return dict(record.sweep.params) if record.sweep is not None else {}
