"""``resnet-tui train``: one run, in this process with a progress bar, detached, or over
several processes and machines (torchrun).

``register(app)`` adds it. A request goes through the engine API: ``api.plan_run`` (every
mistake at once), ``compute.check_run`` (data, model, device, disk), ``api.create_run``, then
``api.start_run`` (detached) or ``compute.train`` here; ``--resume`` asks ``api.check_resume``
first. torchrun's ranks are the engine's own processes (``python -m engine.worker rank``).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Annotated

import typer

from resnet_tui.commands._shared import (
    SetOption,
    command,
    console,
    fail,
    note_name,
    show_warnings,
    store,
)

if TYPE_CHECKING:
    from engine import api


def train(
    preset: Annotated[
        str | None,
        typer.Argument(metavar="PRESET", help="A preset name or a TOML file [digits-quick]."),
    ] = None,
    sets: SetOption = None,
    name: Annotated[str, typer.Option(metavar="NAME", help="A name for the run.")] = "",
    resume: Annotated[
        str | None,
        typer.Option(metavar="RUN", help="Continue a stopped or crashed run (id, prefix or name)."),
    ] = None,
    detach: Annotated[
        bool, typer.Option(help="Train in the background; follow it with `runs show` or the TUI.")
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(help="No progress bar, no epoch lines: the run's id, then its last line."),
    ] = False,
    nproc: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help="Processes per machine for this run (one per GPU, or CPU processes): "
            "DistributedDataParallel under torchrun [train.devices].",
        ),
    ] = None,
    nnodes: Annotated[
        int,
        typer.Option(
            metavar="N", help="Machines in the run; start the same run on each (docs/SCALE.md)."
        ),
    ] = 1,
    rdzv_endpoint: Annotated[
        str,
        typer.Option(metavar="HOST:PORT", help="Where the machines of a multi-node run meet."),
    ] = "",
) -> None:
    """Train a run from a preset (or resume one) with a live progress bar."""
    import os

    from engine import api

    s = store()
    if resume:
        if preset or sets:
            fail("--resume continues a run with its own config; drop PRESET and --set")
        run_id = api.resolve_run(s, resume)
        if detach:
            launched = api.resume_run(s, run_id, nproc=nproc, nnodes=nnodes, rdzv=rdzv_endpoint)
            _say_detached(launched)
            return
        record = api.check_resume(s, run_id, nproc=nproc, nnodes=nnodes, rdzv=rdzv_endpoint)
    else:
        request = api.RunRequest(
            preset,
            tuple(sets or ()),
            name=name,
            nproc=nproc,
            nnodes=nnodes,
            rdzv_endpoint=rdzv_endpoint,
        )
        plan = api.plan_run(request)  # every mistake of the request at once, before torch loads
        from engine.api import compute

        checked = compute.check_run(plan, s.root)  # the data, the model for it, device, disk
        for warning in checked.warnings:
            typer.echo(f"warning: {warning}", err=True)
        # Training here: our pid makes the run show as crashed if we die before it starts.
        record = api.create_run(s, plan, owner_pid=None if detach else os.getpid())
        note_name(record)
        if detach:
            _say_detached(api.start_run(s, record.id, plan))
            return
    devices = int(record.config.get("train", {}).get("devices", 1))
    if devices > 1 or nnodes > 1 or rdzv_endpoint:
        _train_distributed(s, record.id, devices, nnodes, rdzv_endpoint, quiet)
        return
    from engine.api import compute
    from resnet_tui.progress import outcome, train_with_progress

    try:
        if quiet:
            log = api.run_folder(s, record.id) / "train.log"
            typer.echo(f"run {record.id} ({record.name}) training; log: {log}")
            final = compute.train(s, record.id)
            typer.echo(outcome(final))
        else:
            final = train_with_progress(s, record.id, console())
    finally:
        show_warnings(s)
    if final.status not in ("finished", "stopped"):
        raise typer.Exit(1)


def _say_detached(launched: api.Launched) -> None:
    typer.echo(
        f"run {launched.what} training in the background (pid {launched.pid}); log: {launched.log}"
    )


def _train_distributed(
    s: api.RunStore, run_id: str, nproc: int, nnodes: int, rdzv_endpoint: str, quiet: bool
) -> None:
    """Train ``run_id`` over torchrun here and print rank 0's epoch lines as they are stored."""
    from engine import api
    from engine.api import compute
    from resnet_tui.progress import epoch_line, outcome

    plural = "process" if nproc == 1 else "processes"
    where = f"{nproc} {plural}" + (f" on each of {nnodes} machines" if nnodes > 1 else "")
    typer.echo(f"run {run_id}: DistributedDataParallel over {where} (torchrun)")
    if nnodes > 1:
        typer.echo(
            f"on each other machine: resnet-tui --runs-dir {s.root} train --resume {run_id} "
            f"--nnodes {nnodes} --rdzv-endpoint {rdzv_endpoint}"
        )
    done = threading.Event()

    def follow() -> None:
        reader = api.follow_metrics(s, run_id)
        while True:
            finished = done.wait(1.0)
            for m in reader.poll().records:
                if m.get("kind") == "epoch":
                    typer.echo(f"epoch {m['epoch']:>3}  " + epoch_line(m))
            if finished:
                return

    follower = None if quiet else threading.Thread(target=follow, daemon=True)
    if follower is not None:
        follower.start()
    try:
        record = compute.train(s, run_id, nnodes=nnodes, rdzv_endpoint=rdzv_endpoint)
    finally:
        done.set()
        if follower is not None:
            follower.join()
    typer.echo(outcome(record))
    if record.status not in ("finished", "stopped", "running"):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``train`` to the CLI."""
    command(app, "train", train)
