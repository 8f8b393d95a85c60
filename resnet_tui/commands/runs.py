"""``resnet-tui runs list/show/best/compare/rename/rm/stop``: browse and manage the run store.

``register(app)`` adds the group. Everything goes through the engine API (``api.list_runs``,
``api.get_run``, ``api.read_metrics``, ``api.best_stats_row`` ...), which answers with typed
records; nothing here imports torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from resnet_tui.commands._shared import (
    JsonOption,
    console,
    fail,
    fmt,
    print_json,
    show_warnings,
    store,
    table,
    user_errors,
)

if TYPE_CHECKING:
    from engine import api

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
LIST_LIMIT = 50  # rows `runs list` prints by default (newest first); --all prints every run


def _row(record: api.RunRecord) -> dict[str, Any]:
    best, test = record.best, record.test
    return {
        "id": record.id,
        "name": record.name,
        "model": record.model,
        "dataset": record.dataset,
        "status": record.status,
        "epoch": f"{record.epoch}/{record.epochs if record.epochs is not None else '?'}",
        "best_val_acc": best.val_acc if best else None,
        "test_acc": test.acc if test else None,
        "params": record.params,
        "started": (record.started or "")[:19],
    }


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
    from engine import api

    for value in status or []:
        if value not in api.STATUSES:
            fail(f"--status {value}: not a run status; one of {', '.join(api.STATUSES)}")
    if limit is not None and limit < 1:
        fail(f"--limit: must be at least 1, got {limit}")
    s = store()
    records = api.list_runs(s)
    show_warnings(s)
    if status:
        records = [r for r in records if r.status in status]
    total = len(records)
    if limit is None and not show_all and not as_json:
        limit = LIST_LIMIT
    if limit is not None and not show_all:
        records = records[:limit]
    if as_json:
        print_json([_row(r) for r in records])
        return
    if not records:
        which = f"{' or '.join(status)} runs" if status else "runs"
        typer.echo(f"no {which} in {s.root}; start one with `resnet-tui train digits-quick`")
        return
    c = console()
    columns = RUN_COLUMNS if c.width >= 140 else NARROW_RUN_COLUMNS
    c.print(table(f"runs in {s.root}", columns, [_row(r) for r in records]))
    if len(records) < total:
        typer.echo(f"the newest {len(records)} of {total:,} runs; --all or --limit N for more")


def runs_show(run: str, as_json: JsonOption = False) -> None:
    """One run: its status, best and test stats, per-epoch metrics and config."""
    from engine import api

    s = store()
    record = api.get_run(s, run)
    metrics = api.read_metrics(s, record.id)
    show_warnings(s, metrics.warnings)
    if as_json:
        print_json({"run": record.to_json(), "metrics": metrics.epochs})
        return
    c = console()
    c.print(
        f"[bold]{record.id}[/]  {record.name}  status [bold]{record.status}[/]"
        + (f"  ({record.message})" if record.message else "")
    )
    c.print(
        f"model {record.model}  dataset {record.dataset}  params {fmt(record.params)}  "
        f"device {record.device or '-'}  epoch {record.epoch}/{record.epochs}"
    )
    if record.best:
        best = record.best.to_json()
        c.print("best: " + "  ".join(f"{k} {fmt(v, k)}" for k, v in best.items()))
    if record.test:
        c.print("test: " + "  ".join(f"{k} {fmt(v)}" for k, v in record.test.to_json().items()))
    cols = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"]
    if metrics.epochs:
        rows: list[dict[str, Any]] = [dict(m) for m in metrics.epochs[-15:]]
        c.print(table("epochs", cols, rows))
    c.print(f"folder: {api.run_folder(s, record.id)}")


def best_stats(records: list[api.RunRecord], s: api.RunStore) -> list[dict[str, Any]]:
    """Seed 000's "Best Stats Per Model": per run, every column from its best epoch (the kept
    checkpoint's), and apart from it the highest val accuracy of any epoch (max_val_acc).
    Prints the warnings of the store and of the metrics files read."""
    from engine import api

    rows: list[dict[str, Any]] = []
    warnings: list[str] = []
    for record in records:
        metrics = api.read_metrics(s, record.id)
        warnings += metrics.warnings
        rows.append(api.best_stats_row(record, metrics.epochs))
    show_warnings(s, warnings)
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
    "max_val_acc",
)
BEST_NOTE = "columns from the best epoch (best.pt's); max val_acc: the highest of any epoch"


def runs_best(
    runs: Annotated[list[str] | None, typer.Argument(help="Runs to include [all].")] = None,
    as_json: JsonOption = False,
) -> None:
    """Seed 000's "Best Stats Per Model" table: each run's best epoch (the kept checkpoint's),
    every column from that epoch, and the highest val accuracy of any epoch apart."""
    from engine import api

    s = store()
    records = [api.get_run(s, r) for r in runs] if runs else api.list_runs(s)
    rows = best_stats([r for r in records if r.epoch], s)
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no run has finished an epoch yet")
        return
    c = console()
    columns: tuple[str, ...] = BEST_COLUMNS
    if c.width < 100:
        columns = tuple(k for k in columns if k != "model")
    if c.width < 80:
        columns = tuple(k for k in columns if k != "max_val_acc")
    c.print(table("Best Stats Per Model", columns, rows))
    if "max_val_acc" in columns:
        typer.echo(BEST_NOTE)


def runs_compare(runs: list[str], as_json: JsonOption = False) -> None:
    """Two or more runs side by side: differing config keys and their best/test stats."""
    from engine import api

    if len(runs) < 2:
        fail("compare needs at least two runs")
    s = store()
    records = [api.get_run(s, r) for r in runs]
    configs = [api.check_dict(r.config).unwrap() for r in records]
    differing = api.config_differences(configs)
    stats = best_stats(records, s)
    if as_json:
        print_json(
            {"runs": [r.id for r in records], "config_differences": differing, "stats": stats}
        )
        return
    from rich.table import Table

    side_by_side = Table(title="compare", title_justify="left")
    side_by_side.add_column("")
    for r in records:
        side_by_side.add_column(r.name or r.id, justify="right")
    for key, values in differing.items():
        side_by_side.add_row(key, *(fmt(v) for v in values), style="yellow")
    for col in BEST_COLUMNS[2:]:
        label = "max_val_acc (any epoch)" if col == "max_val_acc" else col
        side_by_side.add_row(label, *(fmt(row.get(col), col) for row in stats))
    console().print(side_by_side)
    if not differing:
        typer.echo("the configs are identical")


def runs_rename(
    run: Annotated[str, typer.Argument(help="The run (id, prefix or name).")],
    name: Annotated[str, typer.Argument(help="Its new name (unique in the store).")],
) -> None:
    """Give a run another name; refused when another run has it (names are unique)."""
    from engine import api

    s = store()
    before = api.get_run(s, run)
    record = api.rename_run(s, before.id, name)
    typer.echo(f"renamed run {record.id}: '{before.name}' -> '{record.name}'")


def runs_rm(
    runs: list[str], yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False
) -> None:
    """Delete runs (their folders and index entries). A running run must be stopped first."""
    from engine import api

    s = store()
    records = [api.get_run(s, r) for r in runs]
    for record in records:  # refuse before asking, and before deleting any
        if record.active and api.is_alive(record):
            fail(
                f"run {record.id} is {record.status}; stop it first "
                f"(`resnet-tui runs stop {record.id}`)"
            )
    ids = list(dict.fromkeys(r.id for r in records))
    if not yes and not typer.confirm(f"delete {len(ids)} run(s): {', '.join(ids)}?"):
        fail("nothing deleted", 1)
    for run_id in ids:
        api.delete_run(s, run_id)
        typer.echo(f"deleted {run_id}")


def runs_stop(run: str) -> None:
    """Stop a running run gracefully: it finishes the step, checkpoints and is marked stopped."""
    from engine import api

    record = api.stop_run(store(), run)
    typer.echo(
        f"asked run {record.id} to stop; resume it with `resnet-tui train --resume {record.id}`"
    )


def register(app: typer.Typer) -> None:
    """Add the ``runs`` group to the CLI."""
    group = typer.Typer(help="Browse the run store.", no_args_is_help=True)
    group.command("list")(user_errors(runs_list))
    group.command("show")(user_errors(runs_show))
    group.command("best")(user_errors(runs_best))
    group.command("compare")(user_errors(runs_compare))
    group.command("rename")(user_errors(runs_rename))
    group.command("rm")(user_errors(runs_rm))
    group.command("stop")(user_errors(runs_stop))
    app.add_typer(group, name="runs")
