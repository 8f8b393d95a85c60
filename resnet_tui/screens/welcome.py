"""Shown when the run store is empty: what this is, and one key to a first run."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, VerticalScroll
from textual.widgets import Static

from engine import api
from resnet_tui.screens.actions import launch_preset
from resnet_tui.screens.base import ViewScreen


class WelcomeScreen(ViewScreen):
    MODE = "welcome"
    BINDINGS = [
        Binding("enter", "quick_launch", f"Train {api.DEFAULT_PRESET}", priority=True),
        Binding("l", "app.switch_mode('launch')", "Launch form"),
        Binding("p", "app.switch_mode('presets')", "Presets"),
    ]

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="welcome"):
            with Center():
                yield Static(self._text(), id="welcome-text")

    def _text(self) -> str:
        try:
            description = api.load_preset(api.DEFAULT_PRESET).description
        except api.UserError as exc:
            description = f"(unreadable: {exc})"
        root = self.rt.store.root
        return (
            "[b]Welcome to resnet-tui[/b]\n\n"
            f"There are no runs in [b]{escape(str(root))}[/b] yet.\n\n"
            f"Press [b reverse] enter [/] to train the default preset "
            f"[b]{api.DEFAULT_PRESET}[/b]:\n"
            f"  {escape(description)}\n\n"
            "It trains in a process of its own: quitting this console, closing the terminal "
            "or losing the SSH connection does not stop it; open resnet-tui again to watch it.\n\n"
            "[b reverse] l [/] the Launch form: architecture, data, augmentations, optimizer, "
            "schedule\n"
            "[b reverse] p [/] the presets (seed papers' setups)\n"
            "[b reverse] 1 [/]…[b reverse] 7 [/] the views, [b reverse] ctrl+p [/] every command, "
            "[b reverse] q [/] quit"
        )

    def action_quick_launch(self) -> None:
        launch_preset(self.rt, api.DEFAULT_PRESET)
