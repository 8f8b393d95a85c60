"""``resnet-tui models list/summary``: the model registry and one model's layer table.

``register(app)`` adds the group. ``summary`` builds the model, so it imports torch (late:
``models list`` and ``--help`` stay fast).
"""

from __future__ import annotations

from typing import Annotated

import typer

from resnet_tui.commands._shared import (
    JsonOption,
    SetOption,
    console,
    print_json,
    table,
    user_errors,
)


def models_list(as_json: JsonOption = False) -> None:
    """Every registered architecture."""
    from engine.models import list_models

    items = [
        {"name": m.name, "family": m.family, "description": m.description} for m in list_models()
    ]
    if as_json:
        print_json(items)
        return
    console().print(table("models", ("name", "family", "description"), items))


def models_summary(
    name: str,
    sets: SetOption = None,
    dataset: Annotated[str | None, typer.Option(help="Input shape from this dataset.")] = None,
) -> None:
    """The layer table of a model, ending with `Trainable params: N`."""
    from engine.config import RunConfig, parse_override
    from engine.data import dataset_info
    from engine.data.augment import output_size
    from engine.models import create_model, summary

    overrides: list[str] = [f"model.name={name}", *(sets or [])]
    if dataset:
        overrides.append(f"data.name={dataset}")
    config = RunConfig().replace(dict(parse_override(o) for o in overrides))
    if not dataset and not any(o.startswith("data.") for o in overrides):
        config = config.replace({"data.name": _default_dataset(name)})
    info = dataset_info(config.data)
    size = output_size(config.augment, info.image_size)
    model = create_model(config.model, info.channels, info.num_classes, size)
    typer.echo(f"{name} on {info.name} ({info.channels}x{size}x{size}, {info.num_classes} classes)")
    typer.echo(summary(model, info.channels, size))


def _default_dataset(model_name: str) -> str:
    """Small digits models show on digits; everything else on CIFAR-10's 32x32x3 shape."""
    return "digits" if "digits" in model_name else "cifar10"


def register(app: typer.Typer) -> None:
    """Add the ``models`` group to the CLI."""
    group = typer.Typer(help="The model registry.", no_args_is_help=True)
    group.command("list")(user_errors(models_list))
    group.command("summary")(user_errors(models_summary))
    app.add_typer(group, name="models")
