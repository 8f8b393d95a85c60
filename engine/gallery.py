"""Galleries of a run's test images: its mistakes of one (true, predicted) cell, most confident
first, and the samples one run gets right and another wrong (flips).

Torch-free: the captions and the layout are worded here once, so that ``runs mistakes --out``
(the CLI, images from ``compute.sample_images``) and the console's gallery (images from its
helper process) show the same picture. The images are ``Tile``s whose ``index`` is the test
index; this module puts the captions on them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Protocol

from engine.pictures import GridRow, PictureGrid, Tile

GALLERY_LIMIT = 48  # images in a gallery: the most confident mistakes
PNG_COLUMNS = 8


class MistakeLike(Protocol):
    """``api.Mistake``, as far as a caption reads it."""

    @property
    def index(self) -> int: ...
    @property
    def true(self) -> str: ...
    @property
    def pred(self) -> str: ...
    @property
    def confidence(self) -> float: ...


def mistakes_title(run: str, true: str | None, pred: str | None, count: int, shown: int) -> str:
    """ "run R: 12 mistakes, true 3 predicted as 8, most confident first (12 shown)"."""
    where = "".join(
        f", {what} {name}" for what, name in (("true", true), ("predicted as", pred)) if name
    )
    noun = "mistake" if count == 1 else "mistakes"
    more = f" ({shown} of {count} shown)" if shown < count else ""
    return f"run {run}: {count} {noun}{where}, most confident first{more}"


def mistake_caption(m: MistakeLike, true: str | None, pred: str | None) -> str:
    """The test index, what the cell does not say already, and the confidence."""
    parts = [f"#{m.index}"]
    if true is None:
        parts.append(m.true)
    if pred is None or true is None:
        parts.append(f"→{m.pred}")
    parts.append(f"{m.confidence:.0%}")
    return " ".join(parts)


def captioned(tiles: Sequence[Tile], captions: Sequence[str]) -> list[Tile]:
    return [dataclasses.replace(t, caption=c) for t, c in zip(tiles, captions, strict=True)]


def rows_of(tiles: Sequence[Tile], columns: int = PNG_COLUMNS) -> tuple[GridRow, ...]:
    """Tiles in rows of ``columns``, unlabelled (a gallery has no classes per row)."""
    return tuple(
        GridRow("", tuple(tiles[i : i + columns])) for i in range(0, len(tiles), max(1, columns))
    )


def mistakes_grid(
    run: str,
    mistakes: Sequence[MistakeLike],
    tiles: Sequence[Tile],
    true: str | None = None,
    pred: str | None = None,
) -> PictureGrid:
    """The gallery of ``mistakes`` (all of them, for the title's count) with the images of the
    first ``len(tiles)`` of them."""
    shown = list(mistakes[: len(tiles)])
    captions = [mistake_caption(m, true, pred) for m in shown]
    title = mistakes_title(run, true, pred, len(mistakes), len(shown))
    notes = ("caption: test index, confidence of the wrong prediction",)
    return PictureGrid(title, rows_of(captioned(tiles, captions)), notes)


def flips_title(right: str, wrong: str, count: int, shown: int) -> str:
    more = f" ({shown} of {count} shown)" if shown < count else ""
    return f"{right} right, {wrong} wrong: {count} test image{'s' if count != 1 else ''}{more}"


def flips_grid(
    right: str,
    wrong: str,
    indices: Sequence[int],
    tiles: Sequence[Tile],
    truth: Sequence[str],
    said: Sequence[str],
) -> PictureGrid:
    """The images run ``right`` gets right and ``wrong`` does not: each captioned with its test
    index, its class and what ``wrong`` predicted (``truth``/``said`` per tile)."""
    captions = [f"#{t.index} {c}→{s}" for t, c, s in zip(tiles, truth, said, strict=True)]
    title = flips_title(right, wrong, len(indices), len(tiles))
    notes = (f"caption: test index, true class→what {wrong} predicted",)
    return PictureGrid(title, rows_of(captioned(tiles, captions)), notes)


def flip_labels(wrong: Any, indices: Sequence[int]) -> tuple[list[str], list[str]]:
    """The true class and what the run that got them wrong predicted, per test index
    (``wrong``: its ``api.read_predictions``)."""
    row = {int(i): r for r, i in enumerate(wrong.index)}
    names = wrong.classes
    truth = [names[int(wrong.label[row[int(i)]])] for i in indices]
    said = [names[int(wrong.pred[row[int(i)]])] for i in indices]
    return truth, said
