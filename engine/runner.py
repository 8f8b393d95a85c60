"""One training run as a process: the store, signals, logs and checkpoints around ``fit``.

``execute`` is what the trainer process runs (foreground or detached). It turns the
engine's events into store writes: one metrics line per epoch (and sparse step lines), an
index update per epoch, checkpoints, confusion.json, the final status. SIGINT/SIGTERM
finish the current step, checkpoint and mark the run stopped; SIGHUP is ignored, so a
dropped SSH link never stops a run.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import socket
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine import ddp_env, provenance
from engine import device as devices
from engine.alerts import announce
from engine.config import RunConfig, from_dict
from engine.errors import CheckpointError, DataError, DiskFullError, StoreError, UserError
from engine.events import VAL_SKIPPED, EpochDone, FitDone, FitStarted, StepDone
from engine.lifecycle import refuse_unless_resumable, resume_hint
from engine.predictions_file import PREDICTIONS_FILE, write_predictions
from engine.procs import StopFlag
from engine.store import RunStore, _to_json, atomic_write
from engine.store.progress import ProgressWriter
from engine.sysmon import Sampler
from engine.trainer import Trainer


def now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def write_json_atomic(path: Path, data: Any) -> None:
    """Replace ``path`` with ``data`` as JSON, all at once (temp file, fsync, rename)."""
    atomic_write(path, _to_json(data))


class RunLog:
    """Appends timestamped lines to the run's train.log; a log that cannot be written (a full
    disk) never stops a run."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, line: str) -> None:
        try:
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(f"{dt.datetime.now():%H:%M:%S} {line}\n")
        except OSError:
            pass


def _config_of(doc: dict[str, Any]) -> RunConfig:
    return from_dict(doc["config"])


def describe_failure(exc: BaseException, run_id: str, config: RunConfig | None) -> str | None:
    """The one-line message for a failure a user can act on, or None for an internal error."""
    if _is_disk_full(exc):
        path = getattr(exc, "path", None) or getattr(exc, "filename", None) or "a file"
        kept = f"; the previous {Path(path).name} is intact" if path != "a file" else ""
        return f"disk full while writing {path}{kept}; free space and {resume_hint(run_id)}"
    if isinstance(exc, DataError):
        return f"{_first_line(exc)}; once the data is back, {resume_hint(run_id)}"
    if isinstance(exc, UserError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return (
            "out of host memory; lower data.batch_size or data.num_workers in a new run, "
            f"or free memory and {resume_hint(run_id)}"
        )
    if isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower():
        batch = config.data.batch_size if config is not None else None
        smaller = f" data.batch_size={max(1, batch // 2)}" if batch else " data.batch_size"
        return (
            f"the device ran out of memory{f' at batch size {batch}' if batch else ''}; start "
            f"a new run with a smaller batch (--set{smaller}, or a smaller model, or "
            f"train.amp=bf16 on CUDA), or {resume_hint(run_id)} once the GPU has more free "
            "memory"
        )
    if isinstance(exc, OSError):
        filename = str(exc.filename) if exc.filename else ""
        root = os.path.abspath(config.data.root) if config is not None else ""
        in_data = bool(root) and os.path.abspath(filename or "/").startswith(root + os.sep)
        missing = isinstance(exc, FileNotFoundError) or exc.errno == errno.ENOENT
        if in_data or (missing and not filename):  # a DataLoader worker's error has no filename
            where = f" ({filename})" if filename else ""
            return (
                f"a file could not be read during training{where}: {_first_line(exc)}; if the "
                f"dataset under data.root ({root}) was moved or deleted, restore it and "
                f"{resume_hint(run_id)}"
            )
        return f"I/O error: {_first_line(exc)}; fix its cause and {resume_hint(run_id)}"
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line[:300]


def _best_effort(
    store: RunStore, action: Callable[[], dict[str, Any]], log: Callable[[str], None]
) -> None:
    """A store write on the way out of a failure, then the user's alert: if the write fails
    too (the disk is still full), the run stays marked running with a dead pid, which readers
    show as crashed (and whoever records the crash alerts)."""
    try:
        doc = action()
    except (StoreError, OSError) as exc:
        log(f"could not record the run's status: {exc}")
        return
    announce(store, doc, log)


def execute(
    store: RunStore,
    run_id: str,
    on_event: Callable[[Any], None] | None = None,
    stop: StopFlag | None = None,
) -> dict[str, Any]:
    """Train run ``run_id`` (new, stopped, crashed or failed) to its end; returns the final
    document.

    Failures a user can act on (bad data root, full disk, out of memory, corrupt checkpoint)
    end the run as ``failed`` with a message that says what to do, raised as a UserError for
    the caller to print; anything else is an internal error, logged with its traceback.
    """
    seen: dict[str, Any] = {}
    session_start = time.monotonic()

    def take(doc: dict[str, Any]) -> dict[str, Any]:
        refuse_unless_resumable(store, doc)  # under the store's lock: one claimant wins
        seen.update(doc)
        return {
            "status": "running",
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": doc.get("started") or now(),
            "finished": None,
            "message": "",
            # Time spent training, over every session of the run: a resumed run's duration
            # leaves out the time it spent stopped (the console adds the live session's).
            "elapsed_before": _seconds(doc.get("elapsed_s")),
            "session_started": now(),
        }

    store.claim(run_id, take)
    elapsed_before = _seconds(seen.get("elapsed_s"))

    def elapsed() -> float:
        return round(elapsed_before + time.monotonic() - session_start, 3)

    run_dir = store.run_dir(run_id)
    log = RunLog(run_dir / "train.log")
    stop = stop or StopFlag()
    stop.install()
    for path in store.remove_stale_temp_files():
        log(f"removed {path}, left by a writer that was killed")
    resumed = seen["status"] != "queued" or (run_dir / "last.pt").exists()
    log(f"{'resuming' if resumed else 'starting'} run {run_id} (pid {os.getpid()})")
    config: RunConfig | None = None
    try:
        config = _config_of(seen)
        trainer = Trainer(config)
        if resumed:
            _restore(trainer, store, run_id, run_dir, log)
        for line in trainer.bundle.notes:
            log(line)
        side = trainer.bundle.info.image_size
        if trainer.bundle.notes and trainer.input_size != side:
            a = config.augment
            why = "the pretrained backbone's ImageNet size" if config.model.pretrained else ""
            log(
                f"data: the model sees {trainer.input_size}x{trainer.input_size} "
                f"(augment.resize {a.resize}, augment.crop_size {a.crop_size}"
                + (f": {why})" if why else ")")
            )
        gpus = devices.gpu_indices(trainer.device, _local_processes(trainer))
        store.update(
            run_id,
            device=str(trainer.device),
            params=trainer.params,
            classes=trainer.classes,
            **({"data": trainer.bundle.report} if trainer.bundle.report else {}),
            **_provenance(store, seen, gpus),
        )

        display: Callable[[Any], None] | None = on_event
        world = trainer.dist.world_size if trainer.dist is not None else 1
        progress = ProgressWriter(run_dir, config.train.epochs, world, log)

        def handle(event: Any) -> None:
            if isinstance(event, StepDone):
                progress.step(
                    event.epoch, event.step, event.steps, event.images, event.seconds, elapsed()
                )
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
                    elapsed_s=elapsed(),
                )
                log(
                    f"epoch {event.epoch}/{config.train.epochs} train_loss {m['train_loss']:.4f} "
                    f"train_acc {m['train_acc']:.4f} "
                    + (
                        f"val_loss {m['val_loss']:.4f} val_acc {m['val_acc']:.4f} "
                        if "val_loss" in m
                        else f"{VAL_SKIPPED} "
                    )
                    + f"lr {m['lr']:.3g} {m['seconds']:.1f}s"
                    + (" *" if event.improved else "")
                )
            elif isinstance(event, FitDone) and event.confusion:
                write_json_atomic(run_dir / "confusion.json", event.confusion)
                keep_predictions(event.predictions)
            show(event)

        def keep_predictions(predictions: Any) -> None:
            """Write predictions.npz, or remove an earlier test pass's file (never one beside
            this pass's matrix). A write that fails (a full disk) costs only the file: the
            run trained and tested, and its results stand; the commands say it has none."""
            path = run_dir / PREDICTIONS_FILE
            if predictions is not None:
                try:
                    write_predictions(path, predictions)
                    return
                except StoreError as exc:
                    cause = exc.__cause__
                    why = cause.strerror if isinstance(cause, OSError) and cause.strerror else exc
                    log(
                        f"could not write {path}: {why}; the run's results stand, "
                        "without test predictions"
                    )
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                log(f"could not remove the previous {PREDICTIONS_FILE}: {exc}")

        def show(event: Any) -> None:
            """Pass the event to the caller's display. A display that breaks (the terminal of
            a foreground run is gone: writes fail with EIO) never stops the training."""
            nonlocal display
            if display is None:
                return
            try:
                display(event)
            except Exception:
                display = None
                log("the display failed; training goes on:\n" + traceback.format_exc())

        sampler = Sampler(
            lambda line: store.append_metrics(run_id, dict(line), point="sysmon"),
            config.train.sample_s,
            gpus=devices.nvml_ids(gpus),
            elapsed=elapsed,
            log=log,
        )
        try:
            with sampler:  # stopped on every way out (a kill stops the process, thread and all)
                done = trainer.fit(handle, checkpoint_dir=run_dir, should_stop=stop)
        finally:
            trainer.bundle.close()
        log(f"{done.status}: {done.message}")
        if done.test:
            log(
                f"test_loss {done.test['test_loss']:.4f} test_acc {done.test['test_acc']:.4f} "
                f"(best epoch {trainer.best_epoch})"
            )
        final = store.set_status(
            run_id,
            done.status,
            done.message,
            epoch=done.epoch,
            best=done.best or dict(trainer.best, best_epoch=trainer.best_epoch),
            test=done.test,
            elapsed_s=elapsed(),
        )
        announce(store, final, log)  # starts the user's command; never waits for it
        return final
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            _best_effort(
                store,
                lambda: store.set_status(
                    run_id, "stopped", f"interrupted before training started; {resume_hint(run_id)}"
                ),
                log,
            )
            raise
        message = describe_failure(exc, run_id, config)
        if message is None:
            text = _first_line(exc)
            log("failed with an internal error:\n" + traceback.format_exc())
            _best_effort(
                store,
                lambda: store.set_status(
                    run_id,
                    "failed",
                    f"internal error: {text} (details in {run_dir / 'train.log'})",
                ),
                log,
            )
            raise
        log(f"failed: {message}")
        _best_effort(store, lambda: store.set_status(run_id, "failed", message), log)
        if isinstance(exc, UserError) and str(exc) == message:
            raise
        raise _user_error(exc, message) from exc


def _local_processes(trainer: Trainer) -> int:
    """The processes of the run on this machine (rank 0 samples the GPUs of all of them)."""
    if trainer.dist is None:
        return 1
    return int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)


def _provenance(store: RunStore, doc: dict[str, Any], gpus: list[int]) -> dict[str, Any]:
    """The run's provenance with what only the trainer knows (CUDA, cuDNN, the GPUs), added
    when it first trains; collected here whole for a run created without it."""
    fields = doc.get("provenance")
    if isinstance(fields, dict) and fields.get("trainer_versions"):
        return {}
    diff = b""
    if not isinstance(fields, dict) or not fields:
        fields, diff = provenance.collect()
        fields = provenance.store_diff(store.run_dir(str(doc["id"])), fields, diff)
    return {"provenance": {**fields, **devices.runtime_versions(gpus), "trainer_versions": True}}


def _seconds(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, DiskFullError) or (
        isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
    )


def _user_error(exc: BaseException, message: str) -> UserError:
    """``message`` as an error of ``exc``'s kind (a full disk stays a DiskFullError)."""
    if _is_disk_full(exc):
        return DiskFullError(message)
    if isinstance(exc, UserError):
        return type(exc)(message)
    return UserError(message)


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
            warning = f"{errors[0]}; resuming from {name} (epoch {trainer.epoch}) instead"
            log(warning)
            store.warnings.append(warning)
        position = trainer.position or {}
        steps = int(position.get("step", 0)) if position.get("epoch") == trainer.epoch else 0
        store.truncate_metrics(run_id, trainer.epoch, steps)
        return
    if errors:
        raise CheckpointError(
            "no usable checkpoint: "
            + "; ".join(errors)
            + f"; the run cannot be resumed: start a new one from {run_dir / 'config.toml'}"
        )
    store.truncate_metrics(run_id, 0)  # killed before the first checkpoint: start over


def _rounded(metrics: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 6) for k, v in metrics.items() if isinstance(v, int | float)}


# ---------------------------------------------------------------- distributed ranks


def execute_rank(store: RunStore, run_id: str, stop: StopFlag | None = None) -> None:
    """A rank other than 0 of a distributed run: train in lockstep with rank 0, write nothing.

    Rank 0 runs ``execute`` (the store, train.log, checkpoints); this rank loads the same
    checkpoint rank 0 resumes from and only trains. Its failures go to train.log with a rank
    prefix; torchrun then stops the other ranks.
    """
    run_dir = store.run_dir(run_id)
    prefix = f"[rank {ddp_env.rank()}]"
    log = RunLog(run_dir / "train.log")
    stop = stop or StopFlag()
    stop.install()
    try:
        trainer = Trainer(_config_of(store.get(run_id)))
        for name in ("last.pt", "best.pt"):  # the order _restore tries them in
            if (run_dir / name).exists():
                try:
                    trainer.resume_from(run_dir / name)
                except CheckpointError:
                    continue
                break
        trainer.fit(checkpoint_dir=None, should_stop=stop)
    except BaseException as exc:
        if not isinstance(exc, KeyboardInterrupt | SystemExit):
            log(f"{prefix} failed: {_first_line(exc)}\n" + traceback.format_exc())
        raise
