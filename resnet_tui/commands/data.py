"""``resnet-tui data inspect ROOT``: what a run would make of your image folder, before one
exists (classes and counts, sizes, channels, imbalance, skipped files, input and path).
``resnet-tui data preview PRESET``: training images per class as the model sees them, plain
or augmented, in the terminal (half-blocks) or as a PNG (``--out``).

``register(app)`` adds the ``data`` group. It asks ``engine.api.compute`` (the folder reader
imports torch), late: ``--help`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

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

if TYPE_CHECKING:
    from engine import api


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


def data_preview(
    preset: Annotated[
        str | None,
        typer.Argument(metavar="PRESET", help="A preset name or a TOML file [digits-quick]."),
    ] = None,
    sets: SetOption = None,
    augmented: Annotated[
        bool,
        typer.Option(
            "--augmented", help="Through the preset's augmentations (mixup/cutmix: mixed tiles)."
        ),
    ] = False,
    seed: Annotated[
        int, typer.Option(metavar="N", help="Which samples and which random augmentations.")
    ] = 0,
    per_class: Annotated[
        int, typer.Option(metavar="N", min=1, max=32, help="Images per class (one row each).")
    ] = 6,
    out: Annotated[
        str | None,
        typer.Option(metavar="FILE.png", help="Write the grid as a PNG instead of drawing it."),
    ] = None,
) -> None:
    """Training images of each class as the model will see them (its input size and
    channels, the normalisation undone), plain or `--augmented`; the same samples for the
    same `--seed`. Drawn in the terminal with half-blocks, or written to `--out FILE.png`."""
    from engine import api
    from engine.api import compute

    if out:
        require_png("--out", out)
    request = api.RunRequest(preset, tuple(sets or ()))
    plan = api.plan_run(request)  # every mistake of the request at once, before torch loads
    grid = compute.preview(plan, augmented=augmented, seed=seed, per_class=per_class)
    if out:
        path = api.save_png(grid, out)
        typer.echo(f"wrote {path} ({len(grid.rows)} classes x {grid.columns} images)")
        return
    print_grid(grid)


def print_grid(grid: api.PictureGrid) -> None:
    """The grid in the terminal: a row per class, its label, its tiles in half-blocks, and
    the classes mixed into them."""
    from rich.table import Table
    from rich.text import Text

    from engine import api
    from resnet_tui.widgets.picture import halfcell_renderable

    c = console()
    c.print(grid.title, style="bold", markup=False, overflow="fold")
    for note in grid.notes:
        c.print(note, markup=False, overflow="fold")
    table = Table.grid(padding=(0, 1))
    for row in grid.rows:
        picture = api.picture_strip(row.tiles)
        mixed = " ".join(t.caption for t in row.tiles if t.caption)
        table.add_row(Text(row.label), halfcell_renderable(picture), Text(mixed))
    c.print(table)


def register(app: typer.Typer) -> None:
    """Add the ``data`` group to the CLI."""
    group = typer.Typer(
        help="Your own image folders; what the model sees of any data.", no_args_is_help=True
    )
    command(group, "inspect", data_inspect)
    command(group, "preview", data_preview)
    app.add_typer(group, name="data")
