"""The presets: enter trains one as it is (after asking once: its name, data and device), e
opens it in the Launch form for editing; w sweeps it, a ablates it, l times its data loader
per num_workers."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from engine import api
from resnet_tui.screens import actions
from resnet_tui.screens.base import ViewScreen
from resnet_tui.state import LaunchRequest

# What "[seed 003]" at the end of a description means, said once, under it.
SEED_NOTE = (
    "[seed NNN]: the reference project NNN whose experiment the preset reproduces "
    "(the README's preset table lists them)\n"
)


class PresetsScreen(ViewScreen):
    MODE = "presets"
    BINDINGS = [
        Binding("enter", "launch", "Train it", priority=True),
        Binding("e", "edit", "Edit in form"),
        Binding("w", "sweep", "Sweep"),
        Binding("a", "ablate", "Ablate"),
        Binding("l", "loader_bench", "Loader bench"),
        Binding("g", "reload", "Reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.presets: list[api.Preset] = []

    def compose_body(self) -> ComposeResult:
        table: DataTable[Any] = DataTable(id="presets-table", cursor_type="row", zebra_stripes=True)
        yield table
        with VerticalScroll(id="preset-detail-scroll"):
            yield Static("", id="preset-detail")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("preset", key="name")
        table.add_column("", key="kind")
        table.add_column("description", key="description")
        self.action_reload()
        table.focus()

    def action_reload(self) -> None:
        self.presets = api.list_presets()
        table = self.query_one(DataTable)
        table.clear()
        for preset in self.presets:
            table.add_row(
                preset.name,
                "built-in" if preset.builtin else "yours",
                preset.description,
                key=preset.name,
            )
        self._show(self._current())

    def _current(self) -> api.Preset | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        index = table.cursor_row
        return self.presets[index] if 0 <= index < len(self.presets) else None

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show(self._current())

    def _show(self, preset: api.Preset | None) -> None:
        detail = self.query_one("#preset-detail", Static)
        if preset is None:
            detail.update("")
            return
        body = api.to_toml(preset.overrides) if preset.overrides else "(no overrides)\n"
        where = "built-in" if preset.builtin else f"yours: {preset.path}"
        seed = SEED_NOTE if "[seed " in preset.description else ""
        detail.update(
            Text.assemble(
                (f"{preset.name}", "bold"),
                (f"  ({where})\n", "dim"),
                (preset.description + "\n", ""),
                (seed, "dim"),
                ("\n", ""),
                (body, ""),
            )
        )

    def action_launch(self) -> None:
        preset = self._current()
        if preset is not None:
            actions.launch_preset(self.rt, preset.name)

    def action_edit(self) -> None:
        preset = self._current()
        if preset is None:
            return
        try:
            plan = api.plan_run(api.RunRequest(preset.name))
        except api.UserError as exc:
            self.notify(str(exc), severity="error")
            return
        self.rt.request_launch(LaunchRequest(plan.config, plan.preset))

    def action_sweep(self) -> None:
        preset = self._current()
        if preset is not None:
            actions.new_sweep(self.rt, preset.name)

    def action_ablate(self) -> None:
        preset = self._current()
        if preset is not None:
            actions.new_ablation(self.rt, preset.name)

    def action_loader_bench(self) -> None:
        preset = self._current()
        if preset is not None:
            from resnet_tui.screens.loader_bench import open_loader_bench

            open_loader_bench(self.app, preset.name, title=preset.name)
