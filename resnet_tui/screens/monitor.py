"""The runs in progress: for the selected one, live sparklines, progress with ETA, last epochs.

Only the selected run's metrics file is followed (by the app's follower, about once a second);
each sparkline redraws when its data changes, nothing redraws while nothing happens.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from engine import api
from resnet_tui.follow import MetricsState
from resnet_tui.screens import actions
from resnet_tui.screens.base import ViewScreen
from resnet_tui.widgets import format as fmt
from resnet_tui.widgets.sparks import MetricSparks, SystemSparks
from resnet_tui.wording import console_words

RECENT = 5  # finished runs listed under the active ones
LAST_EPOCHS = 8
# Keys a trainer may record for the device's memory (CUDA); shown when present.
MEMORY_KEYS = ("max_memory_mb", "gpu_memory_mb", "memory_mb", "max_mem_mb")


def epoch_wall_seconds(epochs: Sequence[api.EpochLine]) -> float | None:
    """Wall-clock seconds per epoch (steps, evaluation, checkpoint): the mean gap between the
    recent epoch lines' times; with one line only, its training seconds."""
    stamps = [fmt.parse_time(e.get("time")) for e in epochs[-6:]]
    times = [t for t in stamps if t is not None]
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    gaps = [g for g in gaps if g > 0]
    if gaps:
        return sum(gaps) / len(gaps)
    seconds = [float(e["seconds"]) for e in epochs if isinstance(e.get("seconds"), int | float)]
    return seconds[-1] if seconds else None


@dataclass(frozen=True)
class Live:
    """What the progress lines say about a run at one moment."""

    done: int  # epochs finished
    total: int | None
    progress: api.Progress | None  # inside the epoch being trained (None: not known)
    epoch_left: float | None
    run_left: float | None
    stalled: float | None  # seconds since the last step, when suspiciously long

    @classmethod
    def of(
        cls,
        run: api.RunRecord,
        epochs: Sequence[api.EpochLine],
        progress: api.Progress | None,
        now: float,
    ) -> Live:
        total = run.epochs
        done = run.epoch or (int(epochs[-1].get("epoch", 0)) if epochs else 0)
        per_epoch = epoch_wall_seconds(epochs)
        if progress is not None and (not run.active or progress.epoch != done + 1):
            progress = None  # from an epoch that is over, or a run that is no longer training
        epoch_left = run_left = stalled = None
        if progress is not None and progress.seconds_per_step is not None:
            age = max(0.0, now - progress.time) if progress.phase == "train" else 0.0
            spent = progress.epoch_seconds + age
            epoch_left = max(0.0, progress.steps * progress.seconds_per_step - spent)
            if per_epoch is None:
                per_epoch = progress.steps * progress.seconds_per_step
            if total:
                run_left = epoch_left + max(0, total - progress.epoch) * per_epoch
            if age > max(10.0, 5 * progress.seconds_per_step):
                stalled = age
        elif run.active and total and per_epoch is not None:
            run_left = max(0, total - done) * per_epoch
        return cls(done, total, progress, epoch_left, run_left, stalled)


def _bar(text: Text, fraction: float, width: int) -> None:
    filled = int(round(width * min(max(fraction, 0.0), 1.0)))
    text.append("█" * filled, style="green")
    text.append("░" * (width - filled), style="dim")
    text.append(f" {100 * fraction:3.0f}%")


def progress_text(
    run: api.RunRecord,
    epochs: Sequence[api.EpochLine],
    width: int = 30,
    progress: api.Progress | None = None,
    now: float | None = None,
    elapsed: float | None = None,
) -> Text:
    """Two lines: the run's epochs with its ETA and elapsed time, then the epoch being trained
    (steps, images/s, the epoch's ETA) from the trainer's live progress, whoever started it."""
    live = Live.of(run, epochs, progress, time.time() if now is None else now)
    text = Text()
    text.append(f"epoch {live.done}/{live.total or '?'} ", style="bold")
    if live.total:
        _bar(text, live.done / live.total, width)
    if run.active:
        text.append(f"  ETA {fmt.duration(live.run_left)}", style="bold")
    text.append(f"  elapsed {fmt.duration(elapsed)}")
    text.append("\n")
    p = live.progress
    if p is not None:
        text.append(f"  step {p.step}/{p.steps} ", style="bold")
        _bar(text, p.step / p.steps if p.steps else 0.0, width)
        if p.phase == "eval":
            text.append(f"  evaluating epoch {p.epoch}")
        else:
            if p.images_per_s is not None:
                text.append(f"  {p.images_per_s:,.0f} img/s")
            text.append(f"  epoch ETA {fmt.duration(live.epoch_left)}")
        if live.stalled is not None:
            text.append(f"  no step for {fmt.duration(live.stalled)}", style="bold yellow")
    elif run.active:
        text.append(
            "  waiting for the trainer's first step…"
            if not epochs
            else f"  epoch {live.done + 1} starting…",
            style="dim",
        )
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
        text.append(f"\n{console_words(run.message)}", style="dim")
    # The steady epochs' share (the first, the loader's start, left out), as the run detail and
    # `runs show` say it; a run without epoch lines yet: its record's last one.
    share = api.steady_data_wait(epochs) if epochs else api.data_wait_share(last)
    slow = api.bottleneck_words(share, run.preset)
    if slow:  # the run's steps wait on its data loader
        text.append(f"\n{slow}", style="bold yellow")
    return text


class RunsTable(DataTable[Any]):
    """The Monitor's runs: remembers that the user moved the cursor (a choice that pins the
    run), as against the view moving it to follow the newest running run."""

    user_moved = False

    def _moved(self) -> None:
        self.user_moved = True

    def action_cursor_up(self) -> None:
        self._moved()
        super().action_cursor_up()

    def action_cursor_down(self) -> None:
        self._moved()
        super().action_cursor_down()

    def action_page_up(self) -> None:
        self._moved()
        super().action_page_up()

    def action_page_down(self) -> None:
        self._moved()
        super().action_page_down()

    def action_scroll_top(self) -> None:
        self._moved()
        super().action_scroll_top()

    def action_scroll_bottom(self) -> None:
        self._moved()
        super().action_scroll_bottom()

    async def _on_click(self, event: events.Click) -> None:
        self._moved()
        await super()._on_click(event)


class MonitorScreen(ViewScreen):
    MODE = "monitor"
    BINDINGS = [
        Binding("enter", "open", "Open", priority=True),
        Binding("x", "stop", "Stop"),
        Binding("r", "resume", "Resume"),
        Binding("f", "follow", "Follow newest"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.selected: str | None = None
        # pinned: the user chose the run (cursor, click, a launch); else the view follows the
        # newest running run, wherever it was started
        self.pinned = False
        self._progress: api.Progress | None = None
        self._pending: str | None = None  # a launched run to select once it is listed
        self._launched: str | None = None  # the run launched from this console, last
        self._order: list[str] = []
        self._rows: dict[str, tuple[Any, ...]] = {}
        self._epochs: list[api.EpochLine] = []
        self._samples: list[api.SysLine] = []
        self._epoch_rows: list[tuple[Any, ...]] = []
        self._shown: tuple[Text, Text] = (Text(), Text())

    def compose_body(self) -> ComposeResult:
        yield RunsTable(id="monitor-runs", cursor_type="row")
        yield Static("", id="monitor-run")
        yield Static("", id="monitor-progress")
        yield MetricSparks(id="monitor-sparks")
        yield SystemSparks(id="monitor-system")
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
        self.set_interval(1.0, self._tick)  # elapsed and ETAs move between the trainer's writes
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
        before = self.selected
        if self._pending in order:
            # shown, not pinned: it is the newest running run, and the next one anywhere
            # (a CLI run, a sweep's trial) is followed after it
            self.selected, self._pending, self.pinned = self._pending, None, False
            self._launched = self.selected  # followed while queued, until a newer one runs
        if self.pinned and self.selected not in order:
            self.pinned = False  # the pinned run was deleted
        if not order:
            self.selected = None
        elif not self.pinned:
            # the newest training run; else the newest queued one (the members of an ablation
            # are all queued at once: the one training comes first)
            running = [
                d.id for d in docs if d.status == "running" or (d.id == self._launched and d.active)
            ]
            queued = [d.id for d in docs if d.active and d.status != "running"]
            newest = (running or queued)[0] if running or queued else None
            if newest is not None:
                self.selected = newest
            elif self.selected not in order:
                self.selected = order[0]
        if self.selected != before:
            state = self.rt.follower.metrics(self.selected) if self.selected else None
            self._epochs = state.epochs if state else []
            self._samples = state.samples if state else []
            self._progress = state.progress if state else None
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
        table = self.query_one(RunsTable)
        if not table.user_moved:
            return  # the view moved the cursor (a rebuilt table, following the newest run)
        table.user_moved = False
        run_id = str(event.row_key.value) if event.row_key.value is not None else None
        self.pinned = True
        if run_id != self.selected:
            self.selected = run_id
            state = self.rt.follower.metrics(run_id) if run_id else None
            self._epochs = state.epochs if state else []
            self._samples = state.samples if state else []
            self._progress = state.progress if state else None
        self._show_selected()
        self._watch()

    # ------------------------------------------------------------ selected run

    def _metrics_published(self, item: tuple[str, MetricsState]) -> None:
        run_id, state = item
        if run_id != self.selected:
            return
        same_epochs = (
            len(state.epochs) == len(self._epochs) and state.epochs[-1:] == self._epochs[-1:]
        )
        new_sample = len(state.samples) != len(self._samples) or (
            state.samples[-1:] != self._samples[-1:]
        )
        if new_sample:  # a sample of the machine's load came
            self._samples = state.samples
            self.query_one(SystemSparks).show(self._samples)
        if same_epochs and state.progress == self._progress:
            return  # only step lines arrived: nothing this view shows changed
        self._progress = state.progress
        if same_epochs:
            self._show_progress()
            return
        self._epochs = state.epochs
        self._show_selected()

    def _tick(self) -> None:
        """Once a second: the selected run's elapsed time and ETAs, while it trains."""
        if self.is_current and self.selected:
            doc = self.rt.state.runs_by_id.get(self.selected)
            if doc is not None and doc.active:
                self._show_progress()

    def _progress_of(self, doc: api.RunRecord) -> Text:
        bar = max(10, min(30, (self.size.width or 80) - 62))
        elapsed = fmt.run_seconds(doc, self.rt.clock())
        return progress_text(doc, self._epochs, bar, self._progress, time.time(), elapsed)

    def _show_progress(self) -> None:
        doc = self.rt.state.runs_by_id.get(self.selected) if self.selected else None
        if doc is None:
            return
        shown = (self._shown[0], self._progress_of(doc))
        if shown[1] != self._shown[1]:
            self.query_one("#monitor-progress", Static).update(shown[1], layout=False)
            self._shown = shown

    def _follow_note(self, doc: api.RunRecord) -> Text:
        if self.pinned:
            note = "pinned here: [b]f[/b] follows the newest running run"
        elif doc.active:
            note = "following the newest running run (↑↓ pins another)"
        else:
            note = "nothing runs: a run started anywhere shows here (↑↓ pins one)"
        return Text.from_markup(f"\n[dim]{note}[/dim]")

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
            self.query_one(SystemSparks).show([])
            self.query_one("#monitor-epochs", DataTable).clear()
            return
        epochs = self._epochs
        shown = (device_text(doc, epochs) + self._follow_note(doc), self._progress_of(doc))
        if shown != self._shown:  # redraw only what changed
            if shown[0] != self._shown[0]:
                run.update(shown[0])
            progress.update(shown[1], layout=False)  # two lines, always
            self._shown = shown
        self.query_one(MetricSparks).show(epochs)
        self.query_one(SystemSparks).show(self._samples)
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

    def action_follow(self) -> None:
        """Follow the newest running run again (after the user pinned one)."""
        self.pinned = False
        self.notify("following the newest running run")
        self.refresh_view()

    def action_stop(self) -> None:
        doc = self._selected_doc()
        if doc is not None:
            actions.stop_run(self.rt, doc.id)

    def action_resume(self) -> None:
        doc = self._selected_doc()
        if doc is not None:
            actions.resume_run(self.rt, doc.id)
