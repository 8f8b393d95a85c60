"""What the console does off its UI thread: follow the run store, and ask torch questions.

``StoreFollower`` is polled about once a second by a worker thread of the app: it re-reads the
index only when ``index.json`` was replaced, re-checks the liveness of active runs (a dead
trainer shows as crashed), and tails the metrics files of the runs being watched. Each poll
returns only what changed, so an idle console does (and redraws) nothing.

``Probe`` answers the questions that need torch (the model/dataset/optimizer registries, a
model's parameter count, its layer summary) from a helper process, ``python -m
resnet_tui.follow``: importing torch costs seconds and about 500 MB, which the console itself
must not pay (first paint < 1 s, memory < 300 MB). The helper ends when its stdin closes.

This module imports neither Textual nor torch.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

from engine.store import ACTIVE, CONFUSION_FILE, INDEX_FILE, LOG_FILE, MetricsReader, RunStore

# ---------------------------------------------------------------- following the store


@dataclass
class MetricsState:
    """The metrics of one watched run: its epoch lines and its (sparse) step lines."""

    epochs: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class PollResult:
    """What changed since the previous poll (None / empty: nothing)."""

    runs: list[dict[str, Any]] | None = None  # every run, newest first, when anything changed
    metrics: dict[str, MetricsState] = field(default_factory=dict)  # run id -> new full state
    warnings: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.runs is not None or bool(self.metrics) or bool(self.warnings)


MAX_STEP_LINES = 2000  # the Monitor only shows the recent ones


class StoreFollower:
    """Incremental reader of one run store (call ``poll`` from a single thread)."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self._index_stamp: tuple[int, int, int] | None = None
        self._runs: list[dict[str, Any]] | None = None
        self._alive: dict[str, bool] = {}
        self._watched: frozenset[str] = frozenset()
        self._readers: dict[str, MetricsReader] = {}
        self._metrics: dict[str, MetricsState] = {}
        self._warned = 0
        self._reader_warned: dict[str, int] = {}
        self.wake = threading.Event()
        self._launched: set[int] = set()

    # -- called from the UI thread (plain attribute swaps: safe across threads)

    def watch(self, run_ids: set[str] | frozenset[str]) -> None:
        """Tail the metrics of these runs (and only these) from the next poll on."""
        new = frozenset(run_ids)
        if new != self._watched:
            self._watched = new
            self.wake.set()

    def launched(self, pid: int) -> None:
        """A trainer this process started: reaped when it exits, so it leaves no zombie."""
        self._launched = self._launched | {pid}
        self.wake.set()

    def invalidate(self) -> None:
        """Re-read the index at the next poll (after this process changed the store)."""
        self._index_stamp = None
        self.wake.set()

    # -- called from the worker thread

    def poll(self) -> PollResult:
        result = PollResult()
        self._reap()
        runs = self._poll_index()
        if runs is not None:
            result.runs = runs
        for run_id in sorted(self._watched):
            state = self._poll_metrics(run_id)
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

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.store.root / INDEX_FILE)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _poll_index(self) -> list[dict[str, Any]] | None:
        stamp = self._stamp()
        changed = stamp != self._index_stamp or self._runs is None
        if not changed:
            # The index is as it was; a trainer may still have died (-> crashed).
            for doc in self._runs or []:
                if doc.get("status") in ACTIVE and doc.get("pid") is not None:
                    if self.store.is_alive(doc) != self._alive.get(doc["id"], True):
                        changed = True
                        break
        if not changed:
            return None
        try:
            runs = self.store.list_runs()
        except Exception as exc:  # an unreadable store must not end the follower
            self.store.warnings.append(f"cannot read the run store {self.store.root}: {exc}")
            return None
        self._index_stamp = self._stamp() if stamp is None else stamp
        self._alive = {
            d["id"]: self.store.is_alive(d)
            for d in runs
            if d.get("status") in ACTIVE and d.get("pid") is not None
        }
        if runs == self._runs:
            return None
        self._runs = runs
        return runs

    def _poll_metrics(self, run_id: str) -> MetricsState | None:
        reader = self._readers.get(run_id)
        fresh = reader is None
        if reader is None:
            try:
                reader = self.store.metrics_reader(run_id)
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
        epochs = [] if (old is None or batch.reset) else list(old.epochs)
        steps = [] if (old is None or batch.reset) else list(old.steps)
        for record in batch.records:
            kind = record.get("kind", "epoch")
            if kind == "epoch" and isinstance(record.get("epoch"), int | float):
                epochs.append(record)
            elif kind == "step":
                steps.append(record)
        state = MetricsState(epochs, steps[-MAX_STEP_LINES:])
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

    def _reap(self) -> None:
        for pid in list(self._launched):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                self._launched = self._launched - {pid}


# ---------------------------------------------------------------- one-shot reads


def read_confusion(store: RunStore, run_id: str) -> tuple[dict[str, Any] | None, str]:
    """(confusion.json, "") or (None, why not): never raises for a bad or missing file."""
    try:
        path = store.run_dir(run_id) / CONFUSION_FILE
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, "no confusion matrix yet (written when training ends)"
    except Exception as exc:
        return None, f"confusion.json is unreadable: {exc}"
    if not isinstance(data, dict) or not isinstance(data.get("classes"), list):
        return None, "confusion.json is unreadable: no class list"
    return data, ""


def read_log_tail(store: RunStore, run_id: str, lines: int = 200) -> str:
    try:
        path = store.run_dir(run_id) / LOG_FILE
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read()
    except FileNotFoundError:
        return "(no train.log yet)"
    except Exception as exc:
        return f"(train.log is unreadable: {exc})"
    text = data.decode("utf-8", "replace").splitlines()
    return "\n".join(text[-lines:])


def read_epochs(store: RunStore, run_id: str) -> list[dict[str, Any]]:
    """A run's epoch lines (damaged lines skipped; an unreadable file gives none)."""
    try:
        records, _ = store.read_metrics(run_id)
    except Exception:
        return []
    return [r for r in records if r.get("kind", "epoch") == "epoch" and "epoch" in r]


# ---------------------------------------------------------------- the torch helper process


class ProbeError(Exception):
    """The helper process could not answer (it failed to start, died, or timed out)."""


class Probe:
    """Client of the helper process; ``request`` blocks, so call it from worker threads."""

    def __init__(self, timeout_s: float = 120.0) -> None:
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._next_id = 0

    def _start(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", "1")  # never compete with a trainer for cores
        return subprocess.Popen(
            [sys.executable, "-m", "resnet_tui.follow"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=os.getcwd(),
            env=env,
            close_fds=True,
        )

    def request(self, op: str, **args: Any) -> dict[str, Any]:
        with self._lock:
            process = self._process
            if process is None or process.poll() is not None:
                try:
                    process = self._process = self._start()
                except OSError as exc:
                    raise ProbeError(f"cannot start the model helper: {exc}") from exc
            self._next_id += 1
            message = json.dumps({"id": self._next_id, "op": op, **args}) + "\n"
            assert process.stdin is not None and process.stdout is not None
            try:
                process.stdin.write(message.encode("utf-8"))
                process.stdin.flush()
            except OSError as exc:
                self._kill()
                raise ProbeError(f"the model helper is gone: {exc}") from exc
            ready, _, _ = select.select([process.stdout], [], [], self.timeout_s)
            if not ready:
                self._kill()
                raise ProbeError(f"the model helper did not answer in {self.timeout_s:.0f} s")
            line = process.stdout.readline()
            if not line:
                self._kill()
                raise ProbeError("the model helper ended unexpectedly")
            answer: dict[str, Any] = json.loads(line)
            return answer

    def _kill(self) -> None:
        if self._process is not None:
            with contextlib.suppress(OSError):
                self._process.kill()
                self._process.wait(5)
            self._process = None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self._process is not None and self._process.stdin is not None:
                self._process.stdin.close()  # EOF: the helper exits by itself
        process = self._process
        self._process = None
        if process is not None:
            try:
                process.wait(2)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    process.kill()
                    process.wait(2)


# -- the helper's side (runs in its own process; may import torch)


def _registries() -> dict[str, Any]:
    """Every registry and the config keys' metadata: ``engine.catalog``'s JSON object."""
    from engine.api.compute import catalog

    return catalog().to_json()


def _build(config_dict: dict[str, Any]) -> tuple[Any, Any, int]:
    """The model a form's config describes, built as the trainer builds it (one builder)."""
    from engine.config import from_dict
    from engine.data import dataset_info
    from engine.models.build import build_model
    from engine.optim import optimizer_info, schedule_info

    config = from_dict(config_dict)
    optimizer_info(config.optim.name)
    schedule_info(config.schedule.name)
    info = dataset_info(config.data)
    built = build_model(config, info)
    return built.model, info, built.input_size


def _answer(request: dict[str, Any]) -> dict[str, Any]:
    from engine.errors import UserError

    op = request.get("op")
    try:
        if op == "registries":
            return _registries()
        if op in ("check", "summary"):
            from engine.models import count_params, summary

            model, info, size = _build(request["config"])
            out: dict[str, Any] = {
                "params": count_params(model),
                "total_params": count_params(model, trainable_only=False),
                "channels": info.channels,
                "size": size,
                "num_classes": info.num_classes,
                "dataset": info.name,
            }
            if op == "summary":
                out["text"] = summary(model, info.channels, size)
            return out
        return {"error": f"unknown request {op!r}"}
    except UserError as exc:
        return {"error": str(exc), "key": getattr(exc, "key", None)}
    except Exception as exc:  # an architecture the builder cannot make is still the user's
        return {"error": f"{type(exc).__name__}: {exc}", "key": None}


def serve_probe() -> None:
    """Answer one JSON request per stdin line with one JSON line, until stdin closes."""
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout = sys.stderr  # whatever the engine prints must not corrupt the answers
    try:
        import torch

        torch.set_num_threads(1)
    except Exception:
        pass
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
        except ValueError:
            continue
        answer = _answer(request)
        answer["id"] = request.get("id")
        out.write(json.dumps(answer, default=str) + "\n")
        out.flush()


if __name__ == "__main__":
    serve_probe()
