"""``presets show`` draws the lr over the run: as TOML comments at 80 columns (the output stays
valid TOML), in --json, and as a PNG with --lr-png."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from click.testing import Result
from PIL import Image
from typer.testing import CliRunner

from engine import api
from resnet_tui.cli import app


def _run(*args: str) -> Result:
    """``resnet-tui presets show ARGS`` at 80 columns, in this process (the catalog that gives
    the dataset sizes loads torch once per test process, not once per command)."""
    return CliRunner().invoke(app, ["presets", "show", *args], env={"COLUMNS": "80"})


def _show(*args: str) -> str:
    done = _run(*args)
    assert done.exit_code == 0, done.output
    return done.stdout


def test_presets_show_draws_the_lr_curve_whole_at_80_columns(tmp_path: Path) -> None:
    sets = [
        "schedule.name=cosine-restarts",
        "schedule.warmup_epochs=2",
        "schedule.restart_period=3",
    ]
    png = tmp_path / "lr.png"
    out = _show("digits-quick", *(a for s in sets for a in ("--set", s)), "--lr-png", str(png))
    assert tomllib.loads(out)["schedule"]["name"] == "cosine-restarts"  # still TOML
    lines = out.splitlines()
    assert "# learning rate over the run" in out
    start = lines.index("# learning rate over the run (what the trainer sets at each step)")
    chart = lines[start:-1]  # the last line names the PNG: a path is never cut
    assert lines[-1] == f"# lr curve drawn to {png}"
    assert all(len(line) <= 80 for line in chart), [x for x in chart if len(x) > 80]
    config = api.plan_run(api.RunRequest("digits-quick", tuple(sets))).config
    curve = api.lr_preview(config, 1797, False)
    assert f"# {api.describe_steps(curve)}" in chart  # 39 steps/epoch (1,258 train images)
    assert "39 steps/epoch (1,258 train images) × 12 epochs" in out
    assert "warmup to epoch 2 · 3 restarts" in out
    assert sum("┤" in line for line in chart) >= 5  # the plot's rows, y ticks on the left
    assert chart[-2].split() == ["#", "0", "2", "4", "6", "8", "10", "12"]  # whole epochs
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size == (900, 420)
        # the curve is drawn in blue, the restarts in purple and the warmup end in orange
        colours = {c for _, c in image.getcolors(1 << 16) or []}
        assert (0, 0, 255) in colours and (128, 0, 128) in colours and (255, 165, 0) in colours


def test_presets_show_json_holds_the_curve_and_bare_leaves_it_out() -> None:
    data = json.loads(_show("digits-quick", "--json"))
    lr = data["lr"]
    assert lr["schedule"] == "onecycle" and lr["steps_per_epoch"] == 39
    assert lr["points"][-1][0] < 12 <= lr["points"][-1][0] + 1
    assert "learning rate" not in _show("digits-quick", "--bare")


def test_an_unwritable_png_is_one_line_naming_it(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "lr.png"
    done = _run("digits-quick", "--lr-png", str(target))
    assert done.exit_code == 2
    said = [line for line in done.output.splitlines() if line.strip()]
    # the words every --out option gives (api.save_png's), not the raw "[Errno 2] ..."
    assert said == [
        f"error: could not write {target}: No such file or directory; lr.png was left as it was"
    ], said
    assert not target.parent.exists()
