"""``resnet-tui data inspect ROOT``: what a run would make of your image folder, before one
exists (classes and counts, sizes, channels, imbalance, skipped files, input and path).

``register(app)`` adds the ``data`` group. It asks ``engine.api.compute`` (the folder reader
imports torch), late: ``--help`` stays fast.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from resnet_tui.commands import _table as t
from resnet_tui.commands._shared import JsonOption, SetOption, command, console, print_json


def data_inspect(
    root: Annotated[
        str,
        typer.Argument(
            metavar="ROOT", help="The folder: ROOT/train/CLASS/ (val/ and test/ optional)."
        ),
    ],
    sets: SetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Classes, counts per split, sizes, channels, imbalance, files that would be skipped,
    and the input size and loading path a run would use (`--set data.image_size=N` etc.)."""
    from engine.api import compute

    report = compute.inspect_data(root, sets or [])
    if as_json:
        print_json(report)
        return
    print_report(report)


def print_report(report: dict[str, Any]) -> None:
    c = console()
    c.print(f"your images in {report['root']}", style="bold", markup=False, overflow="fold")
    splits = list(report["images"])
    columns = [t.ident("name", "class"), *(t.number(split) for split in splits)]
    t.print_table("", columns, report["classes"], c)
    counts = ", ".join(f"{split} {n:,}" for split, n in report["images"].items())
    carved = ", ".join(
        f"{split} {fraction:.0%} of train" for split, fraction in report["carved"].items()
    )
    c.print(f"images: {counts}" + (f" (carved: {carved})" if carved else ""), markup=False)
    sizes = report["sizes"]
    shown = ", ".join(f"{s['width']}x{s['height']} ({s['images']:,})" for s in sizes[:3])
    more = f" and {len(sizes) - 3} more sizes" if len(sizes) > 3 else ""
    c.print(f"sizes: {shown}{more}", markup=False)
    c.print(
        f"channels: {report['grayscale_images']:,} grayscale, {report['colour_images']:,} colour",
        markup=False,
    )
    i = report["input"]
    c.print(f"input: {i['channels']}x{i['size']}x{i['size']}: {i['why']}", markup=False)
    c.print(f"path: {report['path']}: {report['path_why']}", markup=False)
    for line in report["problems"] or ["problems: none"]:
        c.print(line, markup=False, overflow="fold")


def register(app: typer.Typer) -> None:
    """Add the ``data`` group to the CLI."""
    group = typer.Typer(help="Your own image folders.", no_args_is_help=True)
    command(group, "inspect", data_inspect)
    app.add_typer(group, name="data")
