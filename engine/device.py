"""Which device a run trains on, and in which precision: small decisions the trainer, the
checks before a run and the data-loader bench share."""

from __future__ import annotations

import torch

from engine.data.sources import indexed_device
from engine.errors import ConfigError


def pick_device(name: str) -> torch.device:
    """The device ``train.device`` names (``auto``: CUDA, then MPS, then the CPU); a CUDA
    device always with its index."""
    return indexed_device(_pick_device(name))


def _pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"train.device: '{name}' asked for but CUDA is not available here; "
            "use train.device=auto or cpu",
            "train.device",
        )
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(
            "train.device: 'mps' is not available here; use auto or cpu", "train.device"
        )
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(
            f"train.device: '{name}' is not a device ({exc})", "train.device"
        ) from exc


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """bf16 on CUDA by default; fp16 only on CUDA; on CPU only when asked for bf16."""
    if amp == "off" or (amp == "auto" and device.type != "cuda"):
        return None
    if amp == "fp16":
        return torch.float16 if device.type == "cuda" else None
    return torch.bfloat16
