"""One run over several processes: the torchrun launch and the DDP helpers the trainer uses.

The launcher (``resnet-tui train`` with ``train.devices > 1`` or ``--nproc``) calls
``launch``: it runs torchrun in-process (``torch.distributed.run.main``), which starts
``train.devices`` workers per node, each ``resnet-tui train --resume RUN --quiet``. A worker
knows it is one from the environment (``in_worker``); rank 0 runs ``engine.runner.execute``
as any run does and is the only process that writes the store; the other ranks only train
(``engine.runner.execute_rank``).

Inside a worker the trainer calls ``setup`` (process group: NCCL on CUDA, gloo on CPU),
``wrap_model`` (SyncBatchNorm on CUDA, DistributedDataParallel), takes its ``shard`` of
every batch (``data.batch_size`` is the global batch), sums its epoch metrics with
``all_reduce_sum``, agrees on stopping with ``agree`` and, at a mid-epoch stop, collects
every rank's random states on rank 0 with ``gather_to_main``. The device decisions
(``backend_for``, ``rank_device``, ``sync_batchnorm``, ``ddp_device_ids``) are small
functions, testable without a GPU. See docs/SCALE.md.

Importing this module is cheap: torch is imported inside the functions that need it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.errors import ConfigError, UserError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from engine.store import RunStore

# Set by the launcher for its workers: its pid (the run's pid until rank 0 starts) and the
# marker that tells ``resnet-tui train --resume RUN`` it is a rank, not a new launch.
LAUNCHER_ENV = "RESNET_TUI_LAUNCHER_PID"
NNODES_ENV = "RESNET_TUI_NNODES"
# Seconds torchrun waits after forwarding SIGTERM before it kills the workers: time for rank 0
# to finish the step and write the checkpoint.
SHUTDOWN_TIMEOUT_S = 60


def in_worker() -> bool:
    """Whether this process is a rank started by ``launch`` (torchrun's environment is set)."""
    return bool(os.environ.get(LAUNCHER_ENV)) and "RANK" in os.environ


def launcher_pid() -> int | None:
    value = os.environ.get(LAUNCHER_ENV, "")
    return int(value) if value.isdigit() else None


def may_claim(doc: dict[str, Any]) -> bool:
    """Whether this rank 0 may take over run ``doc`` although another pid is recorded on it:
    its own launcher's pid, or, on several machines, any launcher's while the run is queued
    (rank 0 may land on any machine; the one that created the run recorded its pid)."""
    if not in_worker():
        return False
    if doc.get("pid") is not None and doc.get("pid") == launcher_pid():
        return True
    return os.environ.get(NNODES_ENV, "1") != "1" and doc.get("status") == "queued"


def rank() -> int:
    """This worker's global rank (0 outside a distributed run)."""
    return int(os.environ.get("RANK", "0")) if in_worker() else 0


def free_port() -> int:
    """A TCP port free on this host right now (for a rendezvous endpoint)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------- inside a worker


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
    import torch

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
    import torch
    import torch.distributed as dist

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
    from torch import nn

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
    import torch
    import torch.distributed as dist

    buffer = torch.stack([v.detach().double().reshape(()).to(ctx.device) for v in values])
    dist.all_reduce(buffer)
    return list(buffer.unbind())


def all_reduce_tensor(ctx: DistContext, value: torch.Tensor) -> torch.Tensor:
    """Sum one tensor (a confusion matrix) over the ranks, in place."""
    import torch.distributed as dist

    dist.all_reduce(value)
    return value


def agree(ctx: DistContext, flag: Callable[[], bool]) -> Callable[[], bool]:
    """``flag`` made collective: true on every rank as soon as it is true on one.

    Every rank must call the result at the same points of the loop (the trainer calls it once
    per step and once per epoch end); a SIGTERM that reaches any rank (``runs stop`` signals
    rank 0, torchrun forwards a signal to all) stops all ranks after the same step.
    """
    import torch
    import torch.distributed as dist

    def voted() -> bool:
        vote = torch.tensor([1 if flag() else 0], dtype=torch.int32)
        dist.all_reduce(vote, op=dist.ReduceOp.MAX, group=ctx.control)
        return bool(vote.item())

    return voted


def gather_to_main(ctx: DistContext, obj: Any) -> list[Any] | None:
    """Every rank's ``obj`` (picklable: tensors go as CPU tensors), indexed by rank, on rank 0;
    None on the other ranks. It goes over the gloo group (``ctx.control``), so CUDA tensors
    never enter NCCL's object path; every rank must call it at the same point."""
    import torch.distributed as dist

    gathered: list[Any] | None = [None] * ctx.world_size if ctx.is_main else None
    dist.gather_object(obj, gathered, dst=0, group=ctx.control)
    return gathered


def broadcast_module(ctx: DistContext, module: nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank (after rank 0 loads best.pt)."""
    import torch.distributed as dist

    for tensor in [*module.parameters(), *module.buffers()]:
        dist.broadcast(tensor.data, src=0)


def shutdown() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def silence_stdout() -> None:
    """Ranks other than 0 print nothing (rank 0 logs to train.log); stderr stays for errors."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


# ---------------------------------------------------------------- the launcher


def check_global_batch(batch_size: int, world: int) -> None:
    """data.batch_size is the global batch: it must split evenly over the processes."""
    if batch_size % world:
        raise ConfigError(
            f"data.batch_size: {batch_size} is the global batch and must split evenly over "
            f"the {world} processes; use a multiple of {world}",
            "data.batch_size",
        )


def check_topology(nnodes: int, rdzv_endpoint: str) -> None:
    """Refuse a machine count or rendezvous endpoint that cannot work (before a run exists)."""
    if nnodes < 1:
        raise ConfigError(f"--nnodes: must be at least 1, got {nnodes}")
    if rdzv_endpoint:
        host, _, port = rdzv_endpoint.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(
                f"--rdzv-endpoint '{rdzv_endpoint}': expected HOST:PORT, e.g. node0:29500"
            )
    elif nnodes > 1:
        raise ConfigError(
            f"--nnodes {nnodes}: the machines meet at a rendezvous; give --rdzv-endpoint "
            "HOST:PORT (a host every machine reaches, a free port)"
        )


def torchrun_args(
    store_root: str,
    run_id: str,
    nproc: int,
    nnodes: int = 1,
    rdzv_endpoint: str = "",
    known: Collection[str] | None = None,
) -> list[str]:
    """torchrun's command line for ``nproc`` workers per node of run ``run_id``. ``known``:
    the options this torch's torchrun accepts; the optional ones it lacks are left out (torch
    2.11's has no --shutdown-timeout: its default grace period applies there)."""
    if nproc < 1:
        raise ConfigError(f"--nproc: must be at least 1, got {nproc}", "train.devices")
    check_topology(nnodes, rdzv_endpoint)
    args = [
        f"--nproc-per-node={nproc}",
        f"--nnodes={nnodes}",
        "--max-restarts=0",
        # SIGHUP is left out: a dropped SSH link never stops a run (the workers ignore it)
        "--signals-to-handle=SIGTERM,SIGINT,SIGQUIT",
        f"--shutdown-timeout={SHUTDOWN_TIMEOUT_S}",
    ]
    if known is not None:
        optional = ("--signals-to-handle", "--shutdown-timeout")
        args = [a for a in args if not a.startswith(optional) or a.split("=")[0] in known]
    if rdzv_endpoint:
        args += ["--rdzv-backend=c10d", f"--rdzv-endpoint={rdzv_endpoint}", f"--rdzv-id={run_id}"]
    else:
        args.append("--standalone")  # a local rendezvous on a free port
    return args + [
        "-m",
        "resnet_tui",
        "--runs-dir",
        store_root,
        "train",
        "--resume",
        run_id,
        "--quiet",
    ]


def launch(
    store: RunStore,
    run_id: str,
    nproc: int,
    nnodes: int = 1,
    rdzv_endpoint: str = "",
) -> dict[str, Any]:
    """Train run ``run_id`` on ``nproc`` processes per node under torchrun; returns the final
    document. Blocks until every worker has exited.

    On one machine the launcher records its own pid first (a stop request before rank 0
    starts reaches torchrun, which forwards it to the workers); rank 0 then records its pid
    and owns the run. A run left active when the workers are gone (a worker crashed, the
    rendezvous failed) is marked failed, or stopped when the launcher was signalled.
    """
    import signal

    from torch.distributed.run import get_args_parser

    from engine.runner import record_launch

    parser = get_args_parser()
    known = {o for action in parser._actions for o in action.option_strings}
    args = torchrun_args(str(store.root), run_id, nproc, nnodes, rdzv_endpoint, known)
    if nnodes == 1:
        record_launch(store, run_id, os.getpid())
    os.environ[LAUNCHER_ENV] = str(os.getpid())
    os.environ[NNODES_ENV] = str(nnodes)
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # torchrun's own default, without its warning
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.elastic.rendezvous.api import RendezvousError
    from torch.distributed.run import get_args_parser
    from torch.distributed.run import run as torchrun

    reason, signalled = "", False
    try:
        torchrun(get_args_parser().parse_args(args))
    except ChildFailedError as exc:
        failures = ", ".join(f"rank {r} exit {f.exitcode}" for r, f in sorted(exc.failures.items()))
        reason = f"a worker failed ({failures})"
    except SignalException as exc:
        reason, signalled = f"the launcher got signal {exc.sigval.name}", True
    except RendezvousError as exc:  # the machines never met: no rank started here
        reason = f"the machines did not meet at {rdzv_endpoint or 'the local rendezvous'}"
        if nnodes > 1:
            raise UserError(
                f"run {run_id}: {reason} ({type(exc).__name__}); run `resnet-tui train "
                f"--resume {run_id} --nnodes {nnodes} --rdzv-endpoint {rdzv_endpoint}` on "
                "every machine, this one included, the others within 10 minutes of the first "
                "(torchrun's join timeout)"
            ) from exc
    finally:
        os.environ.pop(LAUNCHER_ENV, None)
        os.environ.pop(NNODES_ENV, None)
    doc = store.get(run_id)
    if nnodes == 1 and doc["status"] in ("queued", "running"):
        status = "stopped" if signalled else "failed"
        message = (
            f"the distributed run ended without a final status ({reason or 'workers exited'}); "
            f"details in {store.run_dir(run_id) / 'train.log'}; resume with "
            f"`resnet-tui train --resume {run_id}`"
        )
        doc = store.set_status(run_id, status, message)
    return doc
