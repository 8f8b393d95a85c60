"""One run over several processes or machines: the torchrun launcher.

``launch`` runs torchrun in this process (``torch.distributed.run``), which starts
``train.devices`` ranks per machine, each ``python -m engine.worker rank RUN``. Rank 0 runs
``engine.runner.execute`` as any run does and is the only process that writes the store; the
other ranks only train (``engine.runner.execute_rank``). See docs/SCALE.md.
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Collection
from typing import Any

import torch.distributed.run as torchrun
from torch.distributed.elastic.multiprocessing.api import SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.elastic.rendezvous.api import RendezvousError

from engine.alerts import announce
from engine.ddp_env import LAUNCHER_ENV, NNODES_ENV, check_topology
from engine.errors import ConfigError, UserError
from engine.lifecycle import record_launch, worker_args
from engine.store import RunStore

# Seconds torchrun waits after forwarding SIGTERM before it kills the workers: time for rank 0
# to finish the step and write the checkpoint.
SHUTDOWN_TIMEOUT_S = 60


def free_port() -> int:
    """A TCP port free on this host right now (for a rendezvous endpoint)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    return args + ["-m", *worker_args(store_root, "rank", run_id)]


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
    parser = torchrun.get_args_parser()
    known = {o for action in parser._actions for o in action.option_strings}
    args = torchrun_args(str(store.root), run_id, nproc, nnodes, rdzv_endpoint, known)
    if nnodes == 1:
        record_launch(store, run_id, os.getpid())
    os.environ[LAUNCHER_ENV] = str(os.getpid())
    os.environ[NNODES_ENV] = str(nnodes)
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # torchrun's own default, without its warning
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    reason, signalled = "", False
    try:
        torchrun.run(parser.parse_args(args))
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
        announce(store, doc)  # rank 0 could not: the launcher alerts for it
    return doc
