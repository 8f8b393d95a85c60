"""``resnet-tui report RUN... --out report.html``: runs as one self-contained HTML file to mail
or attach to a paper (``_html`` renders it: inline SVG curves, confusion heatmaps with class
names, the best-stats table, the config diff against the first run, provenance).

A run that has not finished an epoch has nothing to report: refused before anything is
written, with the engine's words (``api.require_metrics``).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from resnet_tui.commands._shared import command, fail, show_warnings, store


def report(
    runs: Annotated[
        list[str],
        typer.Argument(
            metavar="RUN", help="Runs (ids, prefixes or names); the first is the baseline."
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE",
            help="The HTML file to write [report.html].",
            show_default=False,
        ),
    ] = Path("report.html"),
) -> None:
    """Write runs as one self-contained HTML file (no script, nothing fetched): curves,
    confusion heatmaps, best stats, config diff against the first run, provenance."""
    from engine import api
    from resnet_tui.commands import _html

    s = store()
    records = list({r.id: r for r in (api.get_run(s, ref) for ref in runs)}.values())
    items: list[_html.ReportRun] = []
    warnings: list[str] = []
    for record in records:
        metrics = api.read_metrics(s, record.id)
        warnings += metrics.warnings
        api.require_metrics(record, metrics.epochs)
        confusion, why = api.read_confusion(s, record.id)
        items.append(_html.ReportRun(record, metrics.epochs, confusion, why))
    show_warnings(s, warnings)
    diff = api.diff_runs(records, {r.record.id: r.epochs for r in items})
    stamp = datetime.now().astimezone().isoformat(timespec="seconds")
    text = _html.render(items, diff, stamp)
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}; choose another --out")
    count = f"{len(items)} run{'s' if len(items) != 1 else ''}"
    typer.echo(f"wrote {out} ({len(text.encode('utf-8')):,} bytes, {count})")


def register(app: typer.Typer) -> None:
    command(app, "report", report)
