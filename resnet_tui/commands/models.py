"""``resnet-tui models list/summary``: the model registry and one model's layer table.

``register(app)`` adds the group. Both ask ``engine.api.compute`` (the registry and the model
builder import torch), late: ``--help`` stays fast. ``summary`` builds the model the way a run
of that request would (one builder for the trainer, the form and this table).
"""

from __future__ import annotations

from typing import Annotated

import typer

from resnet_tui.commands import _table as t
from resnet_tui.commands._shared import JsonOption, SetOption, command, console, print_json

MODEL_COLUMNS = (t.ident("name"), t.secondary("family"), t.description("description"))


def models_list(as_json: JsonOption = False) -> None:
    """Every registered architecture."""
    from engine.api import compute

    items = [
        {"name": m.name, "family": m.family, "description": m.description}
        for m in compute.catalog().models
    ]
    if as_json:
        print_json(items)
        return
    t.print_table("models", MODEL_COLUMNS, items, console())


def models_summary(
    name: Annotated[str, typer.Argument(metavar="MODEL", help="A model (`models list`).")],
    sets: SetOption = None,
    dataset: Annotated[
        str | None, typer.Option(metavar="NAME", help="Input shape from this dataset.")
    ] = None,
) -> None:
    """The layer table of a model, ending with `Trainable params: N`."""
    from engine import api
    from engine.api import compute

    overrides = [f"model.name={name}", *(sets or [])]
    if dataset:
        overrides.append(f"data.name={dataset}")
    elif not any(o.startswith("data.") for o in overrides):
        overrides.append(f"data.name={_default_dataset(name)}")
    built = compute.model_summary(api.RunRequest(config={}, sets=tuple(overrides)))
    typer.echo(
        f"{name} on {built.dataset} ({built.channels}x{built.size}x{built.size}, "
        f"{built.num_classes} classes)"
    )
    typer.echo(built.text)


def _default_dataset(model_name: str) -> str:
    """Small digits models show on digits; everything else on CIFAR-10's 32x32x3 shape."""
    return "digits" if "digits" in model_name else "cifar10"


def register(app: typer.Typer) -> None:
    """Add the ``models`` group to the CLI."""
    group = typer.Typer(help="The model registry.", no_args_is_help=True)
    command(group, "list", models_list)
    command(group, "summary", models_summary)
    app.add_typer(group, name="models")
