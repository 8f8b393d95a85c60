"""Pictures of the data: the grid as records and PNG (engine.pictures), the preview built from the
trainer's own pipeline (engine.preview through engine.api.compute), and `data preview`."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image, ImageFont
from typer.testing import CliRunner

from engine import api
from engine.api import compute
from engine.pictures import (
    GridRow,
    PictureGrid,
    Tile,
    caption_font,
    drawable,
    has_glyph,
    render_picture,
    scale_for,
    strip,
)
from engine.preview import to_display
from resnet_tui.cli import app

runner = CliRunner()


def tile(value: int, w: int = 8, h: int = 8, caption: str = "") -> Tile:
    return Tile(w, h, bytes([value]) * (w * h * 3), caption)


def test_tile_json_round_trip_keeps_pixels_and_caption() -> None:
    t = Tile(2, 1, bytes([1, 2, 3, 4, 5, 6]), "+seven", 41)
    grid = PictureGrid("t", (GridRow("a", (t,)),), ("n",))
    again = PictureGrid.from_json(grid.to_json())
    assert again == grid
    assert again.rows[0].tiles[0].image().getpixel((1, 0)) == (4, 5, 6)


def test_to_display_undoes_the_normalisation_and_makes_grey_rgb() -> None:
    mean, std = (0.5,), (0.25,)
    raw = torch.tensor([[[[0.0, 1.0]]]])  # 0 and 255 on the 0..1 scale, one channel
    normalised = (raw - mean[0]) / std[0]
    (t,) = to_display(normalised, mean, std)
    assert (t.width, t.height) == (2, 1)
    assert t.image().getpixel((0, 0)) == (0, 0, 0)
    assert t.image().getpixel((1, 0)) == (255, 255, 255)
    (clipped,) = to_display(torch.full((1, 3, 1, 1), 9.0), (0.0,) * 3, (1.0,) * 3)
    assert clipped.rgb == bytes([255, 255, 255])


def test_render_upscales_small_tiles_and_never_cuts_captions() -> None:
    long = "+a caption much longer than the tile"
    grid = PictureGrid(
        "title", (GridRow("zero", (tile(10), tile(20, caption=long))), GridRow("one", (tile(30),)))
    )
    image = render_picture(grid)
    factor = scale_for(8)
    assert factor == 8  # 8 px tiles become 64 px
    assert image.height > 2 * 8 * factor
    short = render_picture(PictureGrid("title", (GridRow("zero", (tile(10), tile(20))),)))
    assert image.width > short.width  # the column widened for the caption
    assert strip([tile(1), tile(2)], gap=1).size == (17, 8)


def test_glyphs_a_font_lacks_are_written_in_ascii() -> None:
    bitmap = ImageFont.load_default_imagefont()  # Pillow's bitmap font: Latin-1, no arrows
    assert not has_glyph(bitmap, "→") and has_glyph(bitmap, "·") and has_glyph(bitmap, "9")
    assert drawable("#96 3→9 88% … ≥", bitmap) == "#96 3->9 88% ... >="
    assert drawable("ok ✓", bitmap) == "ok ?"  # no fallback: a question mark, never a box
    font = caption_font()
    if isinstance(font, ImageFont.FreeTypeFont) and "DejaVu" in str(font.path):
        assert drawable("#96 3→9 88%", font) == "#96 3→9 88%"  # a font with the arrow keeps it


def _caption_pixels(caption: str, font: ImageFont.ImageFont | ImageFont.FreeTypeFont) -> bytes:
    grid = PictureGrid("", (GridRow("", (tile(90, caption=caption),)),))
    return render_picture(grid, font=font).tobytes()


def test_a_png_caption_draws_the_fallback_not_the_missing_glyph_box() -> None:
    bitmap = ImageFont.load_default_imagefont()
    # the caption drawn is exactly the ASCII one ("3→9" drawn raw would be a box, not "->")
    assert _caption_pixels("#96 3→9", bitmap) == _caption_pixels("#96 3->9", bitmap)
    aileron = ImageFont.load_default(size=11)  # Pillow's own TrueType font: no arrow either
    if isinstance(aileron, ImageFont.FreeTypeFont) and not has_glyph(aileron, "→"):
        assert _caption_pixels("3→9", aileron) == _caption_pixels("3->9", aileron)
    font = caption_font()
    if has_glyph(font, "→"):  # the font the PNGs use draws the arrow itself
        assert _caption_pixels("3→9", font) != _caption_pixels("3->9", font)


def test_preview_shows_every_class_at_the_model_input_size() -> None:
    grid = compute.preview(api.RunRequest("digits-quick"), seed=3, per_class=4)
    assert [r.label for r in grid.rows] == [str(d) for d in range(10)]
    assert all(len(r.tiles) == 4 for r in grid.rows)
    assert grid.tile_size == (8, 8)
    assert "seed 3" in grid.title
    # the same seed shows the same samples, plain and augmented
    augmented = compute.preview(api.RunRequest("digits-quick"), augmented=True, seed=3, per_class=4)
    assert [t.index for r in augmented.rows for t in r.tiles] == [
        t.index for r in grid.rows for t in r.tiles
    ]
    assert [t.rgb for r in augmented.rows for t in r.tiles] != [
        t.rgb for r in grid.rows for t in r.tiles
    ]
    other = compute.preview(api.RunRequest("digits-quick"), seed=4, per_class=4)
    assert [t.index for r in other.rows for t in r.tiles] != [
        t.index for r in grid.rows for t in r.tiles
    ]


def test_preview_of_a_resized_input_shows_the_resized_images() -> None:
    request = api.RunRequest("digits-quick", ("augment.resize=16", "augment.crop_size=12"))
    grid = compute.preview(request, per_class=1)
    assert grid.tile_size == (12, 12)
    assert "from 8x8" in grid.title


def test_mixup_captions_name_the_class_mixed_in() -> None:
    request = api.RunRequest("digits-quick", ("augment.mixup_alpha=1",))
    grid = compute.preview(request, augmented=True, seed=0, per_class=2)
    assert any("mixed: each keeps" in n for n in grid.notes)
    captions = [t.caption for r in grid.rows for t in r.tiles]
    assert captions and all(c.startswith("+") and c[1:] in grid_labels(grid) for c in captions)


def grid_labels(grid: PictureGrid) -> set[str]:
    return {r.label for r in grid.rows}


def test_preview_refuses_what_plan_run_refuses() -> None:
    with pytest.raises(api.UserError, match="augment.nope"):
        compute.preview(api.RunRequest("digits-quick", ("augment.nope=1",)))


# ---------------------------------------------------------------- the command


def test_data_preview_writes_a_png_grid(tmp_path: Path) -> None:
    plain, augmented = tmp_path / "plain.png", tmp_path / "p.png"
    result = runner.invoke(app, ["data", "preview", "digits-quick", "--out", str(plain)])
    assert result.exit_code == 0, result.output
    assert "10 classes x 6 images" in result.output
    result = runner.invoke(
        app, ["data", "preview", "digits-quick", "--augmented", "--out", str(augmented)]
    )
    assert result.exit_code == 0, result.output
    with Image.open(augmented) as a, Image.open(plain) as p:
        assert a.format == "PNG" and a.mode == "RGB"
        # 10 rows of 8 px tiles shown at 64 px, 6 columns
        assert a.height > 10 * 64 and a.width > 6 * 64
        assert a.size[1] == p.size[1]
        assert a.tobytes() != p.tobytes()


def test_data_preview_draws_half_blocks_without_out() -> None:
    result = runner.invoke(app, ["data", "preview", "digits-quick", "--per-class", "2"])
    assert result.exit_code == 0, result.output
    assert "digits: 2 per class" in result.output
    assert "▀" * 17 in result.output  # two 8 px tiles and the gap between them


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["nope"], "unknown preset 'nope'"),
        (["digits-quick", "--set", "augment.foo=1"], "unknown key 'augment.foo'"),
        (["digits-quick", "--set", "data.name=imagefolder"], "data.root"),
    ],
)
def test_data_preview_refuses_in_one_line(args: list[str], words: str, tmp_path: Path) -> None:
    out = tmp_path / "p.png"
    result = runner.invoke(app, ["data", "preview", *args, "--out", str(out)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines and all(line.startswith("error: ") for line in lines)
    assert words in result.output
    assert not out.exists()


def test_split_tiles_are_the_split_images_and_refuse_an_index_outside() -> None:
    from engine.preview import split_tiles

    config = api.plan_run(api.RunRequest("digits-quick")).config
    tiles = split_tiles(config, "test", [0, 5])
    assert [t.index for t in tiles] == [0, 5] and (tiles[0].width, tiles[0].height) == (8, 8)
    assert tiles[0].rgb != tiles[1].rgb
    with pytest.raises(api.UserError, match="image 99999 is not in the test split of digits"):
        split_tiles(config, "test", [99999])
    with pytest.raises(api.UserError, match="no 'holdout' split"):
        split_tiles(config, "holdout", [0])


# ---------------------------------------------------------------- the console's renderer


QUERY = """
import sys
from resnet_tui.widgets import picture
if sys.argv[1] == "probe":
    picture.probe_terminal()
cls = picture.image_class()
print(picture.picture_mode(), cls.__name__, file=sys.stderr)
"""


def _written_to_terminal(env: dict[str, str], *args: str, sized: bool = True) -> tuple[bytes, str]:
    """What the picture module writes to a terminal (a pty as stdout) and says it chose."""
    import os
    import pty
    import select
    import subprocess
    import sys

    master, slave = pty.openpty()
    if sized:  # 24 x 80 cells of 10 x 20 pixels, as a terminal window says
        import fcntl
        import struct
        import termios

        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 800, 480))
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", QUERY, *args],
            stdin=slave,
            stdout=slave,
            stderr=subprocess.PIPE,
            env={**os.environ, **env},
        )
        _, err = process.communicate(timeout=60)
        out = b""
        while select.select([master], [], [], 0.1)[0]:
            chunk = os.read(master, 4096)
            if not chunk:
                break
            out += chunk
        return out, err.decode()
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.parametrize(
    "env",
    [
        {"TMUX": "/tmp/tmux-0/default,1,0"},
        pytest.param(
            {"TEXTUAL_DRIVER": "textual.drivers.web_driver:WebDriver"}, marks=pytest.mark.slow
        ),
        pytest.param({"RESNET_TUI_PICTURES": "halfcell"}, marks=pytest.mark.slow),
    ],
)
def test_half_blocks_ask_the_terminal_nothing(env: dict[str, str]) -> None:
    out, chosen = _written_to_terminal({"RESNET_TUI_PICTURES": "", **env}, "probe")
    assert chosen.split()[:2] == ["halfcell", "HalfcellImage"], chosen
    assert b"\x1b" not in out  # no query written into what would be the console's screen


@pytest.mark.slow  # a subprocess importing Textual (the tmux case above stays fast)
def test_auto_mode_asks_the_terminal_once_before_the_console_starts() -> None:
    out, chosen = _written_to_terminal({"RESNET_TUI_PICTURES": "auto", "TMUX": ""}, "probe")
    assert chosen.split()[0] == "auto", chosen
    assert b"\x1b[c" in out  # the Sixel question (a pty answers nothing: half-blocks)


@pytest.mark.slow
def test_a_terminal_without_a_size_gets_half_blocks_not_a_traceback() -> None:
    env = {"RESNET_TUI_PICTURES": "auto", "TMUX": ""}
    out, chosen = _written_to_terminal(env, "probe", sized=False)
    assert chosen.split()[:2] == ["auto", "HalfcellImage"], chosen
