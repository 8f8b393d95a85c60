"""The Textual console: wires the views (modes) to the run store follower.

The app owns the shared state (``resnet_tui.state.ConsoleState``: the run documents, the
selection, the registries) and one thread worker that polls the store about once a second
(``resnet_tui.follow``); views subscribe to the state's signals and redraw only what changed.
Views see the app as a ``resnet_tui.state.Console`` and never import this module. Training
never runs in this process.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial
from importlib import import_module
from typing import TYPE_CHECKING, Any

from textual import events, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import Input, TextArea
from textual.worker import get_current_worker

from engine import api
from engine.api.remote import EngineHelper, HelperError
from resnet_tui.alerts import RunAlerts
from resnet_tui.follow import PollResult, StoreFollower
from resnet_tui.palette import ConsoleCommands
from resnet_tui.state import Console, ConsoleState, LaunchRequest
from resnet_tui.widgets.modebar import VIEWS
from resnet_tui.wording import console_words

# Each view's screen, imported when the view is first shown: the console paints its first view
# without paying for the others' imports (about 0.13 s together).
VIEW_SCREENS = {
    "welcome": "resnet_tui.screens.welcome:WelcomeScreen",
    "launch": "resnet_tui.screens.launch:LaunchScreen",
    "presets": "resnet_tui.screens.presets:PresetsScreen",
    "monitor": "resnet_tui.screens.monitor:MonitorScreen",
    "runs": "resnet_tui.screens.runs:RunsScreen",
    "best": "resnet_tui.screens.best:BestScreen",
    "compare": "resnet_tui.screens.compare:CompareScreen",
    "sweeps": "resnet_tui.screens.sweeps:SweepsScreen",
}


def _view_screen(spec: str) -> Screen[Any]:
    module, _, name = spec.partition(":")
    screen: Screen[Any] = getattr(import_module(module), name)()
    return screen


class Polled(Message):
    """The follower found changes (posted from its thread)."""

    def __init__(self, result: PollResult) -> None:
        super().__init__()
        self.result = result


_VIEW_GROUP = Binding.Group("views", compact=True)


class ResnetApp(App[None]):
    """resnet-tui: launch, watch and compare ResNet training runs."""

    TITLE = "resnet-tui"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    MODES = {mode: partial(_view_screen, spec) for mode, spec in VIEW_SCREENS.items()}
    BINDINGS = [
        *(
            Binding(key, f"switch_mode('{mode}')", f"Go to {title}", group=_VIEW_GROUP)
            for mode, title, key in VIEWS
        ),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        runs_dir: str | os.PathLike[str] | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        poll_interval: float = 1.0,
        start_mode: str | None = None,
        helper: EngineHelper | None = None,
    ) -> None:
        """``clock``, ``start_mode`` and a shared ``helper`` (left running at exit) are for
        tests; the console itself is ``ResnetApp(runs_dir=...)``."""
        super().__init__()
        self.runs_dir = runs_dir
        self.store = api.open_store(runs_dir)
        self.follower = StoreFollower(self.store)
        self.helper = helper or EngineHelper()
        self._own_helper = helper is None
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now().astimezone())
        self.poll_interval = poll_interval
        self.start_mode = start_mode
        self.state = ConsoleState(self)
        # a toast and the bell when a run ends (late-bound: the bell is looked up when it rings)
        self.alerts = RunAlerts(self.notify, lambda: self.bell())
        self._watch: dict[str, frozenset[str]] = {}
        self._registries_loading = False
        self._closing = False

    # ------------------------------------------------------------ start and stop

    def on_mount(self) -> None:
        # The first read is synchronous (no empty flash). The runs it reads live as long as the
        # console (10,000 runs: a million objects): no collection while they are built, and
        # none of the later full collections walks them again.
        gc.disable()
        try:
            self._apply(self.follower.poll())
        finally:
            gc.freeze()
            gc.enable()
        mode = self.start_mode
        if mode is None:
            if not self.state.all_runs:  # (a store of archived runs only opens on Runs)
                mode = "welcome"
            elif any(r.active for r in self.state.runs):
                mode = "monitor"
            else:
                mode = "runs"
        self.switch_mode(mode)
        self._follow()

    @property
    def closing(self) -> bool:
        return self._closing

    def on_unmount(self) -> None:
        self._closing = True
        self.follower.wake.set()
        if self._own_helper:
            self.helper.close()

    @work(thread=True, exclusive=True, group="follow", name="follow", exit_on_error=False)
    def _follow(self) -> None:
        worker = get_current_worker()
        while not (worker.is_cancelled or self._closing):
            self.follower.wake.wait(self.poll_interval)
            self.follower.wake.clear()
            if worker.is_cancelled or self._closing:
                return
            result = self.follower.poll()
            if result:
                self.post_message(Polled(result))

    def on_polled(self, message: Polled) -> None:
        self._apply(message.result)

    def _apply(self, result: PollResult) -> None:
        if result.runs is not None:
            self.state.set_runs(result.runs, result.total)
            self.alerts.update(result.runs, complete=result.total is None)
            if result.total is not None:  # only the newest: read the rest once they are shown
                self.call_after_refresh(self.follower.wake.set)
        for run_id, metrics in result.metrics.items():
            self.state.metrics_signal.publish((run_id, metrics))
        for warning in result.warnings:
            self.notify(warning, title="run store", severity="warning", timeout=10)

    # ------------------------------------------------------------ keys in order

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded and self._key_in_order(event):
            return
        await super().on_event(event)

    def _key_in_order(self, event: events.Key) -> bool:
        """Run a bound key of a focused text field in the field's own queue, after the keys
        typed before it (True: it is queued there).

        Textual inserts a typed character as soon as the field takes the key, but runs a bound
        key (backspace, ctrl+u, end, enter...) only once the key has bubbled up to the App;
        in a burst the characters typed after it are inserted first: backspace, 4 after 65
        gave 65, not 64, and backspace twice then 10 left the field as it was
        (Textualize/textual#6605). Queued in the field, each binding runs in its turn. An
        Input has no other use for keys than typing, so the view's own keys (escape, ctrl+l)
        are queued the same way; a TextArea handles some keys itself, so only its own."""
        focused = self.focused
        if (
            not isinstance(focused, Input | TextArea)
            or event.is_printable
            or self.screen.maximized is not None
        ):
            return False
        active = self.screen.active_bindings.get(event.key)
        if active is None or active.binding.priority or not active.enabled:
            return False  # a priority binding: Textual runs it before the field sees the key
        if active.node is not focused and not isinstance(focused, Input):
            return False
        return focused.call_later(self.run_action, active.binding.action, active.node)

    # ------------------------------------------------------------ shared services

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Textual's notification, in the console's words: an engine message's CLI commands
        and flags become the console's keys (``resnet_tui.wording``)."""
        super().notify(
            console_words(message), title=title, severity=severity, timeout=timeout, markup=markup
        )

    def watch_metrics(self, owner: str, run_ids: Iterable[str]) -> None:
        """Follow these runs' metrics for ``owner`` (a view); the union of all owners is read."""
        self._watch[owner] = frozenset(run_ids)
        self.follower.watch(frozenset().union(*self._watch.values()))
        for run_id in self._watch[owner]:
            metrics = self.follower.metrics(run_id)
            if metrics is not None:
                self.state.metrics_signal.publish((run_id, metrics))

    def want_registries(self) -> None:
        """Load the model/dataset/optimizer/schedule registries once, from the helper."""
        if self.state.registries is None and not self._registries_loading:
            self._registries_loading = True
            self._load_registries()

    @work(thread=True, group="registries", exit_on_error=False)
    def _load_registries(self) -> None:
        try:
            answer: api.Catalog | str = self.helper.catalog()
        except (HelperError, api.UserError) as exc:
            answer = str(exc)
        self.call_from_thread(self._registries_loaded, answer)

    def _registries_loaded(self, answer: api.Catalog | str) -> None:
        self._registries_loading = False
        if isinstance(answer, str):
            self.state.registry_error = answer
            self.notify(
                f"cannot load the model registry: {self.state.registry_error}",
                severity="error",
                timeout=10,
            )
            return
        self.state.set_registries(answer)

    def request_launch(self, request: LaunchRequest) -> None:
        """Show ``request`` in the Launch form."""
        self.state.launch_request = request  # the Launch view takes it when it is shown
        self.switch_mode("launch")

    # ------------------------------------------------------------ command palette

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Every key of the current view is also a command; every action of the console,
        whatever the view, comes from ``resnet_tui.palette.ConsoleCommands``."""
        textual_own = list(super().get_system_commands(screen))  # Quit, Keys, Theme...
        seen: set[str] = set()
        titled = {command.title for command in textual_own}
        for active in screen.active_bindings.values():
            binding = active.binding
            if (
                not binding.show
                or not binding.description
                or binding.action in seen
                or binding.description in titled  # Textual lists it already
                or binding.group is _VIEW_GROUP  # the palette's "Go to" commands
            ):
                continue
            seen.add(binding.action)
            yield SystemCommand(
                binding.description,
                f"key: {self.get_key_display(binding)}",
                partial(self.run_action, binding.action, active.node),
            )
        yield from textual_own


if TYPE_CHECKING:
    _the_app_is_a_console: type[Console] = ResnetApp  # mypy checks the Protocol here
