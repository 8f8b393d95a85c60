"""The Textual console (placeholder until the console issue lands)."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Footer, Header, Static


class ResnetApp(App[None]):
    TITLE = "resnet-tui"
    BINDINGS = [("q", "quit", "Quit")]

    def __init__(self, runs_dir: str | None = None) -> None:
        super().__init__()
        self.runs_dir = runs_dir

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(
            "resnet-tui console: coming next.\n\n"
            "Meanwhile: `resnet-tui train digits-quick`, `resnet-tui runs best`."
        )
        yield Footer()
