"""Sparklines of a run's per-epoch metrics (cheap to import: the Monitor opens with them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Sparkline

from engine import api
from resnet_tui.widgets.format import number, pct


def metric_series(epochs: Sequence[Mapping[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """(epochs, values) of one metric, skipping records that lack it or hold NaN."""
    xs, ys = [], []
    for record in epochs:
        x, y = record.get("epoch"), record.get(key)
        if isinstance(x, int | float) and isinstance(y, int | float) and y == y:
            xs.append(float(x))
            ys.append(float(y))
    return xs, ys


SPARK_METRICS: tuple[tuple[str, str], ...] = (
    ("train_loss", "train loss"),
    ("val_loss", "val loss"),
    ("train_acc", "train acc"),
    ("val_acc", "val acc"),
    ("lr", "lr"),
)


class MetricSparks(Vertical):
    """One sparkline per metric, with the last value; only changed lines redraw."""

    def compose(self) -> ComposeResult:
        for key, title in SPARK_METRICS:
            with Horizontal(classes="spark-row"):
                yield Label(title, classes="spark-label")
                yield Sparkline([], id=f"spark-{key}", classes="spark")
                yield Label("-", id=f"spark-value-{key}", classes="spark-value")

    def show(self, epochs: Sequence[Mapping[str, Any]]) -> None:
        for key, _ in SPARK_METRICS:
            _, ys = metric_series(epochs, key)
            spark = self.query_one(f"#spark-{key}", Sparkline)
            if list(spark.data or []) != ys:
                spark.data = ys  # a new list: the reactive redraws this line only
            value = ys[-1] if ys else None
            if key == "lr":
                shown = f"{value:.3g}" if value is not None else "-"
            else:  # accuracy in percent, as in every table
                shown = pct(value) if key.endswith("acc") else number(value, 4)
            label = self.query_one(f"#spark-value-{key}", Label)
            if str(label.content) != shown:
                label.update(shown, layout=False)  # a fixed-width label


# The machine's load (``sys`` lines): (key, title, how the last value is shown).
SYSTEM_SPARKS: tuple[tuple[str, str, str], ...] = (
    ("cpu_pct", "CPU", "{:,.0f}%"),
    ("rss_mb", "RSS", "{:,.0f} MB"),
    ("gpu_util_pct", "GPU util", "{:,.0f}%"),
    ("gpu_mem_mb", "GPU mem", "{:,.0f} MB"),
)
SYSTEM_POINTS = 200  # the recent samples a sparkline shows


class SystemSparks(Vertical):
    """One sparkline per figure of the machine's load; a figure no sample has (the GPU's
    without NVML, everything for a run trained before sampling) hides its line."""

    def compose(self) -> ComposeResult:
        for key, title, _ in SYSTEM_SPARKS:
            with Horizontal(classes="spark-row", id=f"sys-row-{key}"):
                yield Label(title, classes="spark-label")
                yield Sparkline([], id=f"sys-spark-{key}", classes="spark")
                yield Label("-", id=f"sys-value-{key}", classes="spark-value")

    def on_mount(self) -> None:
        self.show([])

    def show(self, samples: Sequence[Mapping[str, Any]]) -> None:
        for key, _, shape in SYSTEM_SPARKS:
            ys = api.sys_series(samples, key)[-SYSTEM_POINTS:]
            row = self.query_one(f"#sys-row-{key}")
            if row.display != bool(ys):
                row.display = bool(ys)
            if not ys:
                continue
            spark = self.query_one(f"#sys-spark-{key}", Sparkline)
            if list(spark.data or []) != ys:
                spark.data = ys
            label = self.query_one(f"#sys-value-{key}", Label)
            shown = shape.format(ys[-1])
            if str(label.content) != shown:
                label.update(shown, layout=False)
