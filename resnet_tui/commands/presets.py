"""``resnet-tui presets list/show``: the presets (partial configs) and what they resolve to.

``register(app)`` adds the group; the engine API does the work (``api.list_presets``,
``api.load_preset``, ``api.plan_run``), torch-free.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Annotated

import typer

from resnet_tui.commands import _table as t
from resnet_tui.commands._shared import (
    JsonOption,
    SetOption,
    command,
    console,
    print_json,
    require_png,
)

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
        bool,
        typer.Option("--bare", help="Plain TOML, without each key's help and range or the lr."),
    ] = False,
    lr_png: Annotated[
        Path | None,
        typer.Option("--lr-png", metavar="FILE.png", help="Also draw the lr curve into a PNG."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """The fully resolved config of a preset (with any --set overrides), each key followed by
    its help and what it accepts, then the learning rate over the run (TOML comments)."""
    from engine import api
    from resnet_tui.commands import _lr

    if lr_png is not None:
        require_png("--lr-png", lr_png)
    preset = api.load_preset(name)
    plan = api.plan_run(api.RunRequest(name, tuple(sets or ())))  # every mistake at once
    curve = _lr.curve_for(plan.config) if (lr_png or not bare or as_json) else None
    if lr_png is not None and curve is not None:
        title = f"{preset.name}: {api.describe_curve(curve)}".replace("→", "to")
        _lr.write_png(curve, lr_png, title)  # a StoreError: the --out options' one line
    if as_json:
        lr = None
        if curve is not None:
            lr = {
                "schedule": curve.schedule,
                "steps_per_epoch": curve.steps_per_epoch,
                "train_images": curve.train_images,
                "warmup_end": curve.warmup_end,
                "restarts": list(curve.restarts),
                "points": [list(p) for p in curve.points],
            }
        print_json(
            {
                "name": preset.name,
                "description": preset.description,
                "config": plan.config.to_dict(),
                "lr": lr,
            }
        )
        return
    typer.echo(f"# {preset.name}: {preset.description}\n# {preset.path}")
    typer.echo(api.to_toml(plan.config.to_dict(), comments=not bare))
    if curve is not None and not bare:
        typer.echo("# learning rate over the run (what the trainer sets at each step)")
        lines = textwrap.wrap(api.describe_curve(curve), 76) + [api.describe_steps(curve)]
        lines += _lr.text_chart(curve).splitlines()
        typer.echo("\n".join(f"# {line}".rstrip() for line in lines))
    if lr_png is not None:
        typer.echo(f"# lr curve drawn to {lr_png}")


def register(app: typer.Typer) -> None:
    """Add the ``presets`` group to the CLI."""
    group = typer.Typer(help="Presets: partial configs with a description.", no_args_is_help=True)
    command(group, "list", presets_list)
    command(group, "show", presets_show)
    app.add_typer(group, name="presets")
