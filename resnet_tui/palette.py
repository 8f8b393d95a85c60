"""The command palette's commands: every action of the console, from whichever view.

Textual's own provider lists the keys of the view shown (``ResnetApp.get_system_commands``);
this one adds what the console can do anywhere: go to each view, open the Launch form, train
a preset, stop or resume a run, restore an archived run or unpin a pinned one, show or
hide archived runs, stop or resume a sweep, stack or compare the selected runs,
start a sweep or an ablation, and open any run by its name. Each command goes through the
same function as the view's key (``screens.actions``), so it asks the same questions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from engine import api
from resnet_tui.screens import actions
from resnet_tui.screens import marks as mark_actions
from resnet_tui.state import Console
from resnet_tui.widgets.modebar import VIEWS

OPEN_RUNS = 2000  # the newest runs "Open run" offers (matching is per keystroke)
RESUMABLE = ("stopped", "crashed", "failed")


@dataclass(frozen=True)
class Command:
    title: str
    help: str
    run: Callable[[], Any]
    discover: bool = False  # listed before anything is typed


def _open_run(app: Console, run_id: str) -> None:
    from resnet_tui.screens.detail import RunDetailScreen

    app.push_screen(RunDetailScreen(run_id))


def _open_sweep(app: Console, name: str) -> None:
    app.state.sweep_focus = name
    app.switch_mode("sweeps")


def _analyse_sweep(app: Console, doc: dict[str, Any]) -> None:
    from resnet_tui.screens.sweep_analysis import SweepAnalysisScreen

    app.push_screen(SweepAnalysisScreen(api.SweepRecord.from_json(doc)))


def console_commands(app: Console) -> list[Command]:
    """Every command, for the runs and sweeps the console holds now."""
    views = [
        Command(f"Go to {title}", f"the {title} view (key {key})", partial(app.switch_mode, mode))
        for mode, title, key in VIEWS
    ]
    selected = len(app.state.selection)
    general = [
        Command(
            "Launch a run: the Launch form",
            "every setting of a run, checked as you type (key 1)",
            partial(app.switch_mode, "launch"),
        ),
        Command(
            "Sweep a preset",
            "a grid or a search over config keys; every trial is a run",
            partial(actions.new_sweep, app),
        ),
        Command(
            "Ablate a preset",
            "the preset, and the preset without each ticked component",
            partial(actions.new_ablation, app),
        ),
        Command(
            "Stack the selected runs",
            f"an ensemble of the finished runs selected ({selected} now; space in Runs selects)",
            partial(actions.stack_selected, app),
        ),
        Command(
            "Compare the selected runs",
            f"curves, configs and stats side by side ({selected} selected now)",
            partial(app.switch_mode, "compare"),
        ),
        Command(
            ("Hide" if app.state.show_archived else "Show") + " archived runs",
            f"in every view ({app.state.archived_count} archived; key h in Runs)",
            partial(mark_actions.toggle_show_archived, app),
        ),
    ]
    commands = [*(Command(c.title, c.help, c.run, discover=True) for c in (*views, *general))]
    for preset in api.list_presets():
        commands.append(
            Command(
                f"Train preset {preset.name}",
                "asks first: the run's name, its data and device",
                partial(actions.launch_preset, app, preset.name),
            )
        )
    runs = app.state.runs
    for run in runs:
        label = run.name or run.id
        if run.active:
            commands.append(
                Command(
                    f"Stop run {label}",
                    f"{run.id} ({run.status}); asks first",
                    partial(actions.stop_run, app, run.id),
                )  # fmt: skip
            )
        elif run.status in RESUMABLE:
            commands.append(
                Command(
                    f"Resume run {label}",
                    f"{run.id} ({run.status}), from its checkpoint",
                    partial(actions.resume_run, app, run.id),
                )  # fmt: skip
            )
    for run in app.state.all_runs:
        if run.archived:
            commands.append(
                Command(
                    f"Restore run {run.name or run.id}",
                    f"{run.id}: archived; shown in the lists again",
                    partial(mark_actions.set_archived, app, run, False),
                )  # fmt: skip
            )
        if run.pinned:
            commands.append(
                Command(
                    f"Unpin run {run.name or run.id}",
                    f"{run.id}: pinned on top of the lists",
                    partial(mark_actions.set_pinned, app, run, False),
                )  # fmt: skip
            )
    for run in runs[:OPEN_RUNS]:
        commands.append(
            Command(
                f"Open run {run.name or run.id}",
                f"{run.id}: {run.status}, {run.model or '?'} on {run.dataset or '?'}",
                partial(_open_run, app, run.id),
            )
        )
    for sweep in _sweeps(app):
        name, status = str(sweep.get("name")), str(sweep.get("status") or "queued")
        commands.append(
            Command(
                f"Open sweep {name}",
                f"{status}: its trials and plots",
                partial(_open_sweep, app, name),
            )  # fmt: skip
        )
        commands.append(
            Command(
                f"Analyse sweep {name}",
                "parallel coordinates of its trials, parameter importance (key a in Sweeps)",
                partial(_analyse_sweep, app, sweep),
            )  # fmt: skip
        )
        if status in ("queued", "running"):
            commands.append(
                Command(
                    f"Stop sweep {name}",
                    "its trials stop at a checkpoint; asks first",
                    partial(actions.stop_sweep, app, name),
                )  # fmt: skip
            )
        elif status != "finished":
            commands.append(
                Command(
                    f"Resume sweep {name}",
                    f"{status}: finished trials are kept",
                    partial(actions.resume_sweep, app, name),
                )  # fmt: skip
            )
    return commands


def _sweeps(app: Console) -> list[dict[str, Any]]:
    """The sweep documents (their problems are the Sweeps view's to report)."""
    try:
        return api.read_sweeps(app.store)[0]
    except (api.UserError, OSError):
        return []


class ConsoleCommands(Provider):
    """Every action of the console (``console_commands``), matched by Textual's fuzzy
    matcher; the views and the general actions are listed before anything is typed."""

    _commands: list[Command]

    async def startup(self) -> None:
        self._commands = console_commands(cast(Console, self.app))

    async def discover(self) -> Hits:
        for command in self._commands:
            if command.discover:
                yield DiscoveryHit(command.title, command.run, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._commands:
            score = matcher.match(command.title)
            if score > 0:
                yield Hit(score, matcher.highlight(command.title), command.run, help=command.help)
