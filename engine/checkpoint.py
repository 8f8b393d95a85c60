"""Self-describing checkpoints: written atomically, read with ``weights_only=True``.

A checkpoint holds the model, optimizer, schedule, EMA, scaler, epoch (and position inside
an interrupted epoch), best metrics, RNG states, the resolved config, the class names and a
format version. Nothing in it needs pickle beyond tensors and plain containers.
"""

from __future__ import annotations

import errno
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from engine.config import same_config
from engine.errors import CheckpointError, DiskFullError
from engine.fsio import write_atomically

FORMAT_VERSION = 1


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write to a temporary file, fsync, then rename over ``path`` (``engine.fsio``, the one
    atomic writer): a crash or a full disk leaves the previous checkpoint intact, and a failed
    write removes its temporary file. Fault points: checkpoint, checkpoint-rename,
    checkpoint-done.

    A full disk (or quota) raises DiskFullError, any other write failure CheckpointError."""
    path = Path(path)

    def write(fd: int) -> None:
        with os.fdopen(fd, "wb", closefd=False) as fh:  # closing flushes; fsio fsyncs
            torch.save(state, fh)

    try:
        write_atomically(path, write, point="checkpoint")
    except BaseException as exc:
        cause = _os_error(exc)
        if cause is not None:
            raise _write_error(path, cause) from exc
        raise


def _os_error(exc: BaseException) -> OSError | None:
    """The OSError behind a failed save: torch.save reports a full disk met inside its zip
    writer as a RuntimeError ("unexpected pos ...") raised while handling the OSError."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, OSError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _write_error(path: Path, exc: OSError) -> CheckpointError:
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(
            f"disk full while writing {path} ({reason}); the previous {path.name} is intact",
            str(path),
        )
    return CheckpointError(f"could not write {path} ({reason}); the previous {path.name} is intact")


def load_checkpoint(path: Path, expect_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Load and check a checkpoint; every failure is a CheckpointError saying what to do."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        # weights_only: tensors and plain containers only, never arbitrary pickled code
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (
        RuntimeError,
        EOFError,
        OSError,
        pickle.UnpicklingError,
        zipfile.BadZipFile,
        ValueError,
        KeyError,
        AttributeError,
        IndexError,
        TypeError,
    ) as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise CheckpointError(
            f"checkpoint {path} is corrupt or not a resnet-tui checkpoint "
            f"({type(exc).__name__}: {first[:200]})"
        ) from exc
    if not isinstance(state, dict) or "format_version" not in state or "model" not in state:
        raise CheckpointError(f"checkpoint {path} is not a resnet-tui checkpoint")
    version = state["format_version"]
    if not isinstance(version, int) or isinstance(version, bool):
        raise CheckpointError(f"checkpoint {path} has no valid format version ({version!r})")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format {version}, newer than this "
            f"resnet-tui ({FORMAT_VERSION}); upgrade resnet-tui"
        )
    if expect_config is not None and not same_config(state.get("config") or {}, expect_config):
        raise CheckpointError(
            f"checkpoint {path} was written for a different config; resume with the run's own "
            "config.toml (`resnet-tui train --resume RUN`) or start a new run"
        )
    return state
