"""What every view shares: the mode bar on top, the footer below, typed access to the console
(``resnet_tui.state.Console``: the App as the views see it)."""

from __future__ import annotations

from typing import Any, ClassVar, cast

from textual.app import ComposeResult
from textual.screen import Screen

from resnet_tui.state import Console
from resnet_tui.widgets.footer import KeyFooter
from resnet_tui.widgets.modebar import ModeBar


class ViewScreen(Screen[None]):
    """A view: ``compose_body`` between the mode bar and the footer.

    ``refresh_view`` redraws from the app's state; live updates that arrive while the view is
    not shown only mark it stale, and it catches up when it is shown again.
    """

    MODE: ClassVar[str] = ""

    def __init__(self) -> None:
        super().__init__()
        self._stale = False

    @property
    def rt(self) -> Console:
        return cast(Console, self.app)

    @property
    def mode_name(self) -> str:
        """The view named in the mode bar (a pushed screen names the view it came from)."""
        return self.MODE

    def compose(self) -> ComposeResult:
        yield ModeBar(self.mode_name)
        yield from self.compose_body()
        yield KeyFooter(compact=True)

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.rt.state.runs_signal.subscribe(self, self._runs_published)
        self.refresh_view()

    def _runs_published(self, runs: list[Any]) -> None:
        if self.is_current:
            self.refresh_view()
        else:
            self._stale = True

    def on_screen_resume(self) -> None:
        if self._stale:
            self._stale = False
            self.refresh_view()

    def refresh_view(self) -> None:
        """Redraw from ``self.rt.state.runs`` (and whatever else the view shows)."""
