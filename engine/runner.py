"""One training run as a process: the store, signals, logs and checkpoints around ``fit``.

``execute`` is what the trainer process runs (foreground or detached). It turns the
engine's events into store writes: one metrics line per epoch (and sparse step lines), an
index update per epoch, checkpoints, confusion.json, the final status. SIGINT/SIGTERM
finish the current step, checkpoint and mark the run stopped; SIGHUP is ignored, so a
dropped SSH link never stops a run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.config import RunConfig, from_dict
from engine.errors import CheckpointError, StoreError, UserError
from engine.store import RunStore

RESUMABLE = ("queued", "stopped", "crashed", "failed")


def now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class StopFlag:
    """Set by SIGINT/SIGTERM (or by a caller); the loop checks it after every step."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def __call__(self) -> bool:
        return self.event.is_set()

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.event.set())
        if hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, signal.SIG_IGN)


class RunLog:
    """Appends timestamped lines to the run's train.log."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, line: str) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(f"{dt.datetime.now():%H:%M:%S} {line}\n")


def check_resumable(store: RunStore, run_id: str) -> dict[str, Any]:
    doc = store.get(run_id)
    status = doc["status"]
    if status == "finished":
        raise StoreError(
            f"run {run_id} already finished; start a new run from its config "
            f"(`resnet-tui train {store.run_dir(run_id) / 'config.toml'}`)"
        )
    if status == "diverged":
        raise StoreError(
            f"run {run_id} diverged; resuming would diverge again: start a new run "
            "with a lower optim.lr"
        )
    launched_as_me = doc.get("pid") == os.getpid()  # launch_detached recorded our pid
    if not launched_as_me and (
        status == "running" or (status == "queued" and doc.get("pid") and store.is_alive(doc))
    ):
        raise StoreError(f"run {run_id} is running (pid {doc.get('pid')}); stop it first")
    if status not in RESUMABLE:
        raise StoreError(f"run {run_id} is {status} and cannot be resumed")
    return doc


def _config_of(doc: dict[str, Any]) -> RunConfig:
    return from_dict(doc["config"])


def execute(
    store: RunStore,
    run_id: str,
    on_event: Callable[[Any], None] | None = None,
    stop: StopFlag | None = None,
) -> dict[str, Any]:
    """Train run ``run_id`` (new, stopped or crashed) to its end; returns the final document.

    User errors (bad data root, corrupt checkpoint, ...) end the run as ``failed`` with the
    message and are re-raised for the caller to print.
    """
    doc = check_resumable(store, run_id)
    run_dir = store.run_dir(run_id)
    log = RunLog(run_dir / "train.log")
    stop = stop or StopFlag()
    stop.install()
    store.update(
        run_id,
        status="running",
        pid=os.getpid(),
        host=socket.gethostname(),
        started=doc.get("started") or now(),
        finished=None,
        message="",
        **store.process_identity(os.getpid()),
    )
    resumed = doc["status"] != "queued" or (run_dir / "last.pt").exists()
    log(f"{'resuming' if resumed else 'starting'} run {run_id} (pid {os.getpid()})")
    try:
        from engine.trainer import EpochDone, FitDone, FitStarted, StepDone, Trainer

        config = _config_of(doc)
        trainer = Trainer(config)
        if resumed:
            _restore(trainer, store, run_id, run_dir, log)
        store.update(
            run_id, device=str(trainer.device), params=trainer.params, classes=trainer.classes
        )

        def handle(event: Any) -> None:
            if isinstance(event, FitStarted):
                log(
                    f"{event.params:,} params on {event.device}; {event.train_size} train / "
                    f"{event.val_size} val images; epochs {event.start_epoch + 1}..{event.epochs}"
                )
            elif isinstance(event, StepDone) and event.loss is not None:
                store.append_metrics(
                    run_id,
                    {
                        "kind": "step",
                        "epoch": event.epoch,
                        "step": event.step,
                        "loss": event.loss,
                        "lr": event.lr,
                    },
                )
            elif isinstance(event, EpochDone):
                m = event.metrics
                store.append_metrics(
                    run_id, {"kind": "epoch", **m, "best_epoch": event.best_epoch, "time": now()}
                )
                store.update(
                    run_id,
                    epoch=event.epoch,
                    best=dict(trainer.best, best_epoch=trainer.best_epoch),
                    last=_rounded(m),
                )
                log(
                    f"epoch {event.epoch}/{config.train.epochs} train_loss {m['train_loss']:.4f} "
                    f"train_acc {m['train_acc']:.4f} val_loss {m['val_loss']:.4f} val_acc "
                    f"{m['val_acc']:.4f} lr {m['lr']:.3g} {m['seconds']:.1f}s"
                    + (" *" if event.improved else "")
                )
            elif isinstance(event, FitDone) and event.confusion:
                write_json_atomic(run_dir / "confusion.json", event.confusion)
            if on_event is not None:
                on_event(event)

        done = trainer.fit(handle, checkpoint_dir=run_dir, should_stop=stop)
        log(f"{done.status}: {done.message}")
        if done.test:
            log(
                f"test_loss {done.test['test_loss']:.4f} test_acc {done.test['test_acc']:.4f} "
                f"(best epoch {trainer.best_epoch})"
            )
        return store.set_status(
            run_id,
            done.status,
            done.message,
            epoch=done.epoch,
            best=done.best or dict(trainer.best, best_epoch=trainer.best_epoch),
            test=done.test,
        )
    except UserError as exc:
        log(f"failed: {exc}")
        store.set_status(run_id, "failed", str(exc))
        raise
    except MemoryError:
        message = "out of memory; lower data.batch_size (or use a smaller model) and resume"
        log(f"failed: {message}")
        store.set_status(run_id, "failed", message)
        raise UserError(message) from None
    except RuntimeError as exc:
        text = str(exc)
        if "out of memory" in text.lower():
            message = (
                "the device ran out of memory; lower data.batch_size (or use a smaller "
                "model, or train.amp=bf16 on CUDA) and resume"
            )
            log(f"failed: {message}")
            store.set_status(run_id, "failed", message)
            raise UserError(message) from None
        log("failed with an internal error:\n" + traceback.format_exc())
        store.set_status(
            run_id,
            "failed",
            f"internal error: {text.splitlines()[0] if text else exc!r}"
            f" (details in {run_dir / 'train.log'})",
        )
        raise
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            store.set_status(run_id, "stopped", "interrupted before training started")
            raise
        log("failed with an internal error:\n" + traceback.format_exc())
        store.set_status(
            run_id, "failed", f"internal error: {exc!r} (details in {run_dir / 'train.log'})"
        )
        raise


def _restore(
    trainer: Any, store: RunStore, run_id: str, run_dir: Path, log: Callable[[str], None]
) -> None:
    """Load last.pt, or best.pt when last.pt is missing or corrupt; drop metrics lines the
    checkpoint does not cover (a kill between the metrics line and the checkpoint)."""
    errors = []
    for name in ("last.pt", "best.pt"):
        path = run_dir / name
        if not path.exists():
            continue
        try:
            trainer.resume_from(path)
        except CheckpointError as exc:
            errors.append(str(exc))
            log(f"cannot resume from {name}: {exc}")
            continue
        if errors:
            log(f"resuming from {name} (epoch {trainer.epoch}) instead")
        store.truncate_metrics(run_id, trainer.epoch)
        return
    if errors:
        raise CheckpointError("no usable checkpoint: " + "; ".join(errors))
    store.truncate_metrics(run_id, 0)  # killed before the first checkpoint: start over


def _rounded(metrics: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 6) for k, v in metrics.items() if isinstance(v, int | float)}


# ---------------------------------------------------------------- process control


def launch_detached(store: RunStore, run_id: str, argv0: list[str] | None = None) -> int:
    """Start ``resnet-tui train --resume RUN`` in its own session, output to train.log.

    The child survives the parent's terminal closing (new session, no controlling tty,
    stdin from /dev/null), which is what keeps a run alive across a dropped SSH link.
    """
    import subprocess

    run_dir = store.run_dir(run_id)
    command = (argv0 or [sys.executable, "-m", "resnet_tui"]) + [
        "--runs-dir",
        str(store.root),
        "train",
        "--resume",
        run_id,
        "--quiet",
    ]
    with open(run_dir / "train.log", "ab") as out:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            cwd=os.getcwd(),
        )
    store.update(run_id, pid=process.pid, **store.process_identity(process.pid))
    return process.pid


def request_stop(store: RunStore, run_id: str) -> None:
    """Ask a running trainer to stop gracefully (SIGTERM: finish the step, checkpoint)."""
    doc = store.get(run_id)
    if doc["status"] not in ("running", "queued") or not doc.get("pid"):
        raise StoreError(f"run {run_id} is {doc['status']}, not running")
    if doc.get("host") != socket.gethostname():
        raise StoreError(f"run {run_id} runs on {doc.get('host')}; stop it there")
    try:
        os.kill(int(doc["pid"]), signal.SIGTERM)
    except ProcessLookupError as exc:
        raise StoreError(
            f"run {run_id}: its process {doc['pid']} is gone (crashed); "
            f"resume it with `resnet-tui train --resume {run_id}`"
        ) from exc
