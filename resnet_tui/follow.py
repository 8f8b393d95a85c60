"""What the console does off its UI thread to follow the run store.

``StoreFollower`` is polled about once a second by a worker thread of the app: it reads the runs
again only when the store's index changed (``engine.api.store_version``), re-checks the liveness
of active runs (a dead trainer shows as crashed), and tails the metrics of the runs being
watched and their live position inside the epoch. Each poll returns only what changed, so an
idle console does (and redraws) nothing.

Questions that need torch (the catalog of registries, a model's size, the checks before a run)
go to the engine's helper process instead (``engine.api.remote.EngineHelper``), so the console
itself never imports torch (first paint < 1 s, memory < 300 MB).

This module imports neither Textual nor torch.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace

from engine import api

# ---------------------------------------------------------------- following the store


@dataclass
class MetricsState:
    """The metrics of one watched run: its epoch lines, its (sparse) step lines, and where its
    trainer is inside the current epoch (``progress``, about once a second while it trains)."""

    epochs: list[api.EpochLine] = field(default_factory=list)
    steps: list[api.StepLine] = field(default_factory=list)
    progress: api.Progress | None = None
    samples: list[api.SysLine] = field(default_factory=list)  # the machine's load


@dataclass
class PollResult:
    """What changed since the previous poll (None / empty: nothing)."""

    runs: list[api.RunRecord] | None = None  # every run, newest first, when anything changed
    total: int | None = None  # set when ``runs`` is only the newest of this many (a first read)
    metrics: dict[str, MetricsState] = field(default_factory=dict)  # run id -> new full state
    warnings: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.runs is not None or bool(self.metrics) or bool(self.warnings)


MAX_STEP_LINES = 2000  # the Monitor only shows the recent ones
MAX_SAMPLES = 20_000  # the machine's load: a day at one sample every 5 s
# The first read of a store of more than BIG_STORE runs shows its FIRST_SCREEN newest at once,
# and the rest at the next poll (10,000 runs take half a second to read whole).
BIG_STORE = 2000
FIRST_SCREEN = 200


class StoreFollower:
    """Incremental reader of one run store (call ``poll`` from a single thread)."""

    def __init__(
        self, store: api.RunStore, big_store: int = BIG_STORE, first_screen: int = FIRST_SCREEN
    ) -> None:
        self.store = store
        self.big_store, self.first_screen = big_store, first_screen
        self._version: tuple[int, int, int] | None = None
        self._runs: list[api.RunRecord] | None = None
        self._alive: dict[str, bool] = {}
        self._watched: frozenset[str] = frozenset()
        self._readers: dict[str, api.MetricsReader] = {}
        self._metrics: dict[str, MetricsState] = {}
        self._warned = 0
        self._first = True
        self._reader_warned: dict[str, int] = {}
        self.wake = threading.Event()

    # -- called from the UI thread (plain attribute swaps: safe across threads)

    def watch(self, run_ids: set[str] | frozenset[str]) -> None:
        """Tail the metrics of these runs (and only these) from the next poll on."""
        new = frozenset(run_ids)
        if new != self._watched:
            self._watched = new
            self.wake.set()

    def invalidate(self) -> None:
        """Read the runs again at the next poll (after this process changed the store)."""
        self._version = None
        self.wake.set()

    # -- called from the worker thread

    def poll(self) -> PollResult:
        result = PollResult()
        if self._first:  # a big store: its newest runs now, every run at the next poll
            self._first = False
            newest, total = api.newest_runs(self.store, self.first_screen)
            if total > self.big_store:  # the caller wakes the next poll once these are shown
                result.runs, result.total = newest, total
                return result
        runs = self._poll_runs()
        if runs is not None:
            result.runs = runs
        for run_id in sorted(self._watched):
            state = self._poll_metrics(run_id)
            current = state or self._metrics.get(run_id)
            if current is not None:
                progress = api.read_progress(self.store, run_id)
                if progress != current.progress:
                    state = self._metrics[run_id] = replace(current, progress=progress)
            if state is not None:
                result.metrics[run_id] = state
        for run_id in list(self._readers):
            if run_id not in self._watched:
                del self._readers[run_id]
                self._metrics.pop(run_id, None)
        result.warnings = self._new_warnings()
        return result

    def metrics(self, run_id: str) -> MetricsState | None:
        """The last state of a watched run (None before its first poll)."""
        return self._metrics.get(run_id)

    def _poll_runs(self) -> list[api.RunRecord] | None:
        version = api.store_version(self.store)
        changed = version != self._version or self._runs is None
        if not changed:
            # The index is as it was; a trainer may still have died (-> crashed).
            for record in self._runs or []:
                if record.active and record.pid is not None:
                    if api.is_alive(record) != self._alive.get(record.id, True):
                        changed = True
                        break
        if not changed:
            return None
        try:
            runs = api.list_runs(self.store)
        except Exception as exc:  # an unreadable store must not end the follower
            self.store.warnings.append(f"cannot read the run store {self.store.root}: {exc}")
            return None
        self._version = api.store_version(self.store) if version is None else version
        self._alive = {r.id: api.is_alive(r) for r in runs if r.active and r.pid is not None}
        # A trainer killed outright cannot report itself: record its crash (once, whichever
        # process sees it first), which runs the user's alert command (engine.alerts).
        api.record_crashes(self.store, runs)
        if runs == self._runs:
            return None
        self._runs = runs
        return runs

    def _poll_metrics(self, run_id: str) -> MetricsState | None:
        reader = self._readers.get(run_id)
        fresh = reader is None
        if reader is None:
            try:
                reader = api.follow_metrics(self.store, run_id)
            except Exception:
                return None
            self._readers[run_id] = reader
        try:
            batch = reader.poll()
        except OSError as exc:
            self.store.warnings.append(f"cannot read the metrics of run {run_id}: {exc}")
            return None
        old = self._metrics.get(run_id)
        if not fresh and old is not None and not batch.records and not batch.reset:
            return None
        new = api.RunMetrics.from_lines(batch.records)
        keep = old is not None and not batch.reset
        epochs = [*(old.epochs if keep and old else []), *new.epochs]
        steps = [*(old.steps if keep and old else []), *new.steps]
        samples = [*(old.samples if keep and old else []), *new.samples]
        state = MetricsState(
            epochs,
            steps[-MAX_STEP_LINES:],
            old.progress if old else None,
            samples[-MAX_SAMPLES:],
        )
        self._metrics[run_id] = state
        return state

    def _new_warnings(self) -> list[str]:
        out = self.store.warnings[self._warned :]
        self._warned = len(self.store.warnings)
        for run_id, reader in self._readers.items():
            seen = self._reader_warned.get(run_id, 0)
            out.extend(reader.warnings[seen:])
            self._reader_warned[run_id] = len(reader.warnings)
        return out
