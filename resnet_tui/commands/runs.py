"""``resnet-tui runs list/show/best/compare/rm/stop``: browse and manage the run store.

``register(app)`` adds the group. The tables are built from the index documents and the
metrics files (engine.store, engine.metrics); nothing here imports torch.
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
    from engine.store import RunStore

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
        print_json([_row(d) for d in docs])
        return
    if not docs:
        which = f"{' or '.join(status)} runs" if status else "runs"
        typer.echo(f"no {which} in {s.root}; start one with `resnet-tui train digits-quick`")
        return
    c = console()
    columns = RUN_COLUMNS if c.width >= 140 else NARROW_RUN_COLUMNS
    c.print(table(f"runs in {s.root}", columns, [_row(d) for d in docs]))
    if len(docs) < total:
        typer.echo(f"the newest {len(docs)} of {total:,} runs; --all or --limit N for more")


def runs_show(run: str, as_json: JsonOption = False) -> None:
    """One run: its status, best and test stats, per-epoch metrics and config."""
    s = store()
    run_id = s.resolve(run)
    doc = s.get(run_id)
    metrics = [m for m in s.read_metrics(run_id)[0] if m.get("kind") == "epoch"]
    show_warnings(s)
    if as_json:
        print_json({"run": doc, "metrics": metrics})
        return
    c = console()
    c.print(
        f"[bold]{doc['id']}[/]  {doc.get('name', '')}  status [bold]{doc['status']}[/]"
        + (f"  ({doc['message']})" if doc.get("message") else "")
    )
    c.print(
        f"model {doc.get('model')}  dataset {doc.get('dataset')}  params "
        f"{fmt(doc.get('params'))}  device {doc.get('device') or '-'}  epoch "
        f"{doc.get('epoch', 0)}/{doc.get('epochs')}"
    )
    best, test = doc.get("best") or {}, doc.get("test") or {}
    if best:
        c.print("best: " + "  ".join(f"{k} {fmt(v, k)}" for k, v in best.items()))
    if test:
        c.print("test: " + "  ".join(f"{k} {fmt(v)}" for k, v in test.items()))
    cols = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"]
    if metrics:
        c.print(table("epochs", cols, metrics[-15:]))
    c.print(f"folder: {s.run_dir(run_id)}")


def best_stats(docs: list[dict[str, Any]], s: RunStore) -> list[dict[str, Any]]:
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
        print_json(rows)
        return
    if not rows:
        typer.echo("no run has finished an epoch yet")
        return
    c = console()
    columns = BEST_COLUMNS if c.width >= 100 else tuple(k for k in BEST_COLUMNS if k != "model")
    c.print(table("Best Stats Per Model", columns, rows))


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
        print_json(
            {"runs": [d["id"] for d in docs], "config_differences": differing, "stats": stats}
        )
        return
    from rich.table import Table

    side_by_side = Table(title="compare", title_justify="left")
    side_by_side.add_column("")
    for d in docs:
        side_by_side.add_column(d.get("name") or d["id"], justify="right")
    for key, values in differing.items():
        side_by_side.add_row(key, *(fmt(v) for v in values), style="yellow")
    for col in BEST_COLUMNS[2:]:
        side_by_side.add_row(col, *(fmt(row.get(col)) for row in stats))
    console().print(side_by_side)
    if not differing:
        typer.echo("the configs are identical")


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


def runs_stop(run: str) -> None:
    """Stop a running run gracefully: it finishes the step, checkpoints and is marked stopped."""
    from engine.runner import request_stop

    s = store()
    run_id = s.resolve(run)
    request_stop(s, run_id)
    typer.echo(f"asked run {run_id} to stop; resume it with `resnet-tui train --resume {run_id}`")


def register(app: typer.Typer) -> None:
    """Add the ``runs`` group to the CLI."""
    group = typer.Typer(help="Browse the run store.", no_args_is_help=True)
    group.command("list")(user_errors(runs_list))
    group.command("show")(user_errors(runs_show))
    group.command("best")(user_errors(runs_best))
    group.command("compare")(user_errors(runs_compare))
    group.command("rm")(user_errors(runs_rm))
    group.command("stop")(user_errors(runs_stop))
    app.add_typer(group, name="runs")
