"""The ``resnet-tui`` command line (Typer + Rich).

Heavy modules (torch, the trainer, Textual) are imported inside the commands that need them,
so ``resnet-tui --help`` and ``resnet-tui runs list`` start fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Annotated, Any, NamedTuple, TypeVar

import typer
from typer.core import TyperGroup

from engine.errors import UserError
from resnet_tui.commands import JsonOption, SetOption


class OneLineErrors(TyperGroup):
    """Usage errors (an unknown option or command, a missing argument) as one line, exit 2,
    like every other user error, instead of Click's usage block."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        # Click's classes, whether Typer vendors Click or depends on it.
        ancestry = {c.__name__: c for c in typer.BadParameter.__mro__}
        usage_error, click_exception = ancestry["UsageError"], ancestry["ClickException"]
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except click_exception as exc:
            if not isinstance(exc, usage_error) or type(exc).__name__ == "NoArgsIsHelpError":
                exc.show()  # NoArgsIsHelpError shows the help
                sys.exit(exc.exit_code)
            ctx = getattr(exc, "ctx", None)
            command = ctx.command_path if ctx is not None else "resnet-tui"
            typer.echo(f"error: {exc.format_message()} (see `{command} --help`)", err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.echo("aborted", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    help="A terminal console for ResNet image-classification experiments.\n\n"
    "Run without a command to open the console.",
    no_args_is_help=False,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    cls=OneLineErrors,
)
runs_app = typer.Typer(help="Browse the run store.", no_args_is_help=True)
presets_app = typer.Typer(help="Presets: partial configs with a description.", no_args_is_help=True)
models_app = typer.Typer(help="The model registry.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
app.add_typer(presets_app, name="presets")
app.add_typer(models_app, name="models")

F = TypeVar("F", bound=Callable[..., Any])


class State:
    runs_dir: str | None = None


def store() -> Any:
    from engine.store import RunStore

    return RunStore(State.runs_dir)


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def user_errors(fn: F) -> F:
    """Print a user error as one line (exit 2) instead of a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UserError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            fail("interrupted", 130)

    return wrapper  # type: ignore[return-value]


def console() -> Any:
    from rich.console import Console

    return Console(highlight=False)


def show_warnings(s: Any) -> None:
    for warning in getattr(s, "warnings", []):
        typer.echo(f"warning: {warning}", err=True)


@app.callback(invoke_without_command=True)
def main_callback(
    ctx: typer.Context,
    runs_dir: Annotated[
        str | None,
        typer.Option("--runs-dir", envvar="RESNET_TUI_RUNS", help="The run store folder [./runs]."),
    ] = None,
) -> None:
    State.runs_dir = runs_dir
    if ctx.invoked_subcommand is None:
        open_console()


@user_errors
def open_console() -> None:
    from resnet_tui.app import ResnetApp

    console_app = ResnetApp(runs_dir=State.runs_dir)
    console_app.run()
    if console_app.return_code:  # an internal error: Textual printed its traceback
        raise typer.Exit(console_app.return_code)


@app.command()
@user_errors
def serve(
    host: Annotated[
        str, typer.Option(help="Address to bind; anything but 127.0.0.1 exposes the console.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
) -> None:
    """Serve the console to a browser (textual-serve), on localhost unless --host says otherwise."""
    from resnet_tui.serve import serve as serve_app

    try:
        serve_app(host, port, runs_dir=State.runs_dir)
    except OSError as exc:  # the address is taken, or not one of this machine's
        fail(f"cannot serve on {host}:{port}: {exc.strerror or exc}; choose another --port/--host")


# ---------------------------------------------------------------- train


@app.command()
@user_errors
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
        _check_buildable(config)
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
    s: Any, run_id: str, nproc: int | None, nnodes: int, rdzv_endpoint: str
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


def _train_distributed(s: Any, run_id: str, topology: _Topology, quiet: bool) -> None:
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


def _train_rank(s: Any, resume: str | None) -> None:
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


def _check_buildable(config: Any) -> None:
    """Refuse what only the registries, the data or the device can refuse before a run is
    created, so a bad request leaves no trace (engine.runner.preflight)."""
    from engine.runner import preflight

    preflight(config)


# ---------------------------------------------------------------- runs

RUN_COLUMNS = (
    "id",
    "name",
    "model",
    "dataset",
    "status",
    "epoch",
    "best_val_acc",
    "test_acc",
    "params",
    "started",
)
NARROW_RUN_COLUMNS = ("id", "status", "epoch", "best_val_acc", "test_acc")


def _row(doc: dict[str, Any]) -> dict[str, Any]:
    best, test = doc.get("best") or {}, doc.get("test") or {}
    return {
        "id": doc["id"],
        "name": doc.get("name", ""),
        "model": doc.get("model", ""),
        "dataset": doc.get("dataset", ""),
        "status": doc.get("status", ""),
        "epoch": f"{doc.get('epoch', 0)}/{doc.get('epochs', '?')}",
        "best_val_acc": best.get("val_acc"),
        "test_acc": test.get("test_acc"),
        "params": doc.get("params"),
        "started": (doc.get("started") or "")[:19],
    }


def _fmt(value: Any, column: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and column in ("seconds", "images_per_s"):
        return f"{value:.1f}"
    if isinstance(value, float) and column == "lr":
        return f"{value:.3g}"
    if isinstance(value, float) and column == "best_epoch":
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, int) and value >= 10_000:
        return f"{value:,}"
    return str(value)


def _table(title: str, columns: tuple[str, ...] | list[str], rows: list[dict[str, Any]]) -> Any:
    from rich import box
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in columns:
        text = col in ("id", "name", "model", "dataset", "status", "started", "run")
        # numeric headers on two lines ("val\nacc") keep the tables inside 80 columns
        header = col if text else col.replace("best_val_acc", "best val_acc").replace("_", "\n", 1)
        table.add_column(
            header,
            justify="left" if text else "right",
            no_wrap=True,
            overflow="fold" if col == "id" else "ellipsis",
        )
    for row in rows:
        table.add_row(*(_fmt(row.get(col), col) for col in columns))
    return table


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


LIST_LIMIT = 50  # rows `runs list` prints by default (newest first); --all prints every run


@runs_app.command("list")
@user_errors
def runs_list(
    status: Annotated[
        list[str] | None,
        typer.Option(help="Only runs with this status (repeatable): running, finished, ..."),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(help=f"Print the newest N runs [{LIST_LIMIT}; --json: every run]."),
    ] = None,
    show_all: Annotated[bool, typer.Option("--all", "-a", help="Print every run.")] = False,
    as_json: JsonOption = False,
) -> None:
    """The runs, newest first (the newest 50 unless --all or --limit)."""
    from engine.store import STATUSES

    for value in status or []:
        if value not in STATUSES:
            fail(f"--status {value}: not a run status; one of {', '.join(STATUSES)}")
    if limit is not None and limit < 1:
        fail(f"--limit: must be at least 1, got {limit}")
    s = store()
    docs = s.list_runs()
    show_warnings(s)
    if status:
        docs = [d for d in docs if d.get("status") in status]
    total = len(docs)
    if limit is None and not show_all and not as_json:
        limit = LIST_LIMIT
    if limit is not None and not show_all:
        docs = docs[:limit]
    if as_json:
        _print_json([_row(d) for d in docs])
        return
    if not docs:
        which = f"{' or '.join(status)} runs" if status else "runs"
        typer.echo(f"no {which} in {s.root}; start one with `resnet-tui train digits-quick`")
        return
    c = console()
    columns = RUN_COLUMNS if c.width >= 140 else NARROW_RUN_COLUMNS
    c.print(_table(f"runs in {s.root}", columns, [_row(d) for d in docs]))
    if len(docs) < total:
        typer.echo(f"the newest {len(docs)} of {total:,} runs; --all or --limit N for more")


@runs_app.command("show")
@user_errors
def runs_show(run: str, as_json: JsonOption = False) -> None:
    """One run: its status, best and test stats, per-epoch metrics and config."""
    s = store()
    run_id = s.resolve(run)
    doc = s.get(run_id)
    metrics = [m for m in s.read_metrics(run_id)[0] if m.get("kind") == "epoch"]
    show_warnings(s)
    if as_json:
        _print_json({"run": doc, "metrics": metrics})
        return
    c = console()
    c.print(
        f"[bold]{doc['id']}[/]  {doc.get('name', '')}  status [bold]{doc['status']}[/]"
        + (f"  ({doc['message']})" if doc.get("message") else "")
    )
    c.print(
        f"model {doc.get('model')}  dataset {doc.get('dataset')}  params "
        f"{_fmt(doc.get('params'))}  device {doc.get('device') or '-'}  epoch "
        f"{doc.get('epoch', 0)}/{doc.get('epochs')}"
    )
    best, test = doc.get("best") or {}, doc.get("test") or {}
    if best:
        c.print("best: " + "  ".join(f"{k} {_fmt(v, k)}" for k, v in best.items()))
    if test:
        c.print("test: " + "  ".join(f"{k} {_fmt(v)}" for k, v in test.items()))
    cols = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"]
    if metrics:
        c.print(_table("epochs", cols, metrics[-15:]))
    c.print(f"folder: {s.run_dir(run_id)}")


def best_stats(docs: list[dict[str, Any]], s: Any) -> list[dict[str, Any]]:
    """Seed 000's "Best Stats Per Model": per run, the best of each curve and the best epoch."""
    from engine.metrics import best_stats_row

    rows = []
    for doc in docs:
        epochs = [m for m in s.read_metrics(doc["id"])[0] if m.get("kind") == "epoch"]
        rows.append(best_stats_row(doc, epochs))
    return rows


BEST_COLUMNS = (
    "run",
    "model",
    "train_loss",
    "val_loss",
    "train_acc",
    "val_acc",
    "best_epoch",
    "test_acc",
)


@runs_app.command("best")
@user_errors
def runs_best(
    runs: Annotated[list[str] | None, typer.Argument(help="Runs to include [all].")] = None,
    as_json: JsonOption = False,
) -> None:
    """Seed 000's "Best Stats Per Model" table: best train/val loss and accuracy per run."""
    s = store()
    docs = [s.get(s.resolve(r)) for r in runs] if runs else s.list_runs()
    rows = best_stats([d for d in docs if d.get("epoch")], s)
    show_warnings(s)
    if as_json:
        _print_json(rows)
        return
    if not rows:
        typer.echo("no run has finished an epoch yet")
        return
    c = console()
    columns = BEST_COLUMNS if c.width >= 100 else tuple(k for k in BEST_COLUMNS if k != "model")
    c.print(_table("Best Stats Per Model", columns, rows))


@runs_app.command("compare")
@user_errors
def runs_compare(runs: list[str], as_json: JsonOption = False) -> None:
    """Two or more runs side by side: differing config keys and their best/test stats."""
    from engine.config import from_dict
    from engine.metrics import config_differences

    if len(runs) < 2:
        fail("compare needs at least two runs")
    s = store()
    docs = [s.get(s.resolve(r)) for r in runs]
    configs = [from_dict(d["config"]) for d in docs]
    differing = config_differences(configs)
    stats = best_stats(docs, s)
    show_warnings(s)
    if as_json:
        _print_json(
            {"runs": [d["id"] for d in docs], "config_differences": differing, "stats": stats}
        )
        return
    from rich.table import Table

    table = Table(title="compare", title_justify="left")
    table.add_column("")
    for d in docs:
        table.add_column(d.get("name") or d["id"], justify="right")
    for key, values in differing.items():
        table.add_row(key, *(_fmt(v) for v in values), style="yellow")
    for col in BEST_COLUMNS[2:]:
        table.add_row(col, *(_fmt(row.get(col)) for row in stats))
    console().print(table)
    if not differing:
        typer.echo("the configs are identical")


@runs_app.command("rm")
@user_errors
def runs_rm(
    runs: list[str], yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False
) -> None:
    """Delete runs (their folders and index entries). A running run must be stopped first."""
    s = store()
    ids = [s.resolve(r) for r in runs]
    for run_id in ids:
        doc = s.get(run_id)
        if doc["status"] in ("running", "queued") and s.is_alive(doc):
            fail(f"run {run_id} is running; stop it first (`resnet-tui runs stop {run_id}`)")
    if not yes and not typer.confirm(f"delete {len(ids)} run(s): {', '.join(ids)}?"):
        fail("nothing deleted", 1)
    for run_id in ids:
        s.delete(run_id)
        typer.echo(f"deleted {run_id}")


@runs_app.command("stop")
@user_errors
def runs_stop(run: str) -> None:
    """Stop a running run gracefully: it finishes the step, checkpoints and is marked stopped."""
    from engine.runner import request_stop

    s = store()
    run_id = s.resolve(run)
    request_stop(s, run_id)
    typer.echo(f"asked run {run_id} to stop; resume it with `resnet-tui train --resume {run_id}`")


# ---------------------------------------------------------------- presets


@presets_app.command("list")
@user_errors
def presets_list(as_json: JsonOption = False) -> None:
    """The presets and their descriptions."""
    from engine.presets import list_presets

    items = [
        {"name": p.name, "description": p.description, "path": str(p.path)} for p in list_presets()
    ]
    if as_json:
        _print_json(items)
        return
    console().print(_table("presets", ("name", "description"), items))


@presets_app.command("show")
@user_errors
def presets_show(name: str, sets: SetOption = None, as_json: JsonOption = False) -> None:
    """The fully resolved config of a preset (with any --set overrides)."""
    from engine.config import to_toml
    from engine.presets import load_preset, resolve

    preset = load_preset(name)
    config, _ = resolve(name, sets)
    if as_json:
        _print_json(
            {"name": preset.name, "description": preset.description, "config": config.to_dict()}
        )
        return
    typer.echo(f"# {preset.name}: {preset.description}\n# {preset.path}")
    typer.echo(to_toml(config.to_dict()))


# ---------------------------------------------------------------- models


@models_app.command("list")
@user_errors
def models_list(as_json: JsonOption = False) -> None:
    """Every registered architecture."""
    from engine.models import list_models

    items = [
        {"name": m.name, "family": m.family, "description": m.description} for m in list_models()
    ]
    if as_json:
        _print_json(items)
        return
    console().print(_table("models", ("name", "family", "description"), items))


@models_app.command("summary")
@user_errors
def models_summary(
    name: str,
    sets: SetOption = None,
    dataset: Annotated[str | None, typer.Option(help="Input shape from this dataset.")] = None,
) -> None:
    """The layer table of a model, ending with `Trainable params: N`."""
    from engine.config import RunConfig
    from engine.data import dataset_info
    from engine.data.augment import output_size
    from engine.models import create_model, summary

    overrides: list[str] = [f"model.name={name}", *(sets or [])]
    if dataset:
        overrides.append(f"data.name={dataset}")
    from engine.config import parse_override

    config = RunConfig().replace(dict(parse_override(o) for o in overrides))
    if not dataset and not any(o.startswith("data.") for o in overrides):
        config = config.replace({"data.name": _default_dataset(name)})
    info = dataset_info(config.data)
    size = output_size(config.augment, info.image_size)
    model = create_model(config.model, info.channels, info.num_classes, size)
    typer.echo(f"{name} on {info.name} ({info.channels}x{size}x{size}, {info.num_classes} classes)")
    typer.echo(summary(model, info.channels, size))


def _default_dataset(model_name: str) -> str:
    """Small digits models show on digits; everything else on CIFAR-10's 32x32x3 shape."""
    return "digits" if "digits" in model_name else "cifar10"


def _register_commands() -> None:
    import importlib

    for module in ("experiments", "sweeps"):
        try:
            mod = importlib.import_module(f"resnet_tui.commands.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"resnet_tui.commands.{module}":
                raise
            continue
        mod.register(app)


_register_commands()


def main() -> None:
    # Make `python -m resnet_tui` and the console script behave the same for Ctrl-C.
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
