"""Experiment reports as Rich renderables: a stacked ensemble (seed 000: the members beside the
ensemble, and each member's share of each class as a heatmap) and an ablation group (seed 002:
each run beside the base).

The heatmap uses the confusion matrix's ramp of named ANSI colours (``confusion.RAMP``), so it
reads the same on a 16-colour terminal, and every cell keeps its number printed.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from resnet_tui.widgets import format as fmt
from resnet_tui.widgets import names
from resnet_tui.widgets.confusion import LEGEND_LABELS, RAMP, cell_style
from resnet_tui.widgets.experiments import member_labels, valid_per_class

BAR_WIDTH = 10


def share_bar(share: float | None, width: int = BAR_WIDTH) -> Text:
    """'83.2% ████████▎ ' : the share in percent, then its bar (``fmt.bar``, in eighths)."""
    if share is None:
        return Text("-", style="dim")
    text = Text(f"{fmt.share(share):>6} ")
    text.append(fmt.bar(share, width), style="cyan")
    return text


def members_table(report: dict[str, Any]) -> Table:
    """m1..mK with their val/test accuracy and contribution, then the ensemble's row."""
    members = report.get("members") or []
    labels = member_labels(members)
    table = Table(box=None, padding=(0, 1), header_style="bold", show_edge=False)
    table.add_column("#")
    table.add_column("run", overflow="ellipsis", max_width=28)
    table.add_column("model", no_wrap=True, overflow="ellipsis", max_width=16)
    table.add_column("val acc", justify="right", no_wrap=True, min_width=7)
    table.add_column("test acc", justify="right", no_wrap=True, min_width=8)
    table.add_column("contribution", no_wrap=True)
    for i, (member, label) in enumerate(zip(members, labels, strict=True)):
        table.add_row(
            f"m{i + 1}",
            label,
            str(member.get("model") or "-"),
            fmt.pct(member.get("val_acc")),
            fmt.pct(member.get("test_acc")),
            share_bar(_float(member.get("contribution"))),
        )
    ensemble = report.get("ensemble") or {}
    table.add_row(
        Text("ens", style="bold"),
        Text("stacked ensemble", style="bold"),
        "stacked",
        Text(fmt.pct(ensemble.get("val_acc")), style="bold green"),
        Text(fmt.pct(ensemble.get("test_acc")), style="bold green"),
        "",
    )
    return table


def ensemble_gain(report: dict[str, Any]) -> Text:
    """The ensemble's test (else val) accuracy over the best member's, in points."""
    members, ensemble = report.get("members") or [], report.get("ensemble") or {}
    for key in ("test_acc", "val_acc"):
        mine = _float(ensemble.get(key))
        theirs = [v for m in members if (v := _float(m.get(key))) is not None]
        if mine is not None and theirs:
            gain = 100 * (mine - max(theirs))
            split = key.removesuffix("_acc")
            return Text(
                f"the ensemble: {gain:+.2f} points of {split} accuracy over its best member",
                style="green" if gain >= 0 else "red",
            )
    return Text("")


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def contribution_text(report: dict[str, Any]) -> Text:
    """Members (rows) x classes (columns): each member's share of the class, in percent."""
    per_class = valid_per_class(report)
    classes = [str(c) for c in report.get("classes") or []]
    if per_class is None or not classes:
        return Text("no per-class contributions in stacking.json", style="dim")
    members = report.get("members") or []
    labels = [f"m{i + 1} {name}" for i, name in enumerate(member_labels(members))]
    label_w = min(max(len(label) for label in labels), 18)
    width = 4
    short = all(len(c) <= width - 1 for c in classes)
    headers = classes if short else [str(i) for i in range(len(classes))]

    text = Text(no_wrap=True, overflow="crop")
    text.append(f"{'member':<{label_w}} ", style="dim")
    for header in headers:
        text.append(f"{header[: width - 1]:>{width}}", style="bold")
    text.append("   mean\n", style="bold")
    for label, row, member in zip(labels, per_class, members, strict=True):
        text.append(f"{label[:label_w]:<{label_w}} ", style="bold")
        for share in row:
            text.append(f"{round(100 * share):>{width}}", style=cell_style(share))
        mean = _float(member.get("contribution"))
        text.append(f"  {fmt.pct(mean):>6}\n" if mean is not None else "       -\n")
    if not short:
        text.append("  ".join(f"{i} {name}" for i, name in enumerate(classes)) + "\n", style="dim")
    text.append("share of the class:", style="dim")
    for (_, bg, fg), label in zip(RAMP, LEGEND_LABELS, strict=True):
        text.append(f" {label} ", style=f"{fg} on {bg}")
    return text


# The ablation table's columns but the run's name, with their padding: the name gets what is
# left of the width (shortened from the middle), so the statuses and accuracies keep theirs.
ABLATION_FIXED = 8 + 10 + 6 + 7 + 6 + 8 + 6 + 2 * 7
RUN_NAME_WIDTH = (10, 24)


def ablation_table(rows: list[dict[str, Any]], current: str = "", width: int = 0) -> Table:
    """One line per run of the group, base first; differences are accuracy points over the
    base's (the run shown in the detail view is marked →). ``width``: the room it has."""
    table = Table(box=None, padding=(0, 1), pad_edge=False, header_style="bold")
    table.add_column("removed", no_wrap=True)
    table.add_column("run", no_wrap=True)
    for header in ("status", "epochs", "val acc", "Δ val", "test acc", "Δ test"):
        table.add_column(header, no_wrap=True, justify="left" if header == "status" else "right")
    low, high = RUN_NAME_WIDTH
    room = max(low, min(high, width - ABLATION_FIXED)) if width else high
    labels = names.distinct([str(row["name"] or row["id"]) for row in rows], room)
    for row, label in zip(rows, labels, strict=True):
        base = row["ablation"] == "base"
        mark = "→ " if row["id"] == current else "  "
        table.add_row(
            Text(mark + ("(base)" if base else row["ablation"]), style="bold" if base else ""),
            label,
            fmt.status_text(row["status"]),
            f"{row['epoch']}/{row['epochs'] or '?'}",
            fmt.pct(row["val_acc"]),
            "" if base else _points(row["d_val_acc"]),
            fmt.pct(row["test_acc"]),
            "" if base else _points(row["d_test_acc"]),
        )
    return table


def _points(diff: float | None) -> Text:
    if diff is None:
        return Text("-", style="dim")
    return Text(fmt.points(diff), style="green" if diff >= 0 else "red")
