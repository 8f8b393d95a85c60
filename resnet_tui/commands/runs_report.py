"""``resnet-tui runs diff A B`` and ``runs export``, and the ``--format`` every run table
takes (``runs list|best --format csv|md|json``): runs set against a baseline, and the store
taken out of the console whole.

The diff is the engine's (``api.diff_runs``: config, provenance, final metrics, deltas of B
against A); the rows of an export are ``api.export_row``'s; CSV and Markdown are
``api.to_csv``/``api.to_markdown``, as the Best view's exports. Nothing is cut: a table
through ``_table`` keeps names and numbers whole at any width, and the other formats print
every column.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from resnet_tui.commands import _table as t
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

if TYPE_CHECKING:
    from engine import api


TABLE, CSV, MD, JSON = "table", "csv", "md", "json"
FORMATS = (TABLE, CSV, MD, JSON)
FILE_FORMATS = (CSV, MD, JSON)

FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        metavar="FORMAT",
        help="table, csv, md or json (csv, md, json: every column, nothing cut) [table].",
    ),
]
FileFormatOption = Annotated[
    str,
    typer.Option(
        "--format", "-f", metavar="FORMAT", help="csv, md or json [csv].", show_default=False
    ),
]


def chosen(fmt: str | None, as_json: bool, allowed: Sequence[str] = FORMATS) -> str:
    """The format asked for, checked: ``--json`` is ``--format json``; both, differing, is
    refused."""
    value = fmt.lower() if fmt is not None else None
    if value is not None and value not in allowed:
        fail(f"--format {fmt}: not a format here; one of {', '.join(allowed)}")
    if as_json and value not in (None, JSON):
        fail(f"--json and --format {fmt} disagree; give one of them")
    return JSON if as_json else (value or allowed[0])


def rows_text(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: str) -> str:
    """``rows`` as CSV, Markdown or JSON, every column, values whole."""
    from engine import api

    if fmt == JSON:
        import json

        return json.dumps(list(rows), indent=2, default=str) + "\n"
    cells = api.text_cells(rows)
    if fmt == CSV:
        return api.to_csv(cells, list(columns))
    return api.to_markdown(cells, list(columns))


def print_rows(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: str) -> None:
    typer.echo(rows_text(rows, columns, fmt), nl=False)


# ---------------------------------------------------------------- runs diff


def _diff_rows(diff: api.RunDiff, section: str, everything: bool) -> list[dict[str, Any]]:
    from resnet_tui.widgets import format as units

    return [
        {
            "key": row.key,
            "a": units.diff_value(row.key, row.values[0]),
            "b": units.diff_value(row.key, row.values[1]),
            "delta": units.diff_delta(row.key, row.deltas[1]),
            "mark": "≠" if row.differs else "",
        }
        for row in diff.section(section, differing_only=not everything)
    ]


SECTION_TITLES = {
    "config": "config",
    "provenance": "provenance (as recorded)",
    "metrics": "final metrics (the best epoch's; test; time trained)",
}


def runs_diff(
    a: Annotated[str, typer.Argument(metavar="A", help="The baseline run: id, prefix or name.")],
    b: Annotated[str, typer.Argument(metavar="B", help="The run set against it.")],
    everything: Annotated[
        bool, typer.Option("--all", "-a", help="Every key, not only those that differ.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """What differs between two runs: config keys, provenance (where recorded) and final
    metrics, with B's difference from A (the baseline): points for accuracies."""
    from engine import api

    s = store()
    first, second = api.get_run(s, a), api.get_run(s, b)
    if first.id == second.id:
        fail(f"A and B are the same run ({first.id}); give two runs")
    epochs = {}
    warnings: list[str] = []
    for record in (first, second):
        metrics = api.read_metrics(s, record.id)
        warnings += metrics.warnings
        epochs[record.id] = metrics.epochs
    show_warnings(s, warnings)
    diff = api.diff_runs([first, second], epochs)
    if as_json:
        print_json(diff.to_json(differing_only=not everything))
        return
    c = console()
    c.print(f"baseline (A): {first.name}  {first.id}", markup=False, overflow="fold")
    c.print(f"B:            {second.name}  {second.id}", markup=False, overflow="fold")
    columns = [
        t.ident("key"),
        t.number("a", first.name, str, whole_header=True),
        t.number("b", second.name, str, whole_header=True),
        t.number("delta", "B - A", t.cell, whole_header=True),
    ]
    for section, title in SECTION_TITLES.items():
        rows = _diff_rows(diff, section, everything)
        total = len(diff.section(section))
        if not total:
            c.print(f"{title}: not recorded", markup=False)
            continue
        if not rows:
            c.print(f"{title}: the same ({total} keys)", markup=False)
            continue
        shown = [
            {**r, "key": f"{r['mark'] or ' '} {r['key']}" if everything else r["key"]} for r in rows
        ]
        differing = len(diff.section(section, differing_only=True))
        t.print_table(f"{title}: {differing} of {total} differ", columns, shown, c)
    if not everything:
        c.print("--all shows every key; accuracy differences in percentage points", style="dim")


# ---------------------------------------------------------------- runs export


def export_rows(records: Sequence[api.RunRecord]) -> tuple[list[dict[str, Any]], list[str]]:
    """Every column of every record given (the caller chooses the records: a filter such
    as ``--where`` narrows them before)."""
    from engine import api

    rows = [api.export_row(r) for r in records]
    return rows, api.export_columns(rows)


def runs_export(
    fmt: FileFormatOption = CSV,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", metavar="FILE", help="Write to FILE [standard output]."),
    ] = None,
    where: WhereOption = None,
) -> None:
    """Every run, every column (config keys as config.section.key), nothing cut: CSV,
    Markdown or JSON, for a spreadsheet, a notebook or a paper."""
    from engine import api

    fmt = chosen(fmt, False, FILE_FORMATS)
    query = parse_where(where)
    s = store()
    records = select_where(api.list_runs(s), query)
    show_warnings(s)
    rows, columns = export_rows(records)
    text = rows_text(rows, columns, fmt)
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}; choose another --out")
    typer.echo(f"wrote {len(rows)} runs, {len(columns)} columns to {out}", err=True)


def register(group: typer.Typer) -> None:
    """Add ``diff`` and ``export`` to the ``runs`` group."""
    command(group, "diff", runs_diff)
    command(group, "export", runs_export)
