"""``resnet-tui settings show/set`` (the user's settings file) and ``resnet-tui alerts
try/check`` (the alert command run when a run ends).

``register(app)`` adds both groups; the engine API does the work (``api.load_settings``,
``api.set_setting``, ``api.try_command``, ``api.record_crashes``), torch-free.
"""

from __future__ import annotations

from typing import Annotated

import typer

from resnet_tui.commands import _table as t
from resnet_tui.commands._shared import JsonOption, command, console, fail, print_json, store

SETTING_COLUMNS = (t.ident("key"), t.ident("value"), t.description("help"))


def settings_show(as_json: JsonOption = False) -> None:
    """Every setting, its value and what it does, and the file they are read from
    (RESNET_TUI_CONFIG moves it)."""
    from engine import api

    path = api.settings_path()
    current = api.load_settings(path)
    if as_json:
        print_json({"path": str(path), "exists": path.exists(), **current.values()})
        return
    rows = [
        {"key": s.key, "value": _shown(current.value(s.key)), "help": f"{s.help} ({s.describe()})"}
        for s in api.SETTINGS
    ]
    t.print_table("settings", SETTING_COLUMNS, rows, console())
    typer.echo(f"{path}{'' if path.exists() else ' (not written yet: every value is a default)'}")


def settings_set(
    key: Annotated[str, typer.Argument(metavar="KEY", help="A setting, e.g. alerts.bell.")],
    value: Annotated[str, typer.Argument(metavar="VALUE", help="Its new value.")],
) -> None:
    """Set one setting in the settings file (created when missing)."""
    from engine import api

    changed = api.set_setting(key, value)
    typer.echo(f"{key} = {_shown(changed.value(key))} ({changed.path})")


def alerts_try(
    ref: Annotated[str, typer.Argument(metavar="RUN", help="A run: its id, a prefix, its name.")],
) -> None:
    """Run the alert command for RUN now, and say how it went.

    The command gets RUN's variables as a trainer gives them when a run ends; exit status 1
    when it failed."""
    from engine import api

    cmd, problem = api.try_command(store(), ref)
    if problem is not None:
        fail(f"alert command `{cmd}` {problem}", 1)
    typer.echo(f"alert command `{cmd}` ran for {ref}: ok")


def alerts_check() -> None:
    """Record crashed runs and run the alert command for each (for cron).

    A crashed run is one whose trainer is gone (killed, out of memory, the machine
    restarted); an open console records them too."""
    from engine import api

    s = store()
    done = api.record_crashes(s, api.list_runs(s))
    command = api.load_settings().alerts.command.strip()
    then = "alert command started" if command else "no alert command is set (alerts.command)"
    for run_id in done:
        typer.echo(f"{run_id} crashed: recorded; {then}")
    if not done:
        typer.echo("no new crashes")


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if value != "" else '""'


def register(app: typer.Typer) -> None:
    """Add the ``settings`` and ``alerts`` groups to the CLI."""
    group = typer.Typer(help="Your settings (alerts).", no_args_is_help=True)
    command(group, "show", settings_show)
    command(group, "set", settings_set)
    app.add_typer(group, name="settings")
    alerts = typer.Typer(
        help="The command run when a run ends (settings: alerts.command).", no_args_is_help=True
    )
    command(alerts, "try", alerts_try)
    command(alerts, "check", alerts_check)
    app.add_typer(alerts, name="alerts")
