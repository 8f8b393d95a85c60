"""``resnet-tui presets list/show``: the presets (partial configs) and what they resolve to.

``register(app)`` adds the group; engine.presets does the work, torch-free.
"""

from __future__ import annotations

import typer

from resnet_tui.commands._shared import (
    JsonOption,
    SetOption,
    console,
    print_json,
    table,
    user_errors,
)


def presets_list(as_json: JsonOption = False) -> None:
    """The presets and their descriptions."""
    from engine.presets import list_presets

    items = [
        {"name": p.name, "description": p.description, "path": str(p.path)} for p in list_presets()
    ]
    if as_json:
        print_json(items)
        return
    console().print(table("presets", ("name", "description"), items))


def presets_show(name: str, sets: SetOption = None, as_json: JsonOption = False) -> None:
    """The fully resolved config of a preset (with any --set overrides)."""
    from engine.config import to_toml
    from engine.presets import load_preset, resolve

    preset = load_preset(name)
    config, _ = resolve(name, sets)
    if as_json:
        print_json(
            {"name": preset.name, "description": preset.description, "config": config.to_dict()}
        )
        return
    typer.echo(f"# {preset.name}: {preset.description}\n# {preset.path}")
    typer.echo(to_toml(config.to_dict()))


def register(app: typer.Typer) -> None:
    """Add the ``presets`` group to the CLI."""
    group = typer.Typer(help="Presets: partial configs with a description.", no_args_is_help=True)
    group.command("list")(user_errors(presets_list))
    group.command("show")(user_errors(presets_show))
    app.add_typer(group, name="presets")
