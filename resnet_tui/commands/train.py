"""``resnet-tui train``: one run, in this process with a progress bar, detached, or over
several processes and machines (torchrun); also what each torchrun rank executes.

``register(app)`` adds it. The work is the engine's (engine.runner, engine.distributed);
this module checks the options, prints, and picks the path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, NamedTuple

import typer

from resnet_tui.commands._shared import (
    SetOption,
    check_buildable,
    console,
    fail,
    show_warnings,
    store,
    user_errors,
)

if TYPE_CHECKING:
    from engine.store import RunStore


def train(
    preset: Annotated[
        str | None, typer.Argument(help="A preset name or a TOML file [digits-quick].")
    ] = None,
    sets: SetOption = None,
    name: Annotated[str, typer.Option(help="A name for the run.")] = "",
    resume: Annotated[
        str | None, typer.Option(help="Continue a stopped or crashed run (id, prefix or name).")
    ] = None,
    detach: Annotated[
        bool, typer.Option(help="Train in the background; follow it with `runs show` or the TUI.")
    ] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar (logs go to train.log).")] = False,
    nproc: Annotated[
        int | None,
        typer.Option(
            help="Processes per machine for this run (one per GPU, or CPU processes): "
            "DistributedDataParallel under torchrun [train.devices]."
        ),
    ] = None,
    nnodes: Annotated[
        int, typer.Option(help="Machines in the run; start the same run on each (docs/SCALE.md).")
    ] = 1,
    rdzv_endpoint: Annotated[
        str, typer.Option(help="HOST:PORT where the machines of a multi-node run meet.")
    ] = "",
) -> None:
    """Train a run from a preset (or resume one) with a live progress bar."""
    import os

    from engine import presets as presets_mod
    from engine.distributed import check_global_batch, check_topology, in_worker
    from engine.runner import check_resumable, launch_detached

    s = store()
    if in_worker():  # one rank of a run that torchrun started (engine.distributed.launch)
        _train_rank(s, resume)
        return
    check_topology(nnodes, rdzv_endpoint)  # before anything is created
    if nproc is not None and nproc < 1:
        fail(f"--nproc: must be at least 1, got {nproc}")
    if nproc is not None and not resume:
        sets = [*(sets or []), f"train.devices={nproc}"]
    if resume:
        if preset or sets:
            fail("--resume continues a run with its own config; drop PRESET and --set")
        run_id = s.resolve(resume)
        if nnodes == 1:  # on several machines the ranks claim the run (engine.runner)
            check_resumable(s, run_id)
    else:
        config, preset_name = presets_mod.resolve(preset, sets)
        check_global_batch(config.data.batch_size, config.train.devices * nnodes)
        check_buildable(config)
        # Training here: our pid makes the run show as crashed if we die before it starts.
        owner = {} if detach else {"pid": os.getpid()}
        doc = s.create_run(config.to_dict(), name=name, preset=preset_name, extra=owner)
        run_id = doc["id"]
    topology = _distributed_topology(s, run_id, nproc, nnodes, rdzv_endpoint)
    if detach:
        pid = launch_detached(s, run_id, args=topology.args if topology else None)
        typer.echo(
            f"run {run_id} training in the background (pid {pid}); "
            f"log: {s.run_dir(run_id) / 'train.log'}"
        )
        return
    if topology is not None:
        _train_distributed(s, run_id, topology, quiet)
        return
    if quiet:
        from engine.runner import execute

        try:
            execute(s, run_id)
        finally:
            show_warnings(s)
        return
    from resnet_tui.progress import train_with_progress

    try:
        doc = train_with_progress(s, run_id, console())
    finally:
        show_warnings(s)
    if doc["status"] not in ("finished", "stopped"):
        raise typer.Exit(1)


class _Topology(NamedTuple):
    nproc: int
    nnodes: int
    rdzv_endpoint: str

    @property
    def args(self) -> list[str]:
        """The train options that say the same again (for a detached launcher)."""
        if self.nnodes == 1 and not self.rdzv_endpoint:
            return []
        return ["--nnodes", str(self.nnodes), "--rdzv-endpoint", self.rdzv_endpoint]


def _distributed_topology(
    s: RunStore, run_id: str, nproc: int | None, nnodes: int, rdzv_endpoint: str
) -> _Topology | None:
    """How many processes train ``run_id``; None for one process (the usual path)."""
    devices = int(s.get(run_id)["config"].get("train", {}).get("devices", 1))
    if nproc is not None and nproc != devices:
        fail(
            f"--nproc {nproc}: run {run_id} was set up with train.devices={devices}; a run "
            "keeps its config (start a new run for another number of processes)"
        )
    if devices == 1 and nnodes == 1 and not rdzv_endpoint:
        return None
    return _Topology(devices, nnodes, rdzv_endpoint)


def _train_distributed(s: RunStore, run_id: str, topology: _Topology, quiet: bool) -> None:
    """Launch torchrun for ``run_id`` and print rank 0's epoch lines as they are stored."""
    import threading

    from engine.distributed import launch

    plural = "process" if topology.nproc == 1 else "processes"
    where = f"{topology.nproc} {plural}" + (
        f" on each of {topology.nnodes} machines" if topology.nnodes > 1 else ""
    )
    typer.echo(f"run {run_id}: DistributedDataParallel over {where} (torchrun)")
    if topology.nnodes > 1:
        typer.echo(
            f"on each other machine: resnet-tui --runs-dir {s.root} train --resume {run_id} "
            + " ".join(topology.args)
        )
    done = threading.Event()

    def follow() -> None:
        reader = s.metrics_reader(run_id)
        while True:
            finished = done.wait(1.0)
            for m in reader.poll().records:
                if m.get("kind") == "epoch":
                    typer.echo(
                        f"epoch {m['epoch']:>3}  loss {m['train_loss']:.4f} acc "
                        f"{m['train_acc']:.4f} | val loss {m['val_loss']:.4f} acc "
                        f"{m['val_acc']:.4f} | {m['seconds']:.1f}s"
                    )
            if finished:
                return

    follower = None if quiet else threading.Thread(target=follow, daemon=True)
    if follower is not None:
        follower.start()
    try:
        doc = launch(s, run_id, topology.nproc, topology.nnodes, topology.rdzv_endpoint)
    finally:
        done.set()
        if follower is not None:
            follower.join()
    best, test = doc.get("best") or {}, doc.get("test") or {}
    line = f"{doc['status']}: {doc.get('message', '')}"
    if best.get("val_acc") is not None:
        line += f" | best val acc {best['val_acc']:.4f}"
    if test.get("test_acc") is not None:
        line += f" | test acc {test['test_acc']:.4f}"
    typer.echo(line + f" | run {run_id}")
    if doc["status"] not in ("finished", "stopped", "running"):
        raise typer.Exit(1)


def _train_rank(s: RunStore, resume: str | None) -> None:
    """One rank of a distributed run: rank 0 owns the run (the store), the others train."""
    from engine import distributed
    from engine.runner import execute, execute_rank

    if not resume:
        fail("a distributed rank trains an existing run: --resume RUN")
    run_id = s.resolve(resume or "")
    try:
        if distributed.rank() == 0:
            execute(s, run_id)
        else:
            distributed.silence_stdout()
            execute_rank(s, run_id)
    finally:
        distributed.shutdown()


def register(app: typer.Typer) -> None:
    """Add ``train`` to the CLI."""
    app.command("train")(user_errors(train))
