"""One run: its curves, confusion matrix, per-class accuracy, config, model summary, the
machine's load while it trained with its provenance (System, y), and log;
for a stacked ensemble its members and their contributions, for a run of an ablation group
the group's table.

Everything is read off the UI thread: the metrics through the app's follower (so a running
run's curves move), confusion.json and train.log by one-shot workers, the layer summary by
the helper process only when its tab is opened.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.syntax import Syntax
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, ScrollableContainer, Vertical, VerticalScroll
from textual.widgets import Static, TabbedContent, TabPane

from engine import api
from engine.api.remote import HelperError
from resnet_tui import marks
from resnet_tui.follow import MetricsState
from resnet_tui.screens import actions
from resnet_tui.screens import marks as mark_actions
from resnet_tui.screens.base import ViewScreen
from resnet_tui.widgets import format as fmt
from resnet_tui.widgets.calibration import reliability_text
from resnet_tui.widgets.charts import CurvePlot, Series
from resnet_tui.widgets.confusion import ConfusionMatrix, accuracy_text, valid_matrix
from resnet_tui.widgets.experiments import ablation_group, is_stacked, read_stacking, show_value
from resnet_tui.widgets.reports import (
    ablation_table,
    contribution_text,
    ensemble_gain,
    members_table,
)
from resnet_tui.widgets.sparks import SystemSparks, metric_series
from resnet_tui.wording import console_words

TABS = ("curves", "confusion", "stacking", "ablation", "config", "summary", "system", "log")


def join_parts(parts: list[str], width: int | None, sep: str = " · ") -> str:
    """``parts`` joined by ``sep``, a new line started before a part that would pass ``width``
    (none: one line), so a ``label value`` pair is never split over two lines."""
    if width is None:
        return sep.join(parts)
    lines: list[str] = []
    for part in parts:
        if lines and len(lines[-1]) + len(sep) + len(part) <= width:
            lines[-1] += sep + part
        else:
            lines.append(part)
    return "\n".join(lines)


def header_text(run: api.RunRecord, seconds: float | None, width: int | None = None) -> Text:
    """The detail's header; ``width``: the columns it has (its figures wrap between pairs)."""
    best = run.best
    text = Text()
    text.append(fmt.run_label(run), style="bold")
    text.append("  ")
    text.append_text(fmt.status_text(run.status))
    text.append(f"  {run.id}\n", style="dim")
    parts = [
        f"model {run.model or '-'}",
        f"data {run.dataset or '-'}",
        f"params {fmt.params(run.params)}",
        f"device {run.device or '-'}",
        f"epoch {fmt.epochs(run)}",
        f"best val {fmt.pct(fmt.best_val_acc(run))}"
        + (f" @{best.epoch}" if best is not None and best.epoch else ""),
        f"test {fmt.pct(fmt.test_acc(run))}",
        f"time {fmt.duration(seconds)}",
    ]
    if run.test is not None and run.test.ece is not None:  # kept test predictions' ECE
        parts.insert(-1, f"ECE {fmt.pct(run.test.ece)}")
    text.append(join_parts(parts, width))
    text.append_text(marks_text(run))
    trial = run.sweep
    if trial is not None and trial.name:  # a trial: which sweep, which point
        params = ", ".join(f"{k}={show_value(v)}" for k, v in trial.params.items())
        number = trial.trial if trial.trial is not None else "?"
        text.append(f"\nsweep {trial.name} · trial {number}: {params}", "cyan")
    group = ablation_group(run)
    if group is not None and run.ablation is not None:
        label = run.ablation.removed
        what = "the base run" if label == "base" else f"without {label}"
        text.append(f"\nablation {group} · {what} (g resumes the ablation)", "cyan")
    if run.message:
        bad = run.status in ("crashed", "failed", "diverged")
        text.append("\n" + console_words(run.message), style="red" if bad else "dim")
    return text


def marks_text(run: api.RunRecord) -> Text:
    """The user's marks on a line of the header: pinned, archived, the tags, the note's first
    line (N shows the whole note); empty when it has none."""
    parts: list[tuple[str, str]] = []
    if run.pinned:
        parts.append((f"{marks.PIN} pinned", "bold yellow"))
    if run.archived:
        parts.append((f"{marks.ARCHIVED} archived (A restores it)", "bold"))
    if run.tags:
        parts.append((f"tags {marks.tags_text(run.tags)}", "cyan"))
    lines = run.note.splitlines()
    if lines:
        more = f" (+{len(lines) - 1} lines: N shows the note)" if len(lines) > 1 else ""
        parts.append((f"note: {lines[0]}{more}", ""))
    text = Text()
    for i, (part, style) in enumerate(parts):
        text.append("\n" if i == 0 else " · ")
        text.append(part, style)
    return text


class RunDetailScreen(ViewScreen):
    BINDINGS = [
        Binding("escape,backspace", "back", "Back"),
        Binding("c", "tab('curves')", "Curves"),
        Binding("m", "tab('confusion')", "Matrix"),
        Binding("v", "split", "Val/test"),
        Binding("k", "tab('stacking')", "Stacking"),
        Binding("a", "tab('ablation')", "Ablation"),
        Binding("f", "tab('config')", "Config"),
        Binding("s", "tab('summary')", "Summary"),
        Binding("y", "tab('system')", "System"),
        Binding("l", "tab('log')", "Log"),
        Binding("x", "stop", "Stop"),
        Binding("r", "resume", "Resume"),
        Binding("g", "resume_group", "Resume ablation"),
        Binding("d", "delete", "Delete"),
        Binding("e", "edit", "Edit"),
        Binding("N", "note", "Note"),
        Binding("t", "tags", "Tags"),
        Binding("p", "pin", "Pin"),
        Binding("A", "archive", "Archive"),
    ]

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.split = "test"
        self._confusion: dict[str, Any] | None = None
        self._confusion_problem = "reading confusion.json…"
        self._summary_state = ""  # "" | "loading" | "done"
        self._status: str | None = None
        self._epochs: list[api.EpochLine] = []
        self._samples: list[api.SysLine] = []
        self._from_mode = ""
        self._stacking: dict[str, Any] | None = None
        self._stacking_problem = "reading stacking.json…"
        self._ablation_rows: list[dict[str, Any]] | None = None

    @property
    def mode_name(self) -> str:
        if not self._from_mode:
            self._from_mode = self.app.current_mode
        return self._from_mode

    @property
    def doc(self) -> api.RunRecord | None:
        return self.rt.state.runs_by_id.get(self.run_id)

    def compose_body(self) -> ComposeResult:
        yield Static("", id="detail-header")
        with TabbedContent(id="detail-tabs", initial="curves"):
            with TabPane("Curves", id="curves"):
                with Horizontal(id="detail-curves"):
                    yield CurvePlot("loss", id="plot-loss")
                    yield CurvePlot("accuracy", id="plot-acc")
            with TabPane("Confusion", id="confusion"):
                # One vertical scroll for the whole tab (the matrix with the per-class bars
                # beside it, the reliability bins under them, the whole width: their lines
                # never fold): page keys reach its end even while the matrix has the focus (the
                # matrix itself only scrolls sideways, a wide one).
                with VerticalScroll(id="confusion-scroll"):
                    with Horizontal(id="detail-confusion"):
                        with ScrollableContainer(id="matrix-scroll"):
                            yield ConfusionMatrix("", id="matrix")
                        with Vertical(id="per-class"):
                            yield Static("", id="per-class-acc")
                    yield Static("", id="detail-calibration")
            if is_stacked(self.doc):
                with TabPane("Stacking", id="stacking"):
                    with ScrollableContainer(id="stacking-scroll"):
                        yield Static("", id="stacking-report")
            if ablation_group(self.doc):
                with TabPane("Ablation", id="ablation"):
                    with ScrollableContainer(id="ablation-scroll"):
                        yield Static("", id="ablation-report")
            with TabPane("Config", id="config"):
                with VerticalScroll():
                    yield Static("", id="detail-config")
            with TabPane("Summary", id="summary"):
                with ScrollableContainer():
                    yield Static("", id="detail-time", markup=False)
                    yield Static(
                        "press s (or open this tab) to compute the layer summary",
                        id="detail-summary",
                    )
            with TabPane("System", id="system"):
                with VerticalScroll(id="system-scroll"):
                    yield Static("", id="detail-system", markup=False)
                    yield SystemSparks(id="detail-system-sparks")
                    yield Static("", id="detail-provenance", markup=False)
            with TabPane("Log", id="log"):
                with VerticalScroll(id="log-scroll"):
                    yield Static("", id="detail-log", markup=False)

    def on_mount(self) -> None:
        self.rt.state.metrics_signal.subscribe(self, self._metrics_published)
        self.rt.watch_metrics("detail", {self.run_id})
        self._show_config()
        self._show_system()
        self._load_files()

    def on_screen_resume(self) -> None:
        self.rt.watch_metrics("detail", {self.run_id})

    def on_resize(self) -> None:
        self.refresh_view()  # the header's lines break between its pairs at the new width

    def on_screen_suspend(self) -> None:
        self.rt.watch_metrics("detail", set())

    def on_unmount(self) -> None:
        self.rt.watch_metrics("detail", set())

    # ------------------------------------------------------------ updates

    def refresh_view(self) -> None:
        doc = self.doc
        if doc is None:
            self.query_one("#detail-header", Static).update(
                Text(f"run {self.run_id} is no longer in the store", style="bold red")
            )
            return
        seconds = fmt.run_seconds(doc, self.rt.clock())
        header = self.query_one("#detail-header", Static)
        width = self.app.size.width - header.styles.gutter.width
        header.update(header_text(doc, seconds, width))
        self._show_ablation()
        status = doc.status
        if self._status is not None and status != self._status:
            self._load_files()  # training ended: confusion.json and the log's last lines
        self._status = status

    def _metrics_published(self, item: tuple[str, MetricsState]) -> None:
        run_id, state = item
        if run_id != self.run_id:
            return
        self._epochs = state.epochs
        self._samples = state.samples
        self._show_curves()
        self._show_time()
        self._show_system()
        if self.query_one(TabbedContent).active == "log":
            self._load_log()

    def _show_curves(self) -> None:
        loss = [
            Series("train", *metric_series(self._epochs, "train_loss"), "blue"),
            Series("val", *metric_series(self._epochs, "val_loss"), "red"),
        ]
        acc = [
            Series("train", *metric_series(self._epochs, "train_acc"), "blue"),
            Series("val", *metric_series(self._epochs, "val_acc"), "red"),
        ]
        self.query_one("#plot-loss", CurvePlot).set_series(loss)
        self.query_one("#plot-acc", CurvePlot).set_series(acc)

    def _show_time(self) -> None:
        """Where an epoch's seconds go (steps, eval, data, checkpoint, store), above the
        layer summary; nothing for runs trained before the split was recorded."""
        split = api.time_split(self._epochs)
        widget = self.query_one("#detail-time", Static)
        widget.display = split is not None
        if split is not None:
            widget.update("time: " + "\n".join(split.describe()) + "\n")

    def _show_system(self) -> None:
        """The machine's load (summary, bottleneck, sparklines) and where the run came from."""
        doc = self.doc
        summary = api.SystemSummary.of(self._samples, self._epochs)
        lines = summary.describe(doc.config if doc else None)
        slow = api.bottleneck_words(summary.data_wait_share, doc.preset if doc else "")
        text = Text("\n".join(lines))
        if slow:
            text.append("\n" + slow, style="bold yellow")
        self.query_one("#detail-system", Static).update(text)
        self.query_one("#detail-system-sparks", SystemSparks).show(self._samples)
        shown = api.provenance_lines(doc) if doc is not None else []
        self.query_one("#detail-provenance", Static).update("\n" + "\n".join(shown))

    def _show_config(self) -> None:
        doc = self.doc
        config = dict(doc.config) if doc is not None else {}
        widget = self.query_one("#detail-config", Static)
        if not config:
            message = doc.message if doc is not None else ""
            widget.update(Text("no readable config for this run: " + message, style="red"))
            return
        try:
            toml = api.to_toml(config)
        except Exception as exc:
            widget.update(Text(f"the stored config cannot be shown: {exc}", style="red"))
            return
        widget.update(Syntax(toml, "toml", theme="ansi_dark", background_color="default"))

    # ------------------------------------------------------------ files

    def _load_files(self) -> None:
        self._read_files()
        self._read_calibration()

    @work(thread=True, exclusive=True, group="detail-files", exit_on_error=False)
    def _read_files(self) -> None:
        confusion, problem = api.read_confusion(self.rt.store, self.run_id)
        data = confusion.to_json() if confusion is not None else None
        log = api.read_log(self.rt.store, self.run_id)
        stacking: tuple[dict[str, Any] | None, str] = (None, "")
        if is_stacked(self.doc):
            stacking = read_stacking(self.rt.store, self.run_id)
        self.app.call_from_thread(self._files_read, data, problem, log, stacking)

    def _files_read(
        self,
        data: dict[str, Any] | None,
        problem: str,
        log: str,
        stacking: tuple[dict[str, Any] | None, str] = (None, ""),
    ) -> None:
        self._stacking, self._stacking_problem = stacking
        self._show_stacking()
        self._confusion, self._confusion_problem = data, problem
        if data is not None and valid_matrix(data, self.split) is None:
            self.split = "val" if self.split == "test" else "test"
        self._show_confusion()
        self.query_one("#detail-log", Static).update(log)

    @work(thread=True, exclusive=True, group="detail-calibration", exit_on_error=False)
    def _read_calibration(self) -> None:
        """The reliability diagram of the kept test predictions (none: nothing shown)."""
        calibration, _ = api.read_calibration(self.rt.store, self.run_id)
        self.app.call_from_thread(self._show_calibration, calibration)

    def _show_calibration(self, calibration: api.Calibration | None) -> None:
        widget = self.query_one("#detail-calibration", Static)
        widget.display = calibration is not None
        if calibration is not None:
            widget.update(Text.assemble("\n", reliability_text(calibration)))

    def _load_log(self) -> None:
        self._read_log()

    @work(thread=True, exclusive=True, group="detail-log", exit_on_error=False)
    def _read_log(self) -> None:
        log = api.read_log(self.rt.store, self.run_id)
        self.app.call_from_thread(self.query_one("#detail-log", Static).update, log)

    def _show_confusion(self) -> None:
        data = self._confusion
        self.query_one("#matrix", ConfusionMatrix).show(data, self.split, self._confusion_problem)
        per_class = self.query_one("#per-class-acc", Static)
        matrix = valid_matrix(data, self.split)
        if data is None or matrix is None:
            per_class.update("")
            return
        title = Text(f"accuracy ({self.split})\n", style="bold")
        per_class.update(
            Text.assemble(
                title,
                accuracy_text(list(data["classes"]), matrix, 10),
                no_wrap=True,
                overflow="crop",
            )
        )

    # ------------------------------------------------------------ experiments

    def _show_stacking(self) -> None:
        if not is_stacked(self.doc):
            return
        widget = self.query_one("#stacking-report", Static)
        report = self._stacking
        if report is None:
            widget.update(Text(self._stacking_problem, style="dim"))
            return
        members = len(report.get("members") or [])
        widget.update(
            Group(
                Text(
                    f"{members} members and the stacked ensemble (a linear layer over their "
                    "logits)",
                    style="bold",
                ),
                members_table(report),
                ensemble_gain(report),
                Text(""),
                Text(
                    "each member's share of each class (the stacking layer's weights)",
                    style="bold",
                ),
                contribution_text(report),
            )
        )

    def _show_ablation(self) -> None:
        group = ablation_group(self.doc)
        if group is None:
            return
        rows = api.ablation_rows(self.rt.state.runs, group)
        if rows == self._ablation_rows:
            return
        self._ablation_rows = rows
        self.query_one("#ablation-report", Static).update(
            Group(
                Text.assemble(
                    ("ablation ", "bold"),
                    (group, "bold"),
                    ("  Δ: accuracy points over the base run's", "dim"),
                ),
                ablation_table(rows, self.run_id, self.app.size.width - 2),
            )
        )

    # ------------------------------------------------------------ summary

    @on(TabbedContent.TabActivated, "#detail-tabs")
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        pane = event.pane.id
        matrix = self.query_one("#matrix", ConfusionMatrix)
        if pane != "confusion" and matrix.has_focus:  # another tab clicked: the keys are its
            matrix.blur()
        if pane == "summary" and not self._summary_state:
            self._compute_summary()
        elif pane == "log":
            self._load_log()

    def _compute_summary(self) -> None:
        doc = self.doc
        config = dict(doc.config) if doc is not None else {}
        widget = self.query_one("#detail-summary", Static)
        if not config:
            widget.update(Text("no readable config: no model to summarise", style="red"))
            return
        self._summary_state = "loading"
        widget.update(
            Text("computing the layer summary (the model helper starts torch)…", style="dim")
        )
        self._summary_worker(config)

    @work(thread=True, exclusive=True, group="detail-summary", exit_on_error=False)
    def _summary_worker(self, config: dict[str, Any]) -> None:
        preset = self.doc.preset if self.doc is not None else ""
        try:
            request = api.RunRequest(preset or None, config=config)
            answer: api.ModelSummary | str = self.rt.helper.model_summary(request)
        except (HelperError, api.UserError) as exc:
            answer = str(exc)
        self.app.call_from_thread(self._summary_done, answer)

    def _summary_done(self, answer: api.ModelSummary | str) -> None:
        self._summary_state = "done"
        widget = self.query_one("#detail-summary", Static)
        if isinstance(answer, str):
            widget.update(Text(f"cannot build the model: {answer}", style="red"))
            return
        widget.update(Text(answer.text, no_wrap=True))

    # ------------------------------------------------------------ actions

    def action_back(self) -> None:
        self.app.pop_screen()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The Stacking and Ablation keys exist only for runs that have those tabs."""
        if action == "tab" and parameters:
            if parameters[0] == "stacking":
                return is_stacked(self.doc)
            if parameters[0] == "ablation":
                return ablation_group(self.doc) is not None
        if action == "resume_group":
            return ablation_group(self.doc) is not None
        return True

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        matrix = self.query_one("#matrix", ConfusionMatrix)
        if tab == "confusion":
            matrix.focus()  # arrows move its cell cursor
        elif matrix.has_focus:
            matrix.blur()  # a hidden tab's widget must not keep the keys
        if tab == "summary" and not self._summary_state:
            self._compute_summary()

    def action_split(self) -> None:
        self.split = "val" if self.split == "test" else "test"
        self.action_tab("confusion")
        self._show_confusion()

    def on_confusion_matrix_cell_chosen(self, event: ConfusionMatrix.CellChosen) -> None:
        """Enter on a cell: the gallery of that cell's test images (most confident first)."""
        from resnet_tui.screens.gallery import GalleryScreen, mistakes_loader

        if event.split != "test":
            self.notify("the images are the test split's: press v for the test matrix")
            return
        if event.true == event.pred:
            self.notify("the diagonal is right: choose a cell off it for its mistakes")
            return
        doc = self.doc
        name = f"{doc.name if doc else self.run_id}-mistakes-{event.true}-as-{event.pred}"
        loader = mistakes_loader(self.run_id, event.true, event.pred)
        self.app.push_screen(GalleryScreen(loader, name, self.mode_name))

    def action_stop(self) -> None:
        actions.stop_run(self.rt, self.run_id)

    def action_resume(self) -> None:
        actions.resume_run(self.rt, self.run_id)

    def action_resume_group(self) -> None:
        """The ablation's unfinished runs, one after another (a stopped queue left them)."""
        group = ablation_group(self.doc)
        if group is not None:
            actions.resume_ablation(self.rt, group)

    def action_delete(self) -> None:
        doc = self.doc
        if doc is not None:
            actions.delete_run(self.rt, doc, after=self._deleted)

    def _deleted(self) -> None:
        if self.is_current:
            self.app.pop_screen()

    def action_edit(self) -> None:
        doc = self.doc
        if doc is not None:
            from resnet_tui.screens.launch import request_from_run

            request = request_from_run(self.rt, doc)
            if request is not None:
                self.rt.request_launch(request)

    def action_note(self) -> None:
        doc = self.doc
        if doc is not None:
            mark_actions.edit_note(self.rt, doc)

    def action_tags(self) -> None:
        doc = self.doc
        if doc is not None:
            mark_actions.edit_tags(self.rt, doc)

    def action_pin(self) -> None:
        doc = self.doc
        if doc is not None:
            mark_actions.toggle_pinned(self.rt, doc)

    def action_archive(self) -> None:
        doc = self.doc
        if doc is not None:
            mark_actions.toggle_archived(self.rt, doc)
