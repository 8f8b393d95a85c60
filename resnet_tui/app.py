"""The Textual console: wires the views (modes) to the run store follower.

The app holds the shared state (the run documents, the selection, the registries) and one
thread worker that polls the store about once a second (``resnet_tui.follow``); views
subscribe to its signals and redraw only what changed. Training never runs in this process.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.signal import Signal
from textual.worker import get_current_worker

from engine.store import ACTIVE, RunStore
from resnet_tui.follow import MetricsState, PollResult, Probe, ProbeError, StoreFollower
from resnet_tui.widgets.modebar import VIEWS


def _welcome() -> Screen[Any]:
    from resnet_tui.screens.welcome import WelcomeScreen

    return WelcomeScreen()


def _launch() -> Screen[Any]:
    from resnet_tui.screens.launch import LaunchScreen

    return LaunchScreen()


def _presets() -> Screen[Any]:
    from resnet_tui.screens.presets import PresetsScreen

    return PresetsScreen()


def _monitor() -> Screen[Any]:
    from resnet_tui.screens.monitor import MonitorScreen

    return MonitorScreen()


def _runs() -> Screen[Any]:
    from resnet_tui.screens.runs import RunsScreen

    return RunsScreen()


def _best() -> Screen[Any]:
    from resnet_tui.screens.best import BestScreen

    return BestScreen()


def _compare() -> Screen[Any]:
    from resnet_tui.screens.compare import CompareScreen

    return CompareScreen()


def _sweeps() -> Screen[Any]:
    from resnet_tui.screens.sweeps import SweepsScreen

    return SweepsScreen()


@dataclass
class LaunchRequest:
    """A config for the Launch form to show next (a preset or a past run to edit)."""

    config: Any  # engine.config.RunConfig
    preset: str
    name: str = ""


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
    MODES = {
        "welcome": _welcome,
        "launch": _launch,
        "presets": _presets,
        "monitor": _monitor,
        "runs": _runs,
        "best": _best,
        "compare": _compare,
        "sweeps": _sweeps,
    }
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
        probe: Probe | None = None,
    ) -> None:
        """``clock``, ``start_mode`` and a shared ``probe`` (left running at exit) are for
        tests; the console itself is ``ResnetApp(runs_dir=...)``."""
        super().__init__()
        self.runs_dir = runs_dir
        self.store = RunStore(runs_dir)
        self.follower = StoreFollower(self.store)
        self.probe = probe or Probe()
        self._own_probe = probe is None
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now().astimezone())
        self.poll_interval = poll_interval
        self.start_mode = start_mode
        self.runs: list[dict[str, Any]] = []
        self.runs_by_id: dict[str, dict[str, Any]] = {}
        self.selection: set[str] = set()
        self.registries: dict[str, Any] | None = None
        self.registry_error = ""
        self.launch_request: LaunchRequest | None = None
        self.monitor_focus: str | None = None
        self.sweep_focus: str | None = None  # the Sweeps view selects it when next shown
        self.runs_signal: Signal[list[dict[str, Any]]] = Signal(self, "runs")
        self.metrics_signal: Signal[tuple[str, MetricsState]] = Signal(self, "metrics")
        self.registries_signal: Signal[dict[str, Any]] = Signal(self, "registries")
        self._watch: dict[str, frozenset[str]] = {}
        self._registries_loading = False
        self._closing = False

    # ------------------------------------------------------------ start and stop

    def on_mount(self) -> None:
        self._apply(self.follower.poll())  # the first read is synchronous: no empty flash
        mode = self.start_mode
        if mode is None:
            if not self.runs:
                mode = "welcome"
            elif any(d.get("status") in ACTIVE for d in self.runs):
                mode = "monitor"
            else:
                mode = "runs"
        self.switch_mode(mode)
        self._follow()

    def on_unmount(self) -> None:
        self._closing = True
        self.follower.wake.set()
        if self._own_probe:
            self.probe.close()

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
            self.runs = result.runs
            self.runs_by_id = {d["id"]: d for d in result.runs}
            self.selection &= set(self.runs_by_id)
            self.runs_signal.publish(self.runs)
        for run_id, state in result.metrics.items():
            self.metrics_signal.publish((run_id, state))
        for warning in result.warnings:
            self.notify(warning, title="run store", severity="warning", timeout=10)

    # ------------------------------------------------------------ shared services

    def watch_metrics(self, owner: str, run_ids: Iterable[str]) -> None:
        """Follow these runs' metrics for ``owner`` (a view); the union of all owners is read."""
        self._watch[owner] = frozenset(run_ids)
        self.follower.watch(frozenset().union(*self._watch.values()))
        for run_id in self._watch[owner]:
            state = self.follower.metrics(run_id)
            if state is not None:
                self.metrics_signal.publish((run_id, state))

    def want_registries(self) -> None:
        """Load the model/dataset/optimizer/schedule registries once, from the helper."""
        if self.registries is None and not self._registries_loading:
            self._registries_loading = True
            self._load_registries()

    @work(thread=True, group="registries", exit_on_error=False)
    def _load_registries(self) -> None:
        try:
            answer = self.probe.request("registries")
        except ProbeError as exc:
            answer = {"error": str(exc)}
        self.call_from_thread(self._registries_loaded, answer)

    def _registries_loaded(self, answer: dict[str, Any]) -> None:
        self._registries_loading = False
        if "error" in answer:
            self.registry_error = str(answer["error"])
            self.notify(
                f"cannot load the model registry: {self.registry_error}",
                severity="error",
                timeout=10,
            )
            return
        self.registries = answer
        self.registries_signal.publish(answer)

    def request_launch(self, request: LaunchRequest) -> None:
        """Show ``request`` in the Launch form."""
        self.launch_request = request  # the Launch view takes it when it is shown
        self.switch_mode("launch")

    # ------------------------------------------------------------ command palette

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Every key of the current view is also a command (and the views themselves)."""
        seen: set[str] = set()
        for active in screen.active_bindings.values():
            binding = active.binding
            if not binding.show or not binding.description or binding.action in seen:
                continue
            seen.add(binding.action)
            yield SystemCommand(
                binding.description,
                f"key: {self.get_key_display(binding)}",
                partial(self.run_action, binding.action, active.node),
            )
        for mode, title, key in VIEWS:
            if f"switch_mode('{mode}')" not in seen:
                yield SystemCommand(
                    f"Go to {title}", f"key: {key}", partial(self.switch_mode, mode)
                )
        yield from super().get_system_commands(screen)
