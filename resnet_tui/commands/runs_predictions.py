"""``resnet-tui runs mistakes RUN`` and ``runs flips A B``: what a run's kept test predictions
say (``api.mistakes``, ``api.flips``; the same refusals as the console's).

Every run keeps each test sample's prediction when its test pass ends (predictions.npz in its
folder). ``mistakes`` lists the wrong ones, most confident first; ``flips`` the samples one
run gets right and the other wrong.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from resnet_tui.commands import _table as t
from resnet_tui.commands._shared import (
    JsonOption,
    command,
    console,
    fail,
    print_json,
    require_png,
    store,
)

if TYPE_CHECKING:
    from engine import api

MISTAKES_LIMIT = 20  # rows the table prints by default; --json lists every mistake

RunArgument = Annotated[
    str, typer.Argument(metavar="RUN", help="A run: its id, a prefix, its name.")
]


def _top5(top: list[tuple[str, float]]) -> str:
    return t.UNIT_SEP.join(f"{name}\u00a0{t.pct(p)}" for name, p in top)  # pairs kept whole


MISTAKE_COLUMNS = (
    t.number("index"),
    t.ident("true"),
    t.ident("pred", "predicted"),
    t.accuracy("confidence"),
    t.pairs("top5", "top 5"),  # the least likely pairs give way at a narrow width
)


def runs_mistakes(
    run: RunArgument,
    true: Annotated[
        str | None, typer.Option("--true", metavar="CLASS", help="Only samples of this class.")
    ] = None,
    pred: Annotated[
        str | None,
        typer.Option("--pred", metavar="CLASS", help="Only samples predicted as this class."),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            metavar="N", help=f"Print the N most confident [{MISTAKES_LIMIT}; --json: all]."
        ),
    ] = None,
    as_json: JsonOption = False,
    out: Annotated[
        str | None,
        typer.Option(
            metavar="FILE.png",
            help="Also write their images as a PNG gallery (the N most confident "
            "[the console's 48]), captioned with test index and confidence.",
        ),
    ] = None,
) -> None:
    """A run's wrong test predictions, most confident first: the sample's index in the test
    split, its true and predicted class, the confidence and the top 5 classes."""
    from engine import api

    if limit is not None and limit < 1:
        fail(f"--limit: must be at least 1, got {limit}")
    if out:
        require_png("--out", out)
    s = store()
    record = api.get_run(s, run)
    found = api.mistakes(s, record.id, true=true, pred=pred)
    if out:
        write_gallery(s, record, found, true, pred, out, limit)
    if as_json:
        shown = found if limit is None else found[:limit]
        print_json(
            {"run": record.id, "count": len(found), "mistakes": [m.to_json() for m in shown]}
        )
        return
    c = console()
    where = "".join(
        f" {what} {name}" for what, name in (("of class", true), ("predicted as", pred)) if name
    )
    count = len(found)
    if not found:
        c.print(f"run {record.name} has no wrong test predictions{where}", markup=False)
        return
    shown = found[: limit or MISTAKES_LIMIT]
    rows: list[dict[str, Any]] = [{**m.to_json(), "top5": _top5(m.top5)} for m in shown]
    title = f"run {record.name}: {count} wrong test prediction{'s' if count != 1 else ''}{where}"
    t.print_table(title + ", most confident first", MISTAKE_COLUMNS, rows, c)
    if len(shown) < count:
        c.print(
            f"({len(shown)} of {count} shown: --limit N for more, --json for all)",
            style="dim",
            markup=False,
        )


def write_gallery(
    s: api.RunStore,
    record: api.RunRecord,
    found: list[Any],
    true: str | None,
    pred: str | None,
    out: str,
    limit: int | None,
) -> None:
    """The console's gallery of these mistakes as a PNG (nothing written when there are none)."""
    from engine import api
    from engine.api import compute

    if not found:
        typer.echo(f"no image written: run {record.name} has no such mistakes", err=True)
        return
    shown = found[: limit or api.GALLERY_LIMIT]
    tiles = compute.sample_images(s, record.id, "test", [m.index for m in shown])
    grid = api.mistakes_grid(record.name, found, tiles, true, pred)
    path = api.save_png(grid, out)
    typer.echo(f"wrote {path} ({len(tiles)} images)", err=True)


def runs_flips(
    a: Annotated[str, typer.Argument(metavar="A", help="A run: its id, a prefix, its name.")],
    b: Annotated[str, typer.Argument(metavar="B", help="Another run tested on the same data.")],
    as_json: JsonOption = False,
) -> None:
    """The test samples run A gets right and B wrong, and back (indices in the test split)."""
    from engine import api

    s = store()
    ra, rb = api.get_run(s, a), api.get_run(s, b)
    flips = api.flips(s, ra.id, rb.id)
    if as_json:
        print_json({"a": ra.id, "b": rb.id, **flips.to_json()})
        return
    c = console()
    for line in flip_lines(ra.name, rb.name, flips):
        c.print(line, markup=False, overflow="fold")


def flip_lines(a: str, b: str, flips: api.Flips) -> list[str]:
    """The counts, then the indices of each side (wrapped, never cut)."""
    lines = [
        f"{a} right, {b} wrong: {len(flips.a_right_b_wrong)}",
        f"{b} right, {a} wrong: {len(flips.b_right_a_wrong)}",
        f"both right: {flips.both_right}  both wrong: {flips.both_wrong}",
    ]
    for label, indices in (
        (f"{a} right, {b} wrong", flips.a_right_b_wrong),
        (f"{b} right, {a} wrong", flips.b_right_a_wrong),
    ):
        if indices:
            lines.append(f"{label} (test indices): " + " ".join(map(str, indices)))
    return lines


def register(group: typer.Typer) -> None:
    """Add ``mistakes`` and ``flips`` to the ``runs`` group."""
    command(group, "mistakes", runs_mistakes)
    command(group, "flips", runs_flips)
