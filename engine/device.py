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


def gpu_indices(device: torch.device, local_processes: int = 1) -> list[int]:
    """The CUDA indices a run uses on this machine: its device's, or under torchrun (rank 0
    asks) those of every local rank (rank r trains on GPU r); none off CUDA."""
    if device.type != "cuda":
        return []
    first = device.index or 0
    return [first + k for k in range(max(1, local_processes))]


def nvml_ids(indices: list[int]) -> list[int | str]:
    """What NVML knows those GPUs by: their UUIDs (CUDA_VISIBLE_DEVICES may renumber them),
    else the indices themselves."""
    out: list[int | str] = []
    for index in indices:
        try:
            uuid = getattr(torch.cuda.get_device_properties(index), "uuid", None)
        except (RuntimeError, AssertionError):
            uuid = None
        out.append(f"GPU-{uuid}" if uuid else index)
    return out


def runtime_versions(indices: list[int]) -> dict[str, object]:
    """torch, CUDA and cuDNN versions (None on a CPU build) and the names of the GPUs used,
    for the run's provenance."""
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    names = None
    if indices:
        try:
            names = [torch.cuda.get_device_name(i) for i in indices]
        except (RuntimeError, AssertionError):
            names = None
    return {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": str(cudnn) if cudnn is not None else None,
        "gpus": names,
    }
