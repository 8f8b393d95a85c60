"""``resnet-tui presets list/show``: the presets (partial configs) and what they resolve to.

``register(app)`` adds the group; the engine API does the work (``api.list_presets``,
``api.load_preset``, ``api.plan_run``), torch-free.
"""

from __future__ import annotations

from typing import Annotated

import typer

from resnet_tui.commands import _table as t
from resnet_tui.commands._shared import JsonOption, SetOption, command, console, print_json

PRESET_COLUMNS = (t.ident("name"), t.description("description"))


def presets_list(as_json: JsonOption = False) -> None:
    """The presets and their descriptions."""
    from engine import api

    items = [
        {"name": p.name, "description": p.description, "path": str(p.path)}
        for p in api.list_presets()
    ]
    if as_json:
        print_json(items)
        return
    t.print_table("presets", PRESET_COLUMNS, items, console())


def presets_show(
    name: Annotated[str, typer.Argument(metavar="PRESET", help="A preset name or a TOML file.")],
    sets: SetOption = None,
    bare: Annotated[
        bool, typer.Option("--bare", help="Plain TOML, without each key's help and range.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """The fully resolved config of a preset (with any --set overrides), each key followed by
    its help and what it accepts."""
    from engine import api

    preset = api.load_preset(name)
    plan = api.plan_run(api.RunRequest(name, tuple(sets or ())))  # every mistake at once
    if as_json:
        print_json(
            {
                "name": preset.name,
                "description": preset.description,
                "config": plan.config.to_dict(),
            }
        )
        return
    typer.echo(f"# {preset.name}: {preset.description}\n# {preset.path}")
    typer.echo(api.to_toml(plan.config.to_dict(), comments=not bare))


def register(app: typer.Typer) -> None:
    """Add the ``presets`` group to the CLI."""
    group = typer.Typer(help="Presets: partial configs with a description.", no_args_is_help=True)
    command(group, "list", presets_list)
    command(group, "show", presets_show)
    app.add_typer(group, name="presets")
