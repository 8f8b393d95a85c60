"""The mistakes gallery: the confusion matrix's cell cursor (Pilot, fixture store), and over real
digits runs: `runs mistakes --out`, the gallery opened from a finished run's confusion view in
tmux, and Compare's flips gallery."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from test_tui_training import Tmux
from textual.widgets import Static
from tui_fixtures import build_store, make_app, screen_text, settle, sync, wait_for
from typer.testing import CliRunner

from engine import api
from resnet_tui.app import ResnetApp
from resnet_tui.cli import app as cli_app
from resnet_tui.screens.detail import RunDetailScreen
from resnet_tui.screens.gallery import GalleryScreen
from resnet_tui.widgets.confusion import ConfusionMatrix

runner = CliRunner()
RUN = "20250312-180000-digits-quick-0001"


@pytest.fixture
def fixture_runs(tmp_path: Path) -> Path:
    build_store(tmp_path / "runs")
    return tmp_path / "runs"


@pytest.mark.slow  # a Pilot walk over the matrix (make test-fast stays under 90 s)
@sync
async def test_the_matrix_cursor_moves_and_enter_opens_the_cell(fixture_runs: Path) -> None:
    app = make_app(fixture_runs, start_mode="runs")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.push_screen(RunDetailScreen(RUN))
        await settle(pilot)
        await pilot.press("m")
        screen = app.screen
        assert isinstance(screen, RunDetailScreen)
        matrix = screen.query_one("#matrix", ConfusionMatrix)
        await wait_for(pilot, lambda: matrix.classes_shown, 10, "the confusion matrix")
        assert matrix.has_focus and matrix.cursor == (0, 1)
        await pilot.press("down", "down", "right", "left", "left", "left")
        assert matrix.cursor == (2, 0)  # clamped at the left edge
        assert "▸ true 2, predicted 0" in str(matrix.render())
        await pilot.press("up", "up", "up", "up")
        assert matrix.cursor == (0, 0)
        await pilot.press("enter")  # the diagonal: no mistakes there
        await pilot.pause()
        assert isinstance(app.screen, RunDetailScreen)
        assert any("the diagonal is right" in n.message for n in app._notifications)
        await pilot.press("right", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, GalleryScreen), 5, "the gallery")
        gallery = app.screen
        title = gallery.query_one("#gallery-title", Static)

        def refused() -> bool:
            return "✗" in str(title.render())

        await wait_for(pilot, refused, 10, "the gallery's refusal")
        # a fixture run has no kept predictions: the API's own words, in one line
        assert "before test predictions were kept" in str(title.render())
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, RunDetailScreen)


# ---------------------------------------------------------------- over real runs


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two finished digits runs: one epoch (many mistakes) and three."""
    runs = tmp_path_factory.mktemp("gallery") / "runs"
    for name, epochs in (("short", 1), ("longer", 3)):
        result = runner.invoke(
            cli_app,
            ["--runs-dir", str(runs), "train", "digits-quick", "--quiet", "--name", name]
            + ["--set", f"train.epochs={epochs}"],
        )
        assert result.exit_code == 0, result.output
    return runs


def worst_cell(runs: Path, run: str = "short") -> tuple[str, str, int]:
    """The (true, predicted) cell with the most mistakes, and how many."""
    counts: dict[tuple[str, str], int] = {}
    for m in api.mistakes(api.open_store(runs), run):
        counts[(m.true, m.pred)] = counts.get((m.true, m.pred), 0) + 1
    (true, pred), n = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
    return true, pred, n


@pytest.mark.slow  # trains two runs (shared by the module)
def test_runs_mistakes_out_writes_the_gallery_png(trained: Path, tmp_path: Path) -> None:
    true, pred, n = worst_cell(trained)
    out = tmp_path / "m.png"
    result = runner.invoke(
        cli_app,
        ["--runs-dir", str(trained), "runs", "mistakes", "short"]
        + ["--true", true, "--pred", pred, "--json", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {out} ({min(n, api.GALLERY_LIMIT)} images)" in result.output
    with Image.open(out) as image:
        assert image.format == "PNG"
        columns = min(n, 8)
        assert image.width > columns * 64 and image.height > 64
    missing = runner.invoke(
        cli_app, ["--runs-dir", str(trained), "runs", "mistakes", "short", "--true", "nine"]
    )
    assert missing.exit_code == 2 and "true class 'nine'" in missing.output


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_tmux_enter_on_a_confusion_cell_shows_its_mistakes(trained: Path, tmp_path: Path) -> None:
    true, pred, n = worst_cell(trained)
    record = api.get_run(api.open_store(trained), "short")
    first = api.mistakes(api.open_store(trained), "short", true, pred)[0]
    console = f"{Path(sys.executable).parent / 'resnet-tui'} --runs-dir {trained}"
    tmux = Tmux(f"resnet-tui-gallery-{os.getpid()}")
    try:
        tmux.start(console, tmp_path)
        screen = tmux.wait_for("2 runs")  # the Runs view, newest first
        rows = [line for line in screen.splitlines() if "✓ finished" in line]
        time.sleep(1.0)  # the table takes keys once it has the focus
        tmux.keys(*["Down"] * [i for i, r in enumerate(rows) if " short " in r][0], "Enter")
        tmux.wait_for(record.id)
        tmux.keys("m")
        tmux.wait_for("predicted 1")  # the cursor's line under the matrix: (0, 1)
        t, p = int(true), int(pred)
        moves = ["Down"] * t + (["Right"] * (p - 1) if p >= 1 else ["Left"])
        tmux.keys(*moves)
        tmux.wait_for(f"▸ true {true}, predicted {pred}: {n}")
        tmux.keys("Enter")
        screen = tmux.wait_for("most confident first", timeout=60)
        screen = tmux.wait_for(f"#{first.index} {first.confidence:.0%}", timeout=60)
        assert f"true {true}, predicted as {pred}" in screen
        assert "▀" in screen  # the pictures, in half-blocks
        tmux.keys("Escape")
        tmux.wait_for("rows true, columns predicted")
    finally:
        tmux.kill()


@pytest.mark.slow
@sync
async def test_compare_opens_the_flips_gallery(trained: Path) -> None:
    store = api.open_store(trained)
    flips = api.flips(store, "longer", "short")
    assert flips.a_right_b_wrong  # three epochs beat one on some images
    app = make_app(trained, start_mode="runs")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        ids = [api.get_run(store, name).id for name in ("longer", "short")]
        app.state.selection.update(ids)
        app.switch_mode("compare")
        await settle(pilot)
        await pilot.press("s")  # the Metrics tab: the flips' counts and the keys to their images
        flips_line = app.screen.query_one("#compare-flips", Static)
        await wait_for(pilot, lambda: "i / I" in str(flips_line.render()), 30, "the flips line")
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, GalleryScreen), 10, "the gallery")
        screen: Any = app.screen
        await wait_for(pilot, lambda: screen.grid is not None, 60, "the flips' images")
        await settle(pilot)
        text = screen_text(app)
        if os.environ.get("GALLERY_SVG"):
            app.save_screenshot(os.environ["GALLERY_SVG"])
        assert f"longer right, short wrong: {len(flips.a_right_b_wrong)}" in text
        first = flips.a_right_b_wrong[0]
        assert f"#{first} " in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, GalleryScreen)
        assert isinstance(app, ResnetApp)
