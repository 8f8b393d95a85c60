"""The Launch form: configure a run (starting from a preset), see its parameter count, launch.

Validation is the engine's own, run on every change; the parameter count and the architecture
check come from the engine's helper process (``model_summary``), debounced. Launching goes
through ``screens.actions.launch``: the same plan and checks as ``resnet-tui train`` (the data,
the batch against the split, the device, the disk), so the console refuses what the CLI
refuses, with the same words, before anything is written. A refusal names its fields: each
gets its message and the cursor goes to the first.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widgets import Input, Label, Select, Static

from engine import api
from engine.api.remote import HelperError
from resnet_tui.screens import actions
from resnet_tui.screens.base import ViewScreen
from resnet_tui.screens.dialogs import SavePresetScreen
from resnet_tui.screens.launch_preview import LaunchPreview, PreviewState
from resnet_tui.state import Console, LaunchRequest
from resnet_tui.widgets.config_form import SECTION_TITLES, ConfigForm, FormResult
from resnet_tui.widgets.data_preview import DataPreview
from resnet_tui.widgets.lr_chart import LRChart
from resnet_tui.wording import console_words

CHECK_DELAY_S = 0.4


def request_from_run(app: Console, run: api.RunRecord) -> LaunchRequest | None:
    """A LaunchRequest with a past run's config (None, with a notification, if unreadable)."""
    try:
        plan = api.plan_run(api.RunRequest(run.preset or None, config=run.config))
    except api.UserError as exc:
        app.notify(f"the config of run {run.id} cannot be loaded: {exc}", severity="error")
        return None
    return LaunchRequest(plan.config, run.preset, "")


def preset_config(name: str) -> api.RunPlan:
    """A preset's config, as ``resnet-tui train NAME`` would train it (UserError if broken)."""
    return api.plan_run(api.RunRequest(name))


class LaunchScreen(LaunchPreview, ViewScreen):
    MODE = "launch"
    BINDINGS = [
        Binding("ctrl+l", "launch", "Launch"),
        Binding("ctrl+s", "save_preset", "Save preset"),
        Binding("ctrl+t", "loader_bench", "Time loader"),
        Binding("ctrl+y", "lr_chart", "LR curve"),
        Binding("ctrl+n", "next_section", "Next section"),
        Binding("ctrl+b", "previous_section", "Prev section"),
        Binding("escape", "leave_field", "Leave field"),
        Binding("ctrl+g", "toggle_preview", "Pictures"),
        Binding("ctrl+r", "redraw_preview", "New samples"),
        Binding("ctrl+o", "write_preview", "Write PNG"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.bench_workers = ""  # the loader bench's num_workers values ("": its default)
        self.preset = api.DEFAULT_PRESET
        try:
            plan = preset_config(api.DEFAULT_PRESET)
            config, self.preset = plan.config, plan.preset
        except api.UserError:
            config = api.RunConfig()
        self.initial = config
        self._check_timer: Timer | None = None
        self._check_seq = 0
        self._launching = False
        self._preset_shown = self.preset  # what the preset Select shows
        self.preview = PreviewState()

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="launch-top"):
            yield Label("preset", classes="top-label")
            yield Select(
                self._preset_options(),
                value=self.preset,
                allow_blank=False,
                compact=True,
                id="launch-preset",
            )
            yield Label("name", classes="top-label")
            yield Input(placeholder="(the preset's name)", id="launch-name", compact=True)
        yield Static("", id="launch-params")
        yield Static("", id="launch-data")  # your own images: what a run would make of them
        yield ConfigForm(self.initial, id="launch-form")
        yield DataPreview(id="launch-preview")
        yield LRChart(id="launch-lr")  # ctrl+y: the lr over the run, redrawn as fields change
        yield Static("", id="launch-help", markup=False)
        yield Static("", id="launch-message")

    @staticmethod
    def _preset_options() -> list[tuple[str, str]]:
        return [(p.name, p.name) for p in api.list_presets()]

    @property
    def form(self) -> ConfigForm:
        return self.query_one(ConfigForm)

    def on_mount(self) -> None:
        self.rt.state.registries_signal.subscribe(self, self._registries)
        if self.rt.state.registries is not None:
            self.form.set_registries(self.rt.state.registries)
        else:
            self.query_one("#launch-params", Static).update(
                Text("loading the model registry…", style="dim")
            )
            self.rt.want_registries()

    def on_screen_resume(self) -> None:
        self.take_request()

    def take_request(self) -> None:
        request = self.rt.state.launch_request
        if request is None:
            return
        self.rt.state.launch_request = None
        self.preset = request.preset or self.preset
        select = self.query_one("#launch-preset", Select)
        if request.preset and request.preset in [v for _, v in self._preset_options()]:
            self._preset_shown = request.preset
            select.value = request.preset
        self.query_one("#launch-name", Input).value = request.name
        self.form.load(request.config)
        self.message(
            f"loaded {'preset ' + request.preset if request.preset else 'a config'}"
            "; edit and press ctrl+l to launch"
        )

    def _registries(self, registries: api.Catalog) -> None:
        self.form.set_registries(registries)
        self._draw_lr()  # the dataset's size: the steps per epoch

    def _draw_lr(self) -> None:
        chart = self.query_one(LRChart)
        if chart.display:
            chart.show_config(self.form.result.config, self.form.catalog)

    def action_lr_chart(self) -> None:
        chart = self.query_one(LRChart)
        chart.display = not chart.display
        self._draw_lr()

    # ------------------------------------------------------------ messages

    def message(self, text: str, error: bool = False) -> None:
        widget = self.query_one("#launch-message", Static)
        widget.set_class(error, "-error")
        widget.update(Text(text))

    @on(ConfigForm.Changed)
    def _form_changed(self, event: ConfigForm.Changed) -> None:
        self._show_help()
        result = event.result
        self._draw_lr()
        if not result.ok:
            key, message = result.first_error()
            more = len(result.errors) - 1
            self.message(f"✗ {message}" + (f"  (+{more} more)" if more > 0 else ""), error=True)
            self._params(Text("params: fix the form first", style="dim"))
            return
        self.message("")
        self._schedule_check()

    def _params(self, text: Text) -> None:
        self.query_one("#launch-params", Static).update(text)

    def on_descendant_focus(self) -> None:
        self._show_help()

    def _show_help(self) -> None:
        key = self.form.key_of_focused()
        text = (
            self.form.help_for(key)
            if key
            else (
                "tab / shift+tab: next / previous field · ctrl+n / ctrl+b: next / previous section"
                " · ctrl+l launch"
            )
        )
        self.query_one("#launch-help", Static).update(text)

    # ------------------------------------------------------------ preset

    @on(Select.Changed, "#launch-preset")
    def _preset_changed(self, event: Select.Changed) -> None:
        name = str(event.value)
        if name == self._preset_shown:
            return  # the initial value, or set by this screen
        self._preset_shown = name
        try:
            plan = preset_config(name)
            description = api.load_preset(name).description
        except api.UserError as exc:
            self.message(f"✗ preset {name}: {exc}", error=True)
            return
        self.preset = plan.preset
        self.form.load(plan.config)
        self.message(f"loaded preset {name}: {description}")

    # ------------------------------------------------------------ parameter count

    def _schedule_check(self) -> None:
        if self._check_timer is not None:
            self._check_timer.stop()
        self._check_seq += 1
        self._params(Text("params: …", style="dim"))
        self._check_timer = self.set_timer(CHECK_DELAY_S, self._start_check)

    def _start_check(self) -> None:
        result = self.form.result
        if result.config is None:
            return
        request = api.RunRequest(self.preset, config=result.config.to_dict())
        self._check_worker(request, self._check_seq)
        self._preview_changed(request)

    @work(thread=True, exclusive=True, group="launch-check", exit_on_error=False)
    def _check_worker(self, request: api.RunRequest, seq: int) -> None:
        try:
            answer: api.ModelSummary | Exception = self.rt.helper.model_summary(request, False)
        except (HelperError, api.UserError) as exc:
            answer = exc
        data: dict[str, Any] | None = None
        config = request.config or {}
        own = config.get("data", {}).get("name") in api.OWN_DATASETS
        if own and not isinstance(answer, Exception):
            try:
                data = self.rt.helper.inspect_request(request)
            except (HelperError, api.UserError):
                data = None  # the model check above already said what is wrong
        self.app.call_from_thread(self._check_done, answer, seq, data)

    def _check_done(
        self, answer: api.ModelSummary | Exception, seq: int, data: dict[str, Any] | None = None
    ) -> None:
        if seq != self._check_seq:
            return  # the form changed since: a newer check is on its way
        shown = self.query_one("#launch-data", Static)
        shown.display = data is not None
        if data is not None:
            shown.update(data_summary(data))
        if isinstance(answer, HelperError):
            self._params(Text(f"params: unknown ({answer})", style="yellow"))
            return
        if isinstance(answer, Exception):
            self._show_problems(answer)
            self._params(Text(f"✗ {str(answer).splitlines()[0]}", style="red"))
            return
        size = answer.size
        self._params(
            Text.assemble(
                ("params ", "dim"),
                (f"{answer.params:,}", "bold"),
                (
                    f"  {self.form.value('model.name')} on {answer.dataset} "
                    f"({answer.channels}×{size}×{size} → {answer.num_classes} classes)",
                    "dim",
                ),
            )
        )

    def _show_problems(self, exc: Exception) -> str | None:
        """Each problem of a refusal on its field's row; the first field's key."""
        problems = exc.problems if isinstance(exc, api.PlanError) else [exc]
        keys = [getattr(p, "key", None) for p in problems]
        for problem, key in zip(problems, keys, strict=True):
            self.form.show_external_error(key, console_words(str(problem)))
        return next((k for k in keys if k), None)

    # ------------------------------------------------------------ launch

    def action_launch(self) -> None:
        if self._launching:
            self.message("launching… (already asked)")
            return
        result: FormResult = self.form.collect()  # up to date: every change revalidates
        if not result.ok or result.config is None:
            key, message = result.first_error()
            self.message(f"✗ not launched: {message}", error=True)
            if key:
                self.form.focus_field(key)
            return
        self._launching = True
        name = self.query_one("#launch-name", Input).value.strip()
        self.message("checking the model and launching…")
        self._launch_worker(result.config, name, self.preset)

    @work(thread=True, exclusive=True, group="launch", exit_on_error=False)
    def _launch_worker(self, config: api.RunConfig, name: str, preset: str) -> None:
        request = api.RunRequest(preset, config=config.to_dict(), name=name)
        try:
            record, started = actions.launch(self.rt, request)
        except api.UserError as exc:
            self.app.call_from_thread(self._refused, exc)
            return
        self.app.call_from_thread(self._launched, record, started.pid)

    def _refused(self, exc: api.UserError) -> None:
        self._launching = False
        key = self._show_problems(exc)
        lines = console_words(str(exc)).splitlines()
        more = f"  (+{len(lines) - 1} more)" if len(lines) > 1 else ""
        self.message(f"✗ not launched: {lines[0]}{more}", error=True)
        # The whole refusal, however long (the line above holds two rows): what to do is
        # often at its end.
        self.app.notify(str(exc), title="not launched", severity="error", timeout=20, markup=False)
        if key:
            self.form.focus_field(str(key))

    def _launched(self, record: api.RunRecord, pid: int) -> None:
        self._launching = False
        self.message(f"launched run {record.id}")
        actions.launched(self.rt, record, pid)

    def action_loader_bench(self) -> None:
        """Time the form's data loader per num_workers (seed 003's Table 2); a shows the
        fastest value and a sets data.num_workers to it."""
        import os
        import tempfile

        from resnet_tui.screens.loader_bench import LoaderBenchScreen

        result = self.form.collect()
        if not result.ok or result.config is None:
            key, message = result.first_error()
            self.message(f"✗ cannot time the loader: {message}", error=True)
            if key:
                self.form.focus_field(key)
            return
        try:
            handle, name = tempfile.mkstemp(prefix="resnet-tui-form-", suffix=".toml")
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(api.to_toml(result.config.to_dict()))
        except OSError as exc:
            self.message(f"✗ cannot write the form's config for the bench: {exc}", error=True)
            return

        def apply(workers: int) -> None:
            self.form.set_value("data.num_workers", workers)
            self.form.revalidate("data.num_workers")
            self.message(f"data.num_workers = {workers}: the fastest loader measured")

        title = f"the Launch form ({self.preset or 'no preset'})"
        screen = LoaderBenchScreen(
            name, title=title, workers=self.bench_workers, on_apply=apply, remove_target=True
        )
        self.app.push_screen(screen)

    # ------------------------------------------------------------ presets and navigation

    def action_save_preset(self) -> None:
        result = self.form.collect()
        if not result.ok or result.config is None:
            key, message = result.first_error()
            self.message(f"✗ not saved: {message}", error=True)
            if key:
                self.form.focus_field(key)
            return
        config = result.config

        def save(name: str, description: str) -> str | None:
            try:
                path = api.save_preset(name, config, description)
            except api.UserError as exc:
                return str(exc)
            except OSError as exc:
                return f"cannot write the preset: {exc}"
            self.notify(f"saved preset {name} to {path}", title="preset saved")
            return None

        def saved(name: str | None) -> None:
            if not name:
                return
            select = self.query_one("#launch-preset", Select)
            self._preset_shown = name
            select.set_options(self._preset_options())
            select.value = name
            self.preset = name
            self.message(f"saved preset {escape(name)}")

        self.app.push_screen(SavePresetScreen(save), saved)

    def _section(self, step: int) -> None:
        from textual.widgets import TabbedContent

        tabs = self.form.query_one(TabbedContent)
        sections = list(SECTION_TITLES)
        active = tabs.active.removeprefix("tab-")
        current = sections.index(active) if active in sections else 0
        self.form.focus_section(sections[(current + step) % len(sections)])

    def action_next_section(self) -> None:
        self._section(1)

    def action_previous_section(self) -> None:
        self._section(-1)

    def action_leave_field(self) -> None:
        self.set_focus(None)


def data_summary(report: dict[str, Any]) -> Text:
    """One or two lines on the user's images (``resnet-tui data inspect`` has the whole)."""
    images = report["images"]
    carved = " (" + "/".join(report["carved"]) + " carved)" if report["carved"] else ""
    size = report["input"]["size"]
    text = Text.assemble(
        ("data ", "dim"),
        (f"{len(report['classes'])} classes", "bold"),
        f" · train {images.get('train', 0):,}{carved}"
        f" · {report['input']['channels']}×{size}×{size}"
        f" · {'in memory' if report['path'] == 'memory' else 'streamed'}",
    )
    if report["skipped"]:
        text.append(f" · {len(report['skipped'])} files skipped", style="yellow")
    problems = [p for p in report["problems"] if p.startswith("class imbalance")]
    if problems:
        text.append(" · " + problems[0], style="yellow")
    return text
