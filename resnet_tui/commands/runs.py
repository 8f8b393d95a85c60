"""``resnet-tui runs list/show/best/compare/rename/rm/stop``: browse and manage the run store.
``list`` and ``best`` take ``--where EXPR`` (``engine.query``, through ``api.parse_query``).

``register(app)`` adds the group. Everything goes through the engine API (``api.list_runs``,
``api.get_run``, ``api.read_metrics``, ``api.best_stats_row`` ...), which answers with typed
records; nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from resnet_tui import marks
from resnet_tui.commands import _table as t
from resnet_tui.commands import marks as mark_commands
from resnet_tui.commands import runs_predictions, runs_report
from resnet_tui.commands._lines import hanging, print_wrapped
from resnet_tui.commands._shared import (
    JsonOption,
    WhereOption,
    command,
    console,
    fail,
    parse_where,
    print_json,
    select_where,
    show_warnings,
    store,
)
from resnet_tui.commands.runs_report import TABLE, FormatOption

if TYPE_CHECKING:
    from engine import api

# At 80 columns: name, id, status, epoch and both accuracies; the rest where they fit.
MARK = t.Column("mark", "", t.NUMBER, str)  # ⚑ pinned, ⊟ archived: whole, never left out
RUN_COLUMNS = (
    MARK,
    t.ident("name"),
    t.ident("id"),
    t.secondary("model"),
    t.secondary("dataset"),
    t.secondary("status", keep=1),
    t.number("epoch"),
    t.accuracy("best_val_acc", "best val"),
    t.accuracy("test_acc", "test acc"),
    t.secondary("params", right=True),
    t.secondary("started"),
    t.Column("tags", "tags", t.DESCRIPTION, lambda tags: marks.tags_text(tags) or "-"),
)
RunArgument = Annotated[
    str, typer.Argument(metavar="RUN", help="A run: its id, a prefix, its name.")
]
RunsArgument = Annotated[
    list[str], typer.Argument(metavar="RUN", help="Runs: ids, prefixes or names.")
]
ArchivedOption = Annotated[
    bool, typer.Option("--archived", help="Include archived runs (marked ⊟).")
]
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
        "tags": list(record.tags),
        "pinned": record.pinned,
        "archived": record.archived,
    }


RUN_KEYS = tuple(c.key for c in RUN_COLUMNS if c.key != "mark")


def wants_archived(query: api.Query | None) -> bool:
    """A ``--where`` that compares ``archived`` looks at archived runs too."""
    return query is not None and "archived" in query.fields


def marked(columns: Sequence[t.Column], rows: list[dict[str, Any]]) -> list[t.Column]:
    """``columns`` without the marks and the tags when no row has any (the table as it was
    before runs had marks)."""
    return [c for c in columns if c.key not in ("mark", "tags") or any(r.get(c.key) for r in rows)]


def runs_list(
    status: Annotated[
        list[str] | None,
        typer.Option(
            metavar="STATUS", help="Only runs with this status (repeatable): running, finished, ..."
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            metavar="N", help=f"Print the newest N runs [{LIST_LIMIT}; csv, md, json: every run]."
        ),
    ] = None,
    show_all: Annotated[bool, typer.Option("--all", "-a", help="Print every run.")] = False,
    where: WhereOption = None,
    archived: ArchivedOption = False,
    as_json: JsonOption = False,
    fmt: FormatOption = None,
) -> None:
    """The runs, pinned first, then newest first (the newest 50 unless --all or --limit);
    archived runs only with --archived."""
    from engine import api

    out = runs_report.chosen(fmt, as_json)
    for value in status or []:
        if value not in api.STATUSES:
            fail(f"--status {value}: not a run status; one of {', '.join(api.STATUSES)}")
    if limit is not None and limit < 1:
        fail(f"--limit: must be at least 1, got {limit}")
    query = parse_where(where)
    s = store()
    records = api.list_runs(s)
    show_warnings(s)
    if status:
        records = [r for r in records if r.status in status]
    archived = archived or wants_archived(query)
    hidden = 0 if archived else marks.hidden_count(select_where(records, query))
    records = select_where(marks.shown(records, archived), query)
    total = len(records)
    if limit is None and not show_all and out == TABLE:  # csv, md, json: every run
        limit = LIST_LIMIT
    if limit is not None and not show_all:
        records = records[:limit]
    if out != TABLE:
        rows = [_row(r) for r in records]
        runs_report.print_rows(rows, list(rows[0]) if rows else list(RUN_KEYS), out)
        return
    if not records:
        which = f"{' or '.join(status)} runs" if status else "runs"
        if query is not None:
            typer.echo(f"no {which} in {s.root} match --where {where}")
            return
        if hidden:
            typer.echo(f"no {which} to show in {s.root}: {marks.hidden_line(hidden)}")
            return
        typer.echo(f"no {which} in {s.root}; start one with `resnet-tui train digits-quick`")
        return
    rows = [{**_row(r), "mark": marks.mark(r)} for r in records]
    t.print_table(f"runs in {s.root}", marked(RUN_COLUMNS, rows), rows, console())
    if len(records) < total:
        typer.echo(f"the newest {len(records)} of {total:,} runs; --all or --limit N for more")
    if hidden:
        typer.echo(marks.hidden_line(hidden))


EPOCH_COLUMNS = (
    t.number("epoch"),
    t.number("train_loss", "train loss"),
    t.accuracy("train_acc", "train acc"),
    t.number("val_loss", "val loss"),
    t.accuracy("val_acc", "val acc"),
    t.number("lr", show=lambda v: t.value_text("lr", v)),
    t.number("seconds", show=lambda v: t.value_text("seconds", v)),
)


def runs_show(run: RunArgument, as_json: JsonOption = False) -> None:
    """One run: its status, best and test stats, per-epoch metrics and config."""
    from rich.text import Text

    from engine import api

    s = store()
    record = api.get_run(s, run)
    metrics = api.read_metrics(s, record.id)
    show_warnings(s, metrics.warnings)
    system = api.system_summary(metrics)
    bottleneck = api.bottleneck_words(system.data_wait_share, record.preset)
    if as_json:
        split = api.time_split(metrics.epochs)
        calibration, _ = api.read_calibration(s, record.id)
        print_json(
            {
                "run": record.to_json(),
                "metrics": metrics.epochs,
                "time_split": split.to_json() if split else None,
                "calibration": calibration.to_json() if calibration else None,
                "system": {**system.to_json(), "bottleneck": bottleneck},
                "provenance": dict(record.provenance) or None,
            }
        )
        return
    c = console()
    head = [record.id, record.name, f"status {record.status}"]
    for line in hanging(
        "  ".join(head + ([f"({record.message})"] if record.message else [])), c.width
    ):
        text = Text(line)
        text.highlight_words([record.id, f"status {record.status}"], "bold")
        c.print(text, overflow="fold")
    lines = [
        f"model {record.model}  dataset {record.dataset}  params {t.cell(record.params)}  "
        f"device {record.device or '-'}  epoch {record.epoch}/{record.epochs}",
        *mark_lines(record),
    ]
    if record.best:
        best = record.best.to_json()
        lines.append("best: " + "  ".join(f"{k} {t.value_text(k, v)}" for k, v in best.items()))
    if record.test:
        test = record.test.to_json()
        lines.append("test: " + "  ".join(f"{k} {t.value_text(k, v)}" for k, v in test.items()))
    if record.data:
        lines += data_lines(record.data)
    print_wrapped(c, lines)
    if metrics.epochs:
        rows: list[dict[str, Any]] = [dict(m) for m in metrics.epochs[-15:]]
        t.print_table("epochs", EPOCH_COLUMNS, rows, c)
    split = api.time_split(metrics.epochs)
    lines = ["time: " + split.describe()[0], *split.describe()[1:]] if split is not None else []
    lines += [*system.describe(record.config), *([bottleneck] if bottleneck else [])]
    lines += api.provenance_lines(record, preset_text=False)
    print_wrapped(c, [*lines, f"folder: {api.run_folder(s, record.id)}"])


def mark_lines(record: api.RunRecord) -> list[str]:
    """The user's marks: pinned or archived, the tags, then the note (each of its lines)."""
    lines = []
    if record.pinned:
        lines.append(f"{marks.PIN} pinned: on top of the lists; the baseline in Compare")
    if record.archived:
        lines.append(
            f"{marks.ARCHIVED} archived: hidden from the lists; "
            f"restore it with `resnet-tui runs restore {record.id}`"
        )
    lines.append(f"tags: {marks.tags_text(record.tags) or '-'}")
    if record.note:
        lines += ["note:", *(f"  {line}" for line in record.note.splitlines())]
    else:
        lines.append("note: -")
    return lines


def data_lines(data: Mapping[str, Any]) -> list[str]:
    """What the trainer made of an image folder: the input, the path taken, what it skipped."""
    paths = {
        "memory": "in memory, decoded once",
        "memory-cache": "in memory, from the decode cache",
        "streaming": "streamed by DataLoader workers",
    }
    size, channels = data.get("image_size"), data.get("channels")
    lines = [
        f"data: {data.get('root', '-')}: input {channels}x{size}x{size} "
        f"({data.get('size_why', '')}); {paths.get(str(data.get('path')), data.get('path'))}"
    ]
    skipped = data.get("skipped") or 0
    if skipped:
        lines.append(f"data: skipped {skipped} file{'s' if skipped != 1 else ''}:")
        lines += [f"  {example}" for example in data.get("skipped_examples", [])]
    return lines


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
    t.ident("run"),
    t.secondary("model"),
    t.number("train_loss", "train loss"),
    t.number("val_loss", "val loss"),
    t.accuracy("train_acc", "train acc"),
    t.accuracy("val_acc", "val acc"),
    t.number("best_epoch", "best epoch", show=lambda v: t.value_text("best_epoch", v)),
    t.accuracy("test_acc", "test acc"),
    t.accuracy("max_val_acc", "max val acc"),
)
BEST_NOTE = "columns from the best epoch (best.pt's); max val acc: the highest of any epoch"
BEST_TABLE = (MARK, *BEST_COLUMNS)


def runs_best(
    runs: Annotated[
        list[str] | None,
        typer.Argument(metavar="RUN", help="Runs to include [all but the archived]."),
    ] = None,
    where: WhereOption = None,
    archived: ArchivedOption = False,
    as_json: JsonOption = False,
    fmt: FormatOption = None,
) -> None:
    """Seed 000's "Best Stats Per Model" table: each run's best epoch (the kept checkpoint's),
    every column from that epoch, and the highest val accuracy of any epoch apart. Pinned
    runs first; archived runs only when named or with --archived."""
    from engine import api

    query = parse_where(where)
    out = runs_report.chosen(fmt, as_json)
    s = store()
    records = [api.get_run(s, r) for r in runs] if runs else api.list_runs(s)
    records = [r for r in records if r.epoch]
    archived = archived or bool(runs) or wants_archived(query)
    hidden = 0 if archived else marks.hidden_count(select_where(records, query))
    records = select_where(marks.shown(records, archived), query)
    rows = best_stats(records, s)
    if out != TABLE:
        runs_report.print_rows(rows, list(rows[0]) if rows else [c.key for c in BEST_COLUMNS], out)
        return
    if not rows:
        matching = f" matching --where {where}" if query is not None else ""
        typer.echo(
            f"no run to show: {marks.hidden_line(hidden)}"
            if hidden and query is None
            else f"no run{matching} has finished an epoch yet"
        )
        return
    c = console()
    for row, record in zip(rows, records, strict=True):
        row["mark"] = marks.mark(record)
    t.print_table("Best Stats Per Model", marked(BEST_TABLE, rows), rows, c)
    c.print(BEST_NOTE, markup=False)
    if hidden:
        c.print(marks.hidden_line(hidden), markup=False)


def runs_compare(runs: RunsArgument, as_json: JsonOption = False) -> None:
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
    labels = [r.name or r.id for r in records]
    columns = [t.number(f"run{i}", label, str, whole_header=True) for i, label in enumerate(labels)]
    c = console()
    if differing:
        rows = [
            {"key": key, **{f"run{i}": t.config_value(v) for i, v in enumerate(values)}}
            for key, values in differing.items()
        ]
        t.print_table("config keys that differ", [t.ident("key"), *columns], rows, c)
    else:
        typer.echo("the configs are identical")
    stat_rows = [
        {
            "stat": STAT_LABELS.get(col.key, col.label()),
            **{f"run{i}": col.show(row.get(col.key)) for i, row in enumerate(stats)},
        }
        for col in (*BEST_COLUMNS[2:], ECE_COLUMN)
    ]
    title = "the best epoch of each run (the kept checkpoint's)"
    t.print_table(title, [t.ident("stat"), *columns], stat_rows, c)


STAT_LABELS = {"max_val_acc": "max val acc (any epoch)", "test_ece": "test ECE (15 bins)"}
ECE_COLUMN = t.accuracy("test_ece", "test ECE")  # compare's row; not in the Best table


def runs_rename(
    run: RunArgument,
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="Its new name (unique in the store).")
    ],
) -> None:
    """Give a run another name; refused when another run has it (names are unique)."""
    from engine import api

    s = store()
    before = api.get_run(s, run)
    record = api.rename_run(s, before.id, name)
    typer.echo(f"renamed run {record.id}: '{before.name}' -> '{record.name}'")


def runs_rm(
    runs: RunsArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
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


def runs_stop(run: RunArgument) -> None:
    """Stop a running run gracefully: it finishes the step, checkpoints and is marked stopped."""
    from engine import api

    record = api.stop_run(store(), run)
    typer.echo(
        f"asked run {record.id} to stop; resume it with `resnet-tui train --resume {record.id}`"
    )


def register(app: typer.Typer) -> None:
    """Add the ``runs`` group to the CLI."""
    group = typer.Typer(help="Browse the run store.", no_args_is_help=True)
    command(group, "list", runs_list)
    command(group, "show", runs_show)
    command(group, "best", runs_best)
    command(group, "compare", runs_compare)
    command(group, "rename", runs_rename)
    mark_commands.register(group)
    command(group, "rm", runs_rm)
    command(group, "stop", runs_stop)
    runs_report.register(group)
    runs_predictions.register(group)
    app.add_typer(group, name="runs")
