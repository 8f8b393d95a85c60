"""The run report as one self-contained HTML file (``resnet-tui report``): inline SVG curves,
confusion heatmaps with class names, the best-stats table, the config diff against the first
run and each run's provenance. No script, no external resource (no font, no stylesheet, no
image link): it opens offline, mails, and prints.

Rendering is pure: typed records in, text out. Every string that came from a user (run
names, notes, config values, class names, paths) goes through ``html.escape``. Numbers read
as in the console and the CLI (``widgets.format``: accuracy in percent, differences in
percentage points).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any

from resnet_tui.widgets import format as units

if TYPE_CHECKING:
    from engine import api

TRAIN_COLOR = "#1f77b4"
VAL_COLOR = "#d9480f"
HEAT = (31, 78, 156)  # the darkest cell of a heatmap (a whole row in one cell)


@dataclass(frozen=True)
class ReportRun:
    """What the report shows of one run: its record, epoch lines and confusion matrices (or
    why it has none)."""

    record: api.RunRecord
    epochs: Sequence[api.EpochLine]
    confusion: api.Confusion | None
    confusion_note: str = ""


def e(value: Any) -> str:
    return escape(str(value), quote=True)


# ---------------------------------------------------------------- curves


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        return [low]
    raw = (high - low) / count
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if raw <= m * step)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def line_chart(
    title: str,
    epochs: Sequence[api.EpochLine],
    keys: Sequence[tuple[str, str, str]],
    percent: bool,
    best_epoch: int | None,
    width: int = 520,
    height: int = 260,
) -> str:
    """An SVG chart of ``keys`` ((line key, label, colour)) over the epochs, the best epoch
    marked by a dashed line."""
    left, right, top, bottom = 58, 16, 44, 40  # the legend and the best label above
    series = []
    for key, label, color in keys:
        points = [
            (int(m["epoch"]), float(v))
            for m in epochs
            if isinstance(v := m.get(key), int | float) and math.isfinite(v)
        ]
        series.append((label, color, points))
    xs = [x for _, _, pts in series for x, _ in pts]
    ys = [y for _, _, pts in series for _, y in pts]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{e(title)}">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{left}" y="18" class="chart-title">{e(title)}</text>',
    ]
    if not xs:
        out.append(f'<text x="{left}" y="{height // 2}" class="muted">no values</text></svg>')
        return "".join(out)
    x0, x1 = min(xs), max(xs)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    y0, y1 = (0.0, 1.0) if percent else (min(0.0, min(ys)), max(ys))
    if y1 == y0:
        y1 = y0 + 1
    span_w, span_h = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * span_w

    def py(y: float) -> float:
        return top + (1 - (y - y0) / (y1 - y0)) * span_h

    for tick in _ticks(y0, y1):
        label = f"{100 * tick:.0f}%" if percent else f"{tick:.3g}"
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{py(tick):.1f}" y2="{py(tick):.1f}" '
            f'class="grid"/><text x="{left - 6}" y="{py(tick) + 4:.1f}" class="tick" '
            f'text-anchor="end">{label}</text>'
        )
    for tick in _ticks(float(min(xs)), float(max(xs)), 6):
        if tick != int(tick):
            continue
        out.append(
            f'<text x="{px(tick):.1f}" y="{height - bottom + 16}" class="tick" '
            f'text-anchor="middle">{int(tick)}</text>'
        )
    out.append(
        f'<text x="{left + span_w / 2:.0f}" y="{height - 6}" class="tick" '
        'text-anchor="middle">epoch</text>'
    )
    out.append(f'<rect x="{left}" y="{top}" width="{span_w}" height="{span_h}" class="frame"/>')
    if best_epoch is not None and x0 <= best_epoch <= x1:
        bx = px(best_epoch)
        right_half = bx > left + span_w / 2  # the label on the side with room
        out.append(
            f'<line x1="{bx:.1f}" x2="{bx:.1f}" y1="{top}" y2="{top + span_h}" class="best"/>'
            f'<text x="{bx - 4 if right_half else bx + 4:.1f}" y="{top - 5}" class="tick" '
            f'text-anchor="{"end" if right_half else "start"}">best {best_epoch}</text>'
        )
    for i, (label, color, points) in enumerate(series):
        if points:
            path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
            out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
            if len(points) <= 30:
                out += [
                    f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5" fill="{color}"/>'
                    for x, y in points
                ]
        lx = width - right - 150 + 75 * i
        out.append(
            f'<line x1="{lx}" x2="{lx + 18}" y1="16" y2="16" stroke="{color}" '
            f'stroke-width="3"/><text x="{lx + 22}" y="20" class="tick">{e(label)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


# ---------------------------------------------------------------- confusion


def heatmap(classes: Sequence[str], matrix: Sequence[Sequence[int]], title: str) -> str:
    """An SVG confusion matrix: rows the true class, columns the predicted one, each cell
    shaded by its share of its row, its count written where the cell is big enough, and
    every cell titled (hover) with both class names."""
    k = len(classes)
    cell = max(6, min(36, 480 // max(k, 1)))
    label_w = min(160, 8 + 7 * max((len(c) for c in classes), default=1))
    left, top = label_w + 24, label_w + 40
    width, height = left + k * cell + 12, top + k * cell + 12
    font = max(6, min(11, cell - 4))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{e(title)}">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="4" y="16" class="chart-title">{e(title)}</text>',
        f'<text x="{left + k * cell / 2:.0f}" y="34" class="tick" text-anchor="middle">'
        "predicted class</text>",
        f'<text x="12" y="{top + k * cell / 2:.0f}" class="tick" text-anchor="middle" '
        f'transform="rotate(-90 12 {top + k * cell / 2:.0f})">true class</text>',
    ]
    for j, name in enumerate(classes):
        x = left + j * cell + cell / 2
        out.append(
            f'<text x="{x:.1f}" y="{top - 6}" class="tick" font-size="{font}" '
            f'transform="rotate(-60 {x:.1f} {top - 6})">{e(name)}</text>'
        )
    for i, name in enumerate(classes):
        y = top + i * cell + cell / 2 + font / 3
        out.append(
            f'<text x="{left - 6}" y="{y:.1f}" class="tick" font-size="{font}" '
            f'text-anchor="end">{e(name)}</text>'
        )
        row = list(matrix[i]) if i < len(matrix) else []
        total = sum(v for v in row if isinstance(v, int | float)) or 1
        for j in range(k):
            count = row[j] if j < len(row) else 0
            share = count / total if isinstance(count, int | float) else 0.0
            r, g, b = (round(255 - (255 - c) * share) for c in HEAT)
            x, y0 = left + j * cell, top + i * cell
            out.append(
                f'<rect x="{x}" y="{y0}" width="{cell}" height="{cell}" '
                f'fill="rgb({r},{g},{b})" stroke="#e0e0e0" stroke-width="0.5">'
                f"<title>true {e(name)}, predicted {e(classes[j])}: {e(count)} "
                f"({100 * share:.1f}% of {e(name)})</title></rect>"
            )
            if cell >= 22 and count:
                color = "#ffffff" if share > 0.5 else "#222222"
                out.append(
                    f'<text x="{x + cell / 2:.1f}" y="{y0 + cell / 2 + font / 3:.1f}" '
                    f'font-size="{font}" fill="{color}" text-anchor="middle">{e(count)}</text>'
                )
    out.append("</svg>")
    return "".join(out)


# ---------------------------------------------------------------- tables


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 1) -> str:
    """An HTML table; the cells are text already escaped by the caller's ``e`` (or made of
    numbers), the columns from ``numeric_from`` on right-aligned."""
    head = "".join(
        f'<th class="{"num" if i >= numeric_from else ""}">{e(h)}</th>'
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"num" if i >= numeric_from else ""}">{c}</td>' for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _with_delta(key: str, value: Any, delta: float | None, judged: bool = False) -> str:
    """A value and its difference from the baseline's; ``judged`` (a metric): green when
    better (a higher accuracy, a lower loss), red when worse."""
    text = e(units.diff_value(key, value))
    shown = units.diff_delta(key, delta) if delta else ""  # no "+0" beside an equal value
    if shown:
        judge = units.judge(key, delta) if judged else ""
        text += f' <span class="delta {judge}">{e(shown)}</span>'
    return text


BEST_KEYS = (
    ("best_epoch", "best epoch"),
    ("train_loss", "train loss"),
    ("val_loss", "val loss"),
    ("train_acc", "train acc"),
    ("val_acc", "val acc"),
    ("test_acc", "test acc"),
    ("max_val_acc", "max val acc"),
    ("epochs_done", "epochs"),
    ("elapsed_s", "time"),
)


def best_table(diff: api.RunDiff) -> str:
    """Seed 000's best-stats table, a row per run, each number with its difference from the
    first run's."""
    metrics = {row.key: row for row in diff.section("metrics")}
    rows = []
    for i, record in enumerate(diff.runs):
        cells = [e(record.name) + (' <span class="tag">baseline</span>' if i == 0 else "")]
        cells.append(e(record.model or "-"))
        for key, _ in BEST_KEYS:
            row = metrics.get(key)
            judged = key not in ("best_epoch", "epochs_done")
            cells.append(_with_delta(key, row.values[i], row.deltas[i], judged) if row else "-")
        rows.append(cells)
    headers = ["run", "model", *(label for _, label in BEST_KEYS)]
    return table(headers, rows, numeric_from=2)


def diff_table(diff: api.RunDiff, section: str, differing_only: bool) -> str:
    rows = diff.section(section, differing_only)
    if not rows:
        total = len(diff.section(section))
        what = "the same in every run" if total else "not recorded"
        return f'<p class="muted">{e(section)}: {what}.</p>'
    body = [
        [
            ("≠ " if row.differs else "") + e(row.key),
            *(
                _with_delta(row.key, v, d, section == "metrics")
                for v, d in zip(row.values, row.deltas, strict=True)
            ),
        ]
        for row in rows
    ]
    return table(["key", *(r.name for r in diff.runs)], body)


# ---------------------------------------------------------------- the page

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
margin:24px;color:#1d1d1f;background:#fff;max-width:1180px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid
#ddd;padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;font-size:13px;margin:6px 0 12px}
th,td{border:1px solid #d0d0d0;padding:3px 8px;text-align:left;vertical-align:top;
overflow-wrap:anywhere}th{background:#f2f4f7}.num{text-align:right;white-space:nowrap}
tbody tr:nth-child(even){background:#fafbfc}
.muted{color:#666}.delta{font-size:11px;color:#555}.delta.better{color:#1a7f37}
.delta.worse{color:#c0392b}.tag{font-size:11px;background:#fff3bf;border:1px solid #e0c200;
border-radius:3px;padding:0 4px}.charts{display:flex;flex-wrap:wrap;gap:12px}
svg{font-family:inherit}.chart-title{font-size:13px;font-weight:600;fill:#1d1d1f}
.tick{font-size:11px;fill:#444}.grid{stroke:#e8e8e8;stroke-width:1}
.frame{fill:none;stroke:#999;stroke-width:1}.best{stroke:#2b8a3e;stroke-width:1;
stroke-dasharray:4 3}.note{white-space:pre-wrap}
"""


def run_section(run: ReportRun, index: int) -> str:
    record = run.record
    best = record.best.epoch if record.best else None
    parts = [
        f'<h2 id="run-{index}">{e(record.name)} <span class="muted">{e(record.id)}</span></h2>',
        f"<p>{e(record.status)}"
        + (f": {e(record.message)}" if record.message else "")
        + f" · model {e(record.model or '-')} · dataset {e(record.dataset or '-')} · "
        f"epoch {record.epoch}/{e(record.epochs if record.epochs is not None else '?')}</p>",
    ]
    if record.note:
        parts.append(f'<p class="note">note: {e(record.note)}</p>')
    if record.tags:
        parts.append("<p>tags: " + ", ".join(e(t) for t in record.tags) + "</p>")
    parts.append('<div class="charts">')
    parts.append(
        line_chart(
            "loss",
            run.epochs,
            (("train_loss", "train", TRAIN_COLOR), ("val_loss", "val", VAL_COLOR)),
            False,
            best,
        )
    )
    parts.append(
        line_chart(
            "accuracy",
            run.epochs,
            (("train_acc", "train", TRAIN_COLOR), ("val_acc", "val", VAL_COLOR)),
            True,
            best,
        )
    )
    parts.append("</div>")
    confusion = run.confusion
    if confusion is not None and (confusion.test or confusion.val):
        parts.append('<div class="charts">')
        for split in ("test", "val"):
            matrix = getattr(confusion, split)
            if matrix is not None:
                at = f" (weights of epoch {matrix.epoch})" if matrix.epoch else ""
                title = f"confusion, {split}{at}"
                parts.append(heatmap(confusion.classes, matrix.matrix, title))
        parts.append("</div>")
    else:
        parts.append(f'<p class="muted">confusion: {e(run.confusion_note or "none")}</p>')
    return "".join(parts)


def render(runs: Sequence[ReportRun], diff: api.RunDiff, generated: str) -> str:
    """The whole page. ``diff``'s runs are ``runs``' records, the first the baseline."""
    names = ", ".join(e(r.record.name) for r in runs)
    index = "".join(
        f'<li><a href="#run-{i}">{e(r.record.name)}</a> <span class="muted">'
        f"{e(r.record.id)}</span></li>"
        for i, r in enumerate(runs)
    )
    config_count = len(diff.section("config", differing_only=True))
    return "".join(
        [
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>resnet-tui report: {names}</title><style>{STYLE}</style></head><body>",
            f"<h1>Run report: {names}</h1>",
            f'<p class="muted">written by resnet-tui, {e(generated)}; differences are '
            f"against the first run, {e(runs[0].record.name)} (the baseline); accuracies "
            "in percent, their differences in percentage points (pp).</p>",
            f"<ul>{index}</ul>",
            "<h2>Best stats per model</h2>",
            "<p class=\"muted\">every number from the run's best epoch (its kept checkpoint's);"
            " max val acc: the highest of any epoch</p>",
            best_table(diff),
            f"<h2>Config differences ({config_count})</h2>",
            diff_table(diff, "config", differing_only=True),
            "<h2>Provenance</h2>",
            diff_table(diff, "provenance", differing_only=False),
            *(run_section(r, i) for i, r in enumerate(runs)),
            "</body></html>\n",
        ]
    )
