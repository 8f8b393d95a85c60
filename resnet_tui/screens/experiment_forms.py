"""Start a sweep or an ablation from the console: two small forms over the engine API.

Each form builds a typed request (``api.SweepRequest``, ``api.AblationRequest``) and hands it
to the engine's helper process (``app.helper.start_sweep`` / ``start_ablation``), which runs
exactly what the CLI's ``sweep --detach`` / ``ablate --detach`` run: it checks the request
(the preset, the swept values, the data and the model, which need torch, never loaded in the
console), records the sweep or the ablation group and starts its process. A refusal is the
engine's own message, shown in the form, which stays open to fix it; nothing is recorded then.

The sweep form also previews the request as it is typed (``api.plan_sweep`` is torch-free):
the number of trials, the sweep's name and each swept key, or what is wrong.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static, TextArea

from engine import api
from engine.api.remote import HelperError
from resnet_tui.state import Console
from resnet_tui.widgets.toggle import Check
from resnet_tui.wording import console_words

UserError = api.UserError
R = TypeVar("R")


def _preset_options(preset: str) -> tuple[list[tuple[str, str]], str]:
    names = [p.name for p in api.list_presets()]
    if preset and preset not in names:
        names.insert(0, preset)  # a TOML file, or a preset that is no longer listed
    chosen = preset or (api.DEFAULT_PRESET if api.DEFAULT_PRESET in names else names[0])
    return [(name, name) for name in names], chosen


def _split_sets(text: str) -> list[str]:
    """The fixed overrides: ``section.key=value`` separated by spaces (quotes allowed)."""
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise UserError(f"fixed overrides: {exc}") from None


class ExperimentFormScreen(ModalScreen[R | None], Generic[R]):
    """A form whose Start asks the engine's helper to start one experiment; subclasses build
    the request and say what the form returns (the sweep's name, the ablation's runs)."""

    BINDINGS: ClassVar[list[Any]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "start", "Start", priority=True),
    ]
    TITLE_TEXT = ""

    def __init__(self, preset: str = "") -> None:
        super().__init__()
        self.preset = preset
        self.busy = False

    @property
    def rt(self) -> Console:
        return cast(Console, self.app)

    def compose(self) -> ComposeResult:
        options, chosen = _preset_options(self.preset)
        with Vertical(classes="dialog experiment-form"):
            yield Label(self.TITLE_TEXT, classes="dialog-title")
            with VerticalScroll(classes="form-fields"):  # the preview and buttons stay in view
                with Horizontal(classes="form-row"):
                    yield Label("preset", classes="form-label")
                    yield Select(
                        options, value=chosen, allow_blank=False, compact=True, id="form-preset"
                    )
                yield from self.compose_fields()
            yield Static("", id="form-preview", classes="form-preview")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Start (ctrl+s)", variant="primary", id="start", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)

    def compose_fields(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.query_one("#form-preset", Select).focus()
        self.changed()

    @property
    def chosen_preset(self) -> str:
        value = self.query_one("#form-preset", Select).value
        return value if isinstance(value, str) else api.DEFAULT_PRESET

    def changed(self) -> None:
        """A field changed: refresh the preview."""

    def check(self) -> None:
        """Refuse (UserError: what is wrong with the form) what can be said before starting."""

    def start(self) -> R:
        """Start the experiment through ``self.rt.helper`` (a worker thread calls this); its
        result is what the form returns."""
        raise NotImplementedError

    def show(self, text: str | Text, error: bool = False) -> None:
        """The preview line, or what is wrong (an engine message, in the console's words)."""
        if isinstance(text, str):
            text = console_words(text)
        preview = self.query_one("#form-preview", Static)
        preview.set_class(error, "error-text")
        preview.update(text)

    @on(Select.Changed)
    @on(Input.Changed)
    @on(TextArea.Changed)
    @on(Checkbox.Changed)
    def _any_change(self) -> None:
        if not self.busy:
            self.changed()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self.action_start()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        if not self.busy:
            self.dismiss(None)

    def action_start(self) -> None:
        if self.busy:
            return
        try:
            self.check()
        except UserError as exc:
            self.show(str(exc), error=True)
            return
        self.busy = True
        self.query_one("#start", Button).disabled = True
        self.show(Text("starting: checking the data and the model…", style="italic"))
        self._launch()

    @work(thread=True, exclusive=True, group="form-launch", exit_on_error=False)
    def _launch(self) -> None:
        try:
            result = self.start()
        except (UserError, HelperError) as exc:
            self.app.call_from_thread(self._refused, str(exc))
            return
        self.app.call_from_thread(self._launched, result)

    def _refused(self, message: str) -> None:
        self.busy = False
        self.query_one("#start", Button).disabled = False
        self.show(message, error=True)

    def _launched(self, result: R) -> None:
        self.busy = False
        self.query_one("#start", Button).disabled = False
        self.rt.follower.invalidate()
        self.dismiss(result)


# ---------------------------------------------------------------- sweeps


@dataclass
class SweepFields:
    """The sweep form's fields, read into the engine's ``SweepRequest``."""

    preset: str
    mode: str  # "grid" or "search"
    lines: list[str]
    trials: str = ""
    parallel: str = ""
    sets: list[str] = field(default_factory=list)
    name: str = ""

    def swept(self) -> dict[str, list[str]]:
        """--grid / --range / --choice values: in a search, LOW:HIGH is a range, A,B a choice."""
        out: dict[str, list[str]] = {"grid": [], "range": [], "choice": []}
        for line in self.lines:
            if self.mode == "grid":
                out["grid"].append(line)
            else:
                _, _, value = line.partition("=")
                out["range" if ":" in value else "choice"].append(line)
        return out

    def search_trials(self) -> int | None:
        if self.mode != "search":
            return None
        text = self.trials.strip()
        if not text.isdigit() or int(text) < 1:
            raise UserError(f"trials: a whole number of at least 1, got '{text}'")
        return int(text)

    def parallel_value(self) -> int | None:
        text = self.parallel.strip()
        if not text:
            return None
        if not text.isdigit() or int(text) < 1:
            raise UserError(f"trials at once: a whole number of at least 1, got '{text}'")
        return int(text)

    def request(self) -> api.SweepRequest:
        """The engine's request (UserError: a field that cannot be read)."""
        swept = self.swept()
        return api.SweepRequest(
            preset=self.preset,
            sets=tuple(self.sets),
            grid=tuple(swept["grid"]),
            ranges=tuple(swept["range"]),
            choices=tuple(swept["choice"]),
            search=self.search_trials(),
            name=self.name,
            parallel=self.parallel_value(),
        )

    def plan(self) -> api.SweepSpec:
        """``api.plan_sweep`` of the request: its definition (ConfigError if wrong)."""
        return api.plan_sweep(self.request())


SWEEP_HELP = {
    "grid": "one swept key per line: KEY=V1,V2,...  every combination is a trial",
    "search": "one key per line: KEY=LOW:HIGH[:log][:int] (a range) or KEY=A,B,... (a choice)",
}
SWEEP_EXAMPLE = {
    "grid": "optim.name=sgd,adam\noptim.lr=0.01,0.1",
    "search": "optim.lr=0.0001:0.1:log\noptim.name=sgd,adam",
}


class SweepFormScreen(ExperimentFormScreen[str]):
    """New sweep (seed 004's grid search, seed 003's Figure 5): returns the sweep's name."""

    TITLE_TEXT = "New sweep: every trial is a run of the preset with the swept keys set"

    def __init__(self, preset: str = "", template: api.SweepRecord | None = None) -> None:
        """``template``: a sweep whose request fills the form (``n`` in the Sweeps view starts
        from the selected sweep)."""
        spec = dict(template.spec) if template is not None else {}
        super().__init__(str(spec.get("preset") or preset))
        self.template = spec
        self.planned_name = ""
        self._asked = 0  # previews asked for: a late answer to an older one is dropped

    def on_mount(self) -> None:
        spec = self.template
        if spec:
            try:
                lines = [api.Param.from_dict(p).argument() for p in spec.get("params") or []]
            except (KeyError, TypeError, ValueError):
                lines = []  # an unreadable document: start from an empty form
            mode = "search" if spec.get("mode") == "search" else "grid"
            self.query_one("#sweep-mode", Select).value = mode
            self.query_one("#sweep-trials", Input).disabled = mode != "search"
            self.query_one("#sweep-lines", TextArea).load_text("\n".join(lines))
            if mode == "search":
                self.query_one("#sweep-trials", Input).value = str(spec.get("trials") or 8)
            self.query_one("#sweep-sets", Input).value = shlex.join(spec.get("sets") or [])
        super().on_mount()

    def compose_fields(self) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Label("mode", classes="form-label")
            yield Select(
                [("grid: every combination", "grid"), ("search: Optuna TPE, N trials", "search")],
                value="grid",
                allow_blank=False,
                compact=True,
                id="sweep-mode",
            )
        yield Label(SWEEP_HELP["grid"], id="sweep-help")
        yield TextArea("", placeholder=SWEEP_EXAMPLE["grid"], id="sweep-lines", compact=True)
        with Horizontal(classes="form-row"):
            yield Label("trials (search)", classes="form-label")
            yield Input("8", id="sweep-trials", compact=True, disabled=True, classes="short")
            yield Label("at once")
            yield Input(
                "", placeholder="1 on CPU", id="sweep-parallel", compact=True, classes="short"
            )
        with Horizontal(classes="form-row"):
            yield Label("fixed overrides", classes="form-label")
            yield Input(
                "", placeholder="section.key=value, space-separated", id="sweep-sets", compact=True
            )
        with Horizontal(classes="form-row"):
            yield Label("name", classes="form-label")
            yield Input("", placeholder="derived from the request", id="sweep-name", compact=True)

    def fields(self) -> SweepFields:
        mode = self.query_one("#sweep-mode", Select).value
        text = self.query_one("#sweep-lines", TextArea).text
        return SweepFields(
            preset=self.chosen_preset,
            mode=mode if isinstance(mode, str) else "grid",
            lines=[line.strip() for line in text.splitlines() if line.strip()],
            trials=self.query_one("#sweep-trials", Input).value,
            parallel=self.query_one("#sweep-parallel", Input).value,
            sets=_split_sets(self.query_one("#sweep-sets", Input).value),
            name=self.query_one("#sweep-name", Input).value.strip(),
        )

    @on(Select.Changed, "#sweep-mode")
    def _mode_changed(self, event: Select.Changed) -> None:
        mode = event.value if isinstance(event.value, str) else "grid"
        self.query_one("#sweep-help", Label).update(SWEEP_HELP[mode])
        self.query_one("#sweep-trials", Input).disabled = mode != "search"
        self.query_one("#sweep-lines", TextArea).placeholder = SWEEP_EXAMPLE[mode]

    def changed(self) -> None:
        try:
            request = self.fields()
        except UserError as exc:
            self.show(str(exc), error=True)
            return
        self._asked += 1
        if not request.lines:
            self.planned_name = ""
            example = SWEEP_EXAMPLE[request.mode].replace("\n", "  and  ")
            self.show(Text(f"write the swept keys, one per line, e.g. {example}", style="dim"))
            return
        self._preview(request, self._asked)

    @work(thread=True, exclusive=True, group="form-preview", exit_on_error=False)
    def _preview(self, request: SweepFields, asked: int) -> None:
        try:
            spec = request.plan()
            existing = api.existing_sweep(self.rt.store, spec) is not None
        except UserError as exc:
            self.app.call_from_thread(self._previewed, None, str(exc), asked, False)
            return
        self.app.call_from_thread(self._previewed, spec, "", asked, existing)

    def _previewed(self, spec: Any, error: str, asked: int, existing: bool) -> None:
        if self.busy or asked != self._asked:
            return
        if spec is None:
            self.planned_name = ""
            self.show(error, error=True)
            return
        self.planned_name = spec.name
        text = Text()
        text.append(f"{spec.trials} trial{'s' if spec.trials != 1 else ''}", style="bold")
        text.append(f" of {spec.preset} · sweep {spec.name}")
        if existing:
            text.append(" (recorded already: Start continues it)", style="yellow")
        text.append("\n")
        text.append("\n".join(p.describe() for p in spec.params), style="dim")
        self.show(text)

    def check(self) -> None:
        fields = self.fields()
        if not fields.lines:
            raise UserError("write at least one swept key, e.g. optim.lr=0.01,0.1")
        fields.request()

    def start(self) -> str:
        sweep, _ = self.rt.helper.start_sweep(self.rt.store.root, self.fields().request())
        return sweep.name


# ---------------------------------------------------------------- ablations


class AblationFormScreen(ExperimentFormScreen[api.Launched]):
    """New ablation (seed 002): the base run and one run per removed component, trained one
    after another. Returns what was launched: the group and its runs, base first."""

    TITLE_TEXT = "New ablation: the preset, and the preset without each ticked component"

    def compose_fields(self) -> ComposeResult:
        yield Label("remove")
        for component in api.list_components():
            yield Check(
                f"{component.name}: {component.description}",
                value=component.name != "skip",
                id=f"remove-{component.name}",
            )
        with Horizontal(classes="form-row"):
            yield Label("fixed overrides", classes="form-label")
            yield Input(
                "", placeholder="section.key=value, space-separated", id="ablate-sets", compact=True
            )
        with Horizontal(classes="form-row"):
            yield Label("base run's name", classes="form-label")
            yield Input(
                "",
                placeholder="the preset's (the others add -no-X)",
                id="ablate-name",
                compact=True,
            )

    def removed(self) -> list[str]:
        return [
            c.name
            for c in api.list_components()
            if self.query_one(f"#remove-{c.name}", Checkbox).value
        ]

    def changed(self) -> None:
        removed = self.removed()
        if not removed:
            self.show("tick at least one component to remove", error=True)
            return
        runs = ["base", *(f"no-{name}" for name in removed)]
        self.show(
            Text.assemble(
                (f"{len(runs)} runs", "bold"),
                f" of {self.chosen_preset}, trained one after another: {', '.join(runs)}\n",
                ("then compared with the base run in the Compare view", "dim"),
            )
        )

    def request(self) -> api.AblationRequest:
        removed = self.removed()
        if not removed:
            raise UserError("tick at least one component to remove")
        return api.AblationRequest(
            preset=self.chosen_preset,
            remove=tuple(removed),
            sets=tuple(_split_sets(self.query_one("#ablate-sets", Input).value)),
            name=self.query_one("#ablate-name", Input).value.strip(),
        )

    def check(self) -> None:
        self.request()

    def start(self) -> api.Launched:
        return self.rt.helper.start_ablation(self.rt.store.root, self.request())
