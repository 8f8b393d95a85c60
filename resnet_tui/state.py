"""What the console's views share, apart from the App: the state they read and the services
they call.

``ConsoleState`` is the data (the run documents, the selection, the registries, the
one-shot "show this next" mailboxes) and the three signals that say it changed. ``Console``
is the Protocol the screens and ``screens.actions`` type against: the App (resnet_tui.app)
satisfies it, but no screen imports the App module, so the App can import the screens and
there is no import cycle between them. This module imports no torch and no screen.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableSet
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from textual.signal import Signal

if TYPE_CHECKING:
    from textual.dom import DOMNode
    from textual.notifications import SeverityLevel
    from textual.screen import Screen, ScreenResultCallbackType
    from textual.worker import Worker

    from engine import api
    from engine.api.remote import EngineHelper
    from resnet_tui.follow import MetricsState, StoreFollower

T = TypeVar("T")
ScreenResult = TypeVar("ScreenResult")


class Selection(MutableSet[str]):
    """The runs picked (space), in the order they were picked: Compare's baseline is the
    first of them unless one is pinned. A set otherwise (``in``, ``&=``, ``==`` a set)."""

    def __init__(self, run_ids: Iterable[str] = ()) -> None:
        self._ids: dict[str, None] = dict.fromkeys(run_ids)

    def __contains__(self, run_id: object) -> bool:
        return run_id in self._ids

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __repr__(self) -> str:
        return f"Selection({list(self._ids)!r})"

    def add(self, run_id: str) -> None:
        self._ids.setdefault(run_id, None)

    def discard(self, run_id: str) -> None:
        self._ids.pop(run_id, None)

    def update(self, run_ids: Iterable[str]) -> None:
        for run_id in run_ids:
            self.add(run_id)

    def clear(self) -> None:
        self._ids.clear()


@dataclass
class LaunchRequest:
    """A config for the Launch form to show next (a preset or a past run to edit)."""

    config: api.RunConfig
    preset: str
    name: str = ""


class ConsoleState:
    """The data every view reads, owned by the App and changed on its thread only.

    ``runs`` is the runs the views list (typed records), newest first: every run but the
    archived ones, unless ``show_archived`` (the one place that hides them, so no view lists
    them by mistake); ``all_runs`` is every run and ``runs_by_id`` indexes every run (a run
    opened by its id shows, archived or not). ``selection`` is the runs picked for Compare,
    Best and stacking (shown runs only). ``launch_request``, ``monitor_focus``
    and ``sweep_focus`` are mailboxes: one view leaves something there and switches to the
    view that takes it when it is shown. The signals tell subscribed views what changed.
    """

    def __init__(self, owner: DOMNode) -> None:
        self.runs: list[api.RunRecord] = []
        self.all_runs: list[api.RunRecord] = []
        self.show_archived = False  # h in the Runs view: list archived runs too
        self.archived_count = 0  # archived runs in the store (shown or not)
        self.archived_hidden = 0  # archived runs left out of ``runs``
        self.runs_by_id: dict[str, api.RunRecord] = {}
        self.runs_total: int | None = None  # while ``runs`` is only the newest of this many
        self.selection = Selection()
        self.registries: api.Catalog | None = None  # from the helper process, once
        self.registry_error = ""
        self.launch_request: LaunchRequest | None = None  # the Launch view takes it
        self.monitor_focus: str | None = None  # the Monitor view selects this run
        self.sweep_focus: str | None = None  # the Sweeps view selects this sweep
        self.runs_signal: Signal[list[api.RunRecord]] = Signal(owner, "runs")
        self.metrics_signal: Signal[tuple[str, MetricsState]] = Signal(owner, "metrics")
        self.registries_signal: Signal[api.Catalog] = Signal(owner, "registries")

    def set_runs(self, runs: list[api.RunRecord], total: int | None = None) -> None:
        """A new list of runs (``total``: it is the newest of that many, the rest to come): a
        deleted run leaves the selection; views redraw."""
        self.all_runs = runs
        self.runs_total = total
        self.runs_by_id = {r.id: r for r in runs}
        self._publish_runs()

    def set_show_archived(self, show: bool) -> None:
        """List archived runs too (or hide them again, and unselect them); views redraw."""
        self.show_archived = show
        self._publish_runs()

    def _publish_runs(self) -> None:
        runs = self.all_runs
        self.archived_count = sum(1 for r in runs if r.archived)
        hide = self.archived_count > 0 and not self.show_archived
        self.runs = [r for r in runs if not r.archived] if hide else runs
        self.archived_hidden = len(runs) - len(self.runs)
        if self.runs_total is None:
            self.selection &= {r.id for r in self.runs}
        self.runs_signal.publish(self.runs)

    def set_registries(self, registries: api.Catalog) -> None:
        self.registries = registries
        self.registries_signal.publish(registries)


class Console(Protocol):
    """What the screens and actions use of the App: its state, its services, and the few
    Textual App methods they call on it (signatures as Textual declares them, narrowed)."""

    store: api.RunStore
    follower: StoreFollower
    helper: EngineHelper
    state: ConsoleState
    clock: Callable[[], datetime]

    @property
    def closing(self) -> bool:
        """True once the console is shutting down (long thread workers stop waiting)."""
        ...

    def watch_metrics(self, owner: str, run_ids: Iterable[str]) -> None:
        """Follow these runs' metrics for ``owner`` (a view), replacing its previous set."""
        ...

    def want_registries(self) -> None:
        """Load the registries once (``state.registries_signal`` says when they are in)."""
        ...

    def request_launch(self, request: LaunchRequest) -> None:
        """Show ``request`` in the Launch form."""
        ...

    # -- Textual's App

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None: ...

    def switch_mode(self, mode: str) -> object: ...

    def push_screen(
        self,
        screen: Screen[ScreenResult],
        callback: ScreenResultCallbackType[ScreenResult] | None = None,
    ) -> object: ...

    def call_from_thread(
        self, callback: Callable[..., T | Awaitable[T]], *args: Any, **kwargs: Any
    ) -> T: ...

    def run_worker(
        self,
        work: Callable[[], Any],
        name: str | None = "",
        group: str = "default",
        description: str = "",
        exit_on_error: bool = True,
        start: bool = True,
        exclusive: bool = False,
        thread: bool = False,
    ) -> Worker[Any]: ...
