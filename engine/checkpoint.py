"""Self-describing checkpoints: written atomically, read with ``weights_only=True``.

A checkpoint holds the model, optimizer, schedule, EMA, scaler, epoch (and position inside
an interrupted epoch), best metrics, RNG states, the resolved config, the class names and a
format version. Nothing in it needs pickle beyond tensors and plain containers.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from engine.errors import CheckpointError

FORMAT_VERSION = 1


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write to a temporary file, fsync, then rename over ``path``: a crash or a full disk
    leaves the previous checkpoint intact."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path, expect_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Load and check a checkpoint; every failure is a CheckpointError saying what to do."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
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
    ) as exc:
        raise CheckpointError(
            f"checkpoint {path} is corrupt or not a resnet-tui checkpoint "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from exc
    if not isinstance(state, dict) or "format_version" not in state or "model" not in state:
        raise CheckpointError(f"checkpoint {path} is not a resnet-tui checkpoint")
    if state["format_version"] > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format {state['format_version']}, newer than this "
            f"resnet-tui ({FORMAT_VERSION}); upgrade resnet-tui"
        )
    if expect_config is not None and state.get("config") != expect_config:
        raise CheckpointError(
            f"checkpoint {path} was written for a different config; resume with the run's own "
            "config.toml (`resnet-tui train --resume RUN`) or start a new run"
        )
    return state
