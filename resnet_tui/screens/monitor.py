"""The runs in progress: for the selected one, live sparklines, progress with ETA, last epochs.

Only the selected run's metrics file is followed (by the app's follower, about once a second);
each sparkline redraws when its data changes, nothing redraws while nothing happens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from engine import api
from resnet_tui.follow import MetricsState
from resnet_tui.screens import actions
from resnet_tui.screens.base import ViewScreen
from resnet_tui.widgets import format as fmt
from resnet_tui.widgets.sparks import MetricSparks

RECENT = 5  # finished runs listed under the active ones
LAST_EPOCHS = 8
# Keys a trainer may record for the device's memory (CUDA); shown when present.
MEMORY_KEYS = ("max_memory_mb", "gpu_memory_mb", "memory_mb", "max_mem_mb")


def progress_text(run: api.RunRecord, epochs: list[api.EpochLine], width: int = 30) -> Text:
    total = run.epochs
    done = run.epoch or (int(epochs[-1].get("epoch", 0)) if epochs else 0)
    seconds = [float(e["seconds"]) for e in epochs if isinstance(e.get("seconds"), int | float)]
    text = Text()
    text.append(f"epoch {done}/{total or '?'} ", style="bold")
    if total:
        filled = int(round(width * min(done, total) / total))
        text.append("█" * filled, style="green")
        text.append("░" * (width - filled), style="dim")
        text.append(f" {100 * done / total:3.0f}%")
    per_epoch = sum(seconds[-5:]) / len(seconds[-5:]) if seconds else None
    if run.active:
        text.append(f"  ETA {fmt.duration(fmt.eta_seconds(run, seconds))}", style="bold")
    if per_epoch is not None:
        text.append(f"  {per_epoch:.1f} s/epoch")
    text.append(f"  elapsed {fmt.duration(sum(seconds) if seconds else None)}")
    return text


def device_text(run: api.RunRecord, epochs: list[api.EpochLine]) -> Text:
    last: Mapping[str, Any] = epochs[-1] if epochs else run.last
    text = Text()
    text.append(fmt.run_label(run), style="bold")
    text.append("  ")
    text.append_text(fmt.status_text(run.status))
    text.append(f"  {run.model or '-'} on {run.dataset or '-'}")
    text.append(f"  device {run.device or '-'}")
    for key in MEMORY_KEYS:
        value = last.get(key)
        if isinstance(value, int | float):
            text.append(f"  GPU mem {value:,.0f} MB")
            break
    speed = last.get("images_per_s")
    if isinstance(speed, int | float):
        text.append(f"  {speed:,.0f} img/s")
    best = run.best
    if best is not None and best.val_acc is not None and best.epoch is not None:
        # What "best" is, said where it is shown (it is not the highest val acc so far).
        monitor = str(run.config.get("train", {}).get("monitor") or "val_loss")
        which = "lowest" if monitor.endswith("loss") else "highest"
        text.append(
            f"\nbest val {fmt.pct(best.val_acc)}: epoch {best.epoch}, its kept checkpoint "
            f"({which} {monitor})",
            style="dim",
        )
    if run.message and not run.active:
        text.append(f"\n{run.message}", style="dim")
    return text


class MonitorScreen(ViewScreen):
    MODE = "monitor"
    BINDINGS = [
        Binding("enter", "open", "Open", priority=True),
        Binding("x", "stop", "Stop"),
        Binding("r", "resume", "Resume"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.selected: str | None = None
        self._pending: str | None = None  # a launched run to select once it is listed
        self._order: list[str] = []
        self._rows: dict[str, tuple[Any, ...]] = {}
        self._epochs: list[api.EpochLine] = []
        self._epoch_rows: list[tuple[Any, ...]] = []
        self._shown: tuple[Text, Text] = (Text(), Text())

    def compose_body(self) -> ComposeResult:
        table: DataTable[Any] = DataTable(id="monitor-runs", cursor_type="row")
        yield table
        yield Static("", id="monitor-run")
        yield Static("", id="monitor-progress")
        yield MetricSparks(id="monitor-sparks")
        epochs: DataTable[Any] = DataTable(
            id="monitor-epochs", cursor_type="none", zebra_stripes=True, show_cursor=False
        )
        yield epochs

    def on_mount(self) -> None:
        table = self.query_one("#monitor-runs", DataTable)
        for key, label in (
            ("name", "run"),
            ("status", "status"),
            ("epochs", "epoch"),
            ("train_loss", "train loss"),
            ("val_acc", "val acc"),
            ("best", "best val"),
            ("device", "device"),
        ):
            table.add_column(label, key=key)
        epochs = self.query_one("#monitor-epochs", DataTable)
        for key, label in (
            ("epoch", "epoch"),
            ("train_loss", "train loss"),
            ("train_acc", "train acc"),
            ("val_loss", "val loss"),
            ("val_acc", "val acc"),
            ("lr", "lr"),
            ("seconds", "s"),
            ("images_per_s", "img/s"),
        ):
            epochs.add_column(label, key=key)
        self.rt.state.metrics_signal.subscribe(self, self._metrics_published)
        table.focus()

    def on_screen_resume(self) -> None:
        focus = self.rt.state.monitor_focus
        if focus:
            self.rt.state.monitor_focus = None
            # A run just launched may not be in the store's list yet: selected once it is.
            self._pending = focus
            self.refresh_view()
        self._watch()

    def on_screen_suspend(self) -> None:
        self.rt.watch_metrics("monitor", set())

    def on_resize(self) -> None:
        self._show_selected()  # the progress bar follows the width

    def _watch(self) -> None:
        self.rt.watch_metrics("monitor", {self.selected} if self.selected else set())

    # ------------------------------------------------------------ runs table

    def _listed(self) -> list[api.RunRecord]:
        runs = self.rt.state.runs
        active = [d for d in runs if d.active]
        others = [d for d in runs if not d.active][:RECENT]
        if self.selected and self.selected not in {d.id for d in active + others}:
            chosen = self.rt.state.runs_by_id.get(self.selected)
            if chosen is not None:
                others.insert(0, chosen)
        return active + others

    @staticmethod
    def _row(run: api.RunRecord) -> tuple[Any, ...]:
        return (
            fmt.run_label(run),
            fmt.status_text(run.status),
            fmt.epochs(run),
            fmt.number(run.last.get("train_loss")),
            fmt.pct(run.last.get("val_acc")),
            fmt.pct(fmt.best_val_acc(run)),
            run.device or "-",
        )

    def refresh_view(self) -> None:
        table = self.query_one("#monitor-runs", DataTable)
        docs = self._listed()
        order = [d.id for d in docs]
        rows = {d.id: self._row(d) for d in docs}
        if order != self._order:
            table.clear()
            for run_id in order:
                table.add_row(*rows[run_id], key=run_id)
            self._order = order
        else:
            keys = [str(c.value) for c in table.columns]
            for run_id in order:
                if rows[run_id] != self._rows.get(run_id):
                    for key, value, old in zip(keys, rows[run_id], self._rows[run_id], strict=True):
                        if value != old:
                            table.update_cell(run_id, key, value, update_width=True)
        self._rows = rows
        if self._pending in order:
            self.selected, self._pending = self._pending, None
        if not order:
            self.selected = None
        elif self.selected not in order:
            self.selected = order[0]
        if self.selected in order:
            index = order.index(self.selected)
            if table.cursor_row != index:
                table.move_cursor(row=index, animate=False)
        table.display = bool(order)
        self._show_selected()
        if self.is_current:
            self._watch()

    @on(DataTable.RowHighlighted, "#monitor-runs")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        run_id = str(event.row_key.value) if event.row_key.value is not None else None
        if run_id != self.selected:
            self.selected = run_id
            state = self.rt.follower.metrics(run_id) if run_id else None
            self._epochs = state.epochs if state else []
            self._show_selected()
            self._watch()

    # ------------------------------------------------------------ selected run

    def _metrics_published(self, item: tuple[str, MetricsState]) -> None:
        run_id, state = item
        if run_id != self.selected:
            return
        if len(state.epochs) == len(self._epochs) and state.epochs[-1:] == self._epochs[-1:]:
            return  # only step lines arrived: nothing this view shows changed
        self._epochs = state.epochs
        self._show_selected()

    def _show_selected(self) -> None:
        run = self.query_one("#monitor-run", Static)
        progress = self.query_one("#monitor-progress", Static)
        doc = self.rt.state.runs_by_id.get(self.selected) if self.selected else None
        if doc is None:
            run.update(
                Text.from_markup(
                    "[b]No run is training.[/b] Start one from [b]1[/b] Launch or "
                    "[b]2[/b] Presets; past runs are in [b]4[/b] Runs."
                )
            )
            progress.update("")
            self._shown = (Text(), Text())
            self.query_one(MetricSparks).show([])
            self.query_one("#monitor-epochs", DataTable).clear()
            return
        epochs = self._epochs
        bar = max(10, min(30, (self.size.width or 80) - 62))
        shown = (device_text(doc, epochs), progress_text(doc, epochs, bar))
        if shown != self._shown:  # redraw only what changed
            if shown[0] != self._shown[0]:
                run.update(shown[0])
            progress.update(shown[1], layout=False)  # one line
            self._shown = shown
        self.query_one(MetricSparks).show(epochs)
        self._show_epochs(epochs)

    def _show_epochs(self, epochs: Sequence[Mapping[str, Any]]) -> None:
        table = self.query_one("#monitor-epochs", DataTable)
        recent = list(reversed(epochs[-LAST_EPOCHS:]))
        rows = [
            (
                Text(
                    str(int(e.get("epoch", 0)))
                    + (" ★" if e.get("best_epoch") == e.get("epoch") else ""),
                    justify="right",
                ),
                fmt.number(e.get("train_loss")),
                fmt.pct(e.get("train_acc")),
                fmt.number(e.get("val_loss")),
                fmt.pct(e.get("val_acc")),
                f"{e['lr']:.3g}" if isinstance(e.get("lr"), int | float) else "-",
                f"{e['seconds']:.1f}" if isinstance(e.get("seconds"), int | float) else "-",
                f"{e['images_per_s']:,.0f}"
                if isinstance(e.get("images_per_s"), int | float)
                else "-",
            )
            for e in recent
        ]
        if rows == self._epoch_rows:
            return
        table.clear()
        table.add_rows(rows)
        self._epoch_rows = rows

    # ------------------------------------------------------------ actions

    def _selected_doc(self) -> api.RunRecord | None:
        doc = self.rt.state.runs_by_id.get(self.selected) if self.selected else None
        if doc is None:
            self.notify("no run selected", severity="warning")
        return doc

    def action_open(self) -> None:
        doc = self._selected_doc()
        if doc is not None:
            from resnet_tui.screens.detail import RunDetailScreen

            self.app.push_screen(RunDetailScreen(doc.id))

    def action_stop(self) -> None:
        doc = self._selected_doc()
        if doc is not None:
            actions.stop_run(self.rt, doc.id)

    def action_resume(self) -> None:
        doc = self._selected_doc()
        if doc is not None:
            actions.resume_run(self.rt, doc.id)
