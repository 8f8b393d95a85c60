"""DistributedDataParallel inside one rank: what the trainer calls when torchrun started it.

``setup`` joins the process group (NCCL on CUDA, gloo on CPU), ``wrap_model`` adds
SyncBatchNorm on CUDA and DistributedDataParallel, each rank takes its ``shard`` of every batch
(``data.batch_size`` is the global batch), sums its epoch metrics with ``all_reduce_sum``,
agrees on stopping with ``agree`` and, at a mid-epoch stop, collects every rank's random states
on rank 0 with ``gather_to_main``. The device decisions (``backend_for``, ``rank_device``,
``sync_batchnorm``, ``ddp_device_ids``) are small functions, testable without a GPU. Starting
the ranks is ``engine.launch``'s job; knowing that this process is one, ``engine.ddp_env``'s.
See docs/SCALE.md.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from engine.errors import ConfigError


@dataclass(frozen=True)
class DistContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    control: Any  # a gloo process group for CPU-side flags (the stop vote)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def shard(self) -> tuple[int, int]:
        return self.rank, self.world_size


def backend_for(device_type: str) -> str:
    """The process group's backend for a device type: NCCL on CUDA, gloo on the CPU; any
    other device (mps) cannot run DistributedDataParallel and is refused."""
    if device_type == "cuda":
        return "nccl"
    if device_type == "cpu":
        return "gloo"
    raise ConfigError(
        f"train.devices > 1 runs on CUDA GPUs or on the CPU; {device_type} cannot run "
        "DistributedDataParallel: use train.device=cpu or train.devices=1",
        "train.devices",
    )


def rank_device(device: torch.device, local_rank: int, gpus: int) -> torch.device:
    """The device of the rank with ``local_rank`` on a node with ``gpus`` GPUs: on CUDA the GPU
    of its local rank (refused when the node has fewer GPUs), otherwise ``device`` itself."""
    if device.type != "cuda":
        return device
    if local_rank >= gpus:
        raise ConfigError(
            f"train.devices: local rank {local_rank} has no GPU (this node has {gpus}); "
            "use at most that many processes per node",
            "train.devices",
        )
    return torch.device("cuda", local_rank)


def setup(device: torch.device) -> DistContext:
    """Join the process group torchrun describes; returns this rank's context.

    On CUDA each rank takes the GPU of its local rank (NCCL); on the CPU the ranks talk over
    gloo. A second gloo group carries the per-step stop vote without syncing the GPU stream.
    """
    rank_, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    backend = backend_for(device.type)
    if backend == "nccl":
        device = rank_device(device, local, torch.cuda.device_count())
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend, device_id=device if backend == "nccl" else None)
    control = dist.new_group(backend="gloo") if backend == "nccl" else dist.group.WORLD
    return DistContext(rank_, world, local, device, control)


def sync_batchnorm(model: nn.Module, device_type: str) -> nn.Module:
    """On CUDA, ``model`` with every BatchNorm converted to SyncBatchNorm (batch statistics
    over all ranks: per-rank batches are small); elsewhere ``model`` itself (gloo has no
    SyncBatchNorm: each rank keeps its own batch statistics). The parameters and buffers stay
    the same objects, so an optimizer built before still applies."""
    if device_type != "cuda":
        return model
    return nn.SyncBatchNorm.convert_sync_batchnorm(model)


def ddp_device_ids(device: torch.device) -> list[int] | None:
    """DistributedDataParallel's ``device_ids``: the rank's one GPU on CUDA, None on the CPU."""
    return [device.index if device.index is not None else 0] if device.type == "cuda" else None


def wrap_model(model: nn.Module, ctx: DistContext) -> nn.Module:
    """SyncBatchNorm on CUDA (``sync_batchnorm``), then DistributedDataParallel."""
    from torch.nn.parallel import DistributedDataParallel

    model = sync_batchnorm(model, ctx.device.type)
    return DistributedDataParallel(model, device_ids=ddp_device_ids(ctx.device))


def all_reduce_sum(ctx: DistContext, *values: torch.Tensor) -> list[torch.Tensor]:
    """Sum scalar tensors over the ranks in one collective; returns them in float64."""
    buffer = torch.stack([v.detach().double().reshape(()).to(ctx.device) for v in values])
    dist.all_reduce(buffer)
    return list(buffer.unbind())


def all_reduce_tensor(ctx: DistContext, value: torch.Tensor) -> torch.Tensor:
    """Sum one tensor (a confusion matrix) over the ranks, in place."""
    dist.all_reduce(value)
    return value


def agree(ctx: DistContext, flag: Callable[[], bool]) -> Callable[[], bool]:
    """``flag`` made collective: true on every rank as soon as it is true on one.

    Every rank must call the result at the same points of the loop (the trainer calls it once
    per step and once per epoch end); a SIGTERM that reaches any rank (``runs stop`` signals
    rank 0, torchrun forwards a signal to all) stops all ranks after the same step.
    """

    def voted() -> bool:
        vote = torch.tensor([1 if flag() else 0], dtype=torch.int32)
        dist.all_reduce(vote, op=dist.ReduceOp.MAX, group=ctx.control)
        return bool(vote.item())

    return voted


def gather_to_main(ctx: DistContext, obj: Any) -> list[Any] | None:
    """Every rank's ``obj`` (picklable: tensors go as CPU tensors), indexed by rank, on rank 0;
    None on the other ranks. It goes over the gloo group (``ctx.control``), so CUDA tensors
    never enter NCCL's object path; every rank must call it at the same point."""
    gathered: list[Any] | None = [None] * ctx.world_size if ctx.is_main else None
    dist.gather_object(obj, gathered, dst=0, group=ctx.control)
    return gathered


def broadcast_module(ctx: DistContext, module: nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank (after rank 0 loads best.pt)."""
    for tensor in [*module.parameters(), *module.buffers()]:
        dist.broadcast(tensor.data, src=0)


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def silence_stdout() -> None:
    """Ranks other than 0 print nothing (rank 0 logs to train.log); stderr stays for errors."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
