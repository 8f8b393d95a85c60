"""Run diffs, exports and the HTML report (issue 14) over the console's fixture store: the
engine's diff (exact keys and deltas), ``runs diff`` at 80 columns, ``runs list|best
--format`` and ``runs export`` parsed back (csv module, json, every run in the Markdown), and
``resnet-tui report`` rendered by a real browser (headless Chromium: a screenshot with the
report's colours in it, no console error, every SVG parsed)."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from rich.cells import cell_len
from tui_fixtures import build_store
from typer.testing import CliRunner

from engine import api
from resnet_tui.cli import app

QUICK = "20250312-180000-digits-quick-0001"  # lr 0.1, test acc 0.9694
LR05 = "20250312-190000-digits-lr05-0002"  # lr 0.05, hflip, test acc 0.9471
CIFAR = "20250313-080000-resnet24-mixup-0003"  # the CIFAR-10 class names
LONG_NAME = "cifar10-resnet50d-se-long-name-for-narrow-terminals"
runner = CliRunner()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> api.RunStore:
    """The console's fixture store, a run with a long name, a queued run with no metrics and
    a note with markup and a pipe in it."""
    root = tmp_path_factory.mktemp("report") / "runs"
    build_store(root)
    s = api.open_store(root)
    plan = api.plan_run(api.RunRequest("digits-quick", ("optim.lr=1e-5",), name=LONG_NAME))
    record = api.create_run(s, plan)
    s.append_metrics(record.id, {"kind": "epoch", "epoch": 1, "val_acc": 0.5, "val_loss": 1.0})
    s.set_status(record.id, "finished", "trained 1 epoch", epoch=1,
                 best={"val_acc": 0.5, "val_loss": 1.0, "best_epoch": 1})  # fmt: skip
    api.create_run(s, api.plan_run(api.RunRequest("digits-quick", name="never-started")))
    api.note_run(s, QUICK, "<script>alert(1)</script> lr | 0.1\nsecond line")
    return api.open_store(root)


def cli(store: api.RunStore, *args: str, width: int = 80, code: int = 0) -> str:
    result = runner.invoke(app, ["--runs-dir", str(store.root), *args], env={"COLUMNS": str(width)})
    assert result.exit_code == code, result.output
    return result.output


# ---------------------------------------------------------------- the engine's diff


def test_diff_has_the_differing_keys_and_deltas_against_the_baseline(store: api.RunStore) -> None:
    quick, lr05 = api.get_run(store, QUICK), api.get_run(store, LR05)
    epochs = {r.id: api.read_metrics(store, r.id).epochs for r in (quick, lr05)}
    diff = api.diff_runs([quick, lr05], epochs)
    assert diff.baseline.id == QUICK
    config = {r.key: r for r in diff.section("config", differing_only=True)}
    assert list(config) == ["augment.hflip", "optim.lr"]
    assert config["optim.lr"].values == (0.1, 0.05)
    assert config["optim.lr"].deltas[0] is None
    assert config["optim.lr"].deltas[1] == pytest.approx(-0.05)
    assert config["augment.hflip"].deltas == (None, None)  # booleans have no difference
    assert len(diff.section("config")) > 60  # every key, flattened section.key
    provenance = {r.key for r in diff.section("provenance", differing_only=True)}
    assert provenance == {"created", "finished"}
    assert {r.key for r in diff.section("provenance")} >= {"preset", "params", "device"}
    metrics = {r.key: r for r in diff.section("metrics", differing_only=True)}
    assert set(metrics) == {
        "train_loss", "train_acc", "val_loss", "val_acc", "max_val_acc", "test_loss", "test_acc",
    }  # fmt: skip
    assert metrics["test_acc"].values == (0.9694, 0.9471)
    assert metrics["test_acc"].deltas[1] == pytest.approx(0.9471 - 0.9694)
    same = {r.key: r for r in diff.section("metrics")}
    assert same["epochs_done"].values == (12, 12) and same["epochs_done"].deltas == (None, 0)
    # without the epoch lines: the record's own numbers, no highest-of-any-epoch
    assert "max_val_acc" not in {r.key for r in api.diff_runs([quick, lr05]).rows}


def test_diff_reads_the_data_summary_and_a_provenance_mapping(store: api.RunStore) -> None:
    import dataclasses

    quick = api.get_run(store, QUICK)
    other = dataclasses.replace(
        quick,
        id="x",
        data={"root": "/data/cats", "image_size": 64},
        params=1000,
        provenance={
            "git_commit": "0123456789abcdef0123456789abcdef01234567",
            "torch": "2.9",
            "command": "resnet-tui train",
        },
    )
    diff = api.diff_runs([quick, other])
    rows = {r.key: r for r in diff.section("provenance", differing_only=True)}
    assert rows["data.root"].values == (None, "/data/cats")
    assert rows["provenance.git_commit"].values == (None, "0123456789ab")  # git's short form
    assert rows["provenance.torch"].values == (None, "2.9")
    assert "provenance.command" not in rows  # a command line is no cell: the detail shows it
    assert rows["params"].deltas == (None, 1000 - 308_074)


def test_a_pinned_run_is_the_baseline(store: api.RunStore) -> None:
    quick, lr05 = api.get_run(store, QUICK), api.get_run(store, LR05)
    import dataclasses

    pinned = dataclasses.replace(lr05, pinned=True)
    assert [r.id for r in api.baseline_first([quick, pinned])] == [LR05, QUICK]
    assert [r.id for r in api.baseline_first([quick, lr05])] == [QUICK, LR05]


# ---------------------------------------------------------------- runs diff


def test_runs_diff_prints_differences_only_with_signed_deltas(store: api.RunStore) -> None:
    out = cli(store, "runs", "diff", "digits-quick", "digits-lr05")
    assert "baseline (A): digits-quick" in out
    assert re.search(r"optim\.lr\s+0\.1\s+0\.05\s+-0\.0500", out), out
    assert re.search(r"test_acc\s+96\.94%\s+94\.71%\s+-2\.23 pp", out), out
    assert "model.name" not in out and "config: 2 of" in out
    everything = cli(store, "runs", "diff", "digits-quick", "digits-lr05", "--all")
    assert "model.name" in everything and "≠ optim.lr" in everything


def test_runs_diff_keeps_names_whole_at_80_columns(store: api.RunStore) -> None:
    out = cli(store, "runs", "diff", LONG_NAME, "digits-quick", width=80)
    assert "…" not in out
    assert not [line for line in out.splitlines() if cell_len(line) > 80]
    assert LONG_NAME in out and "1e-05" in out


def test_runs_diff_json_and_refusals(store: api.RunStore) -> None:
    data = json.loads(cli(store, "runs", "diff", QUICK, LR05, "--json"))
    assert data["baseline"] == QUICK
    assert [r["key"] for r in data["config"]] == ["augment.hflip", "optim.lr"]
    assert data["config"][1]["deltas"][1] == pytest.approx(-0.05)
    out = cli(store, "runs", "diff", QUICK, "digits-quick", code=2)
    assert "same run" in out and "Traceback" not in out
    out = cli(store, "runs", "diff", QUICK, "nope", code=2)
    assert "no run 'nope'" in out


# ---------------------------------------------------------------- formats and export


def test_runs_list_formats_parse_back(store: api.RunStore) -> None:
    records = api.list_runs(store)
    as_json = json.loads(cli(store, "runs", "list", "--format", "json"))
    assert as_json == json.loads(cli(store, "runs", "list", "--json"))  # the alias
    assert {r["id"] for r in as_json} == {r.id for r in records}
    rows = list(csv.DictReader(io.StringIO(cli(store, "runs", "list", "--format", "csv"))))
    assert [r["id"] for r in rows] == [r["id"] for r in as_json]
    assert set(rows[0]) >= {"name", "id", "model", "dataset", "params", "started"}  # all
    md = cli(store, "runs", "list", "-f", "md")
    assert all(f"| {r.name} |" in md for r in records)
    out = cli(store, "runs", "list", "--format", "xml", code=2)
    assert "one of table, csv, md, json" in out


def test_runs_best_formats_parse_back(store: api.RunStore) -> None:
    rows = json.loads(cli(store, "runs", "best", "--format", "json"))
    assert {r["id"] for r in rows} >= {QUICK, LR05, CIFAR}
    table = list(csv.DictReader(io.StringIO(cli(store, "runs", "best", "--format", "csv"))))
    by_id = {r["id"]: r for r in table}
    assert float(by_id[QUICK]["test_acc"]) == 0.9694
    assert "max_val_acc" in table[0]
    md = cli(store, "runs", "best", "--format", "md")
    assert len(md.splitlines()) == 2 + len(rows)


def test_runs_export_has_every_run_and_every_column(store: api.RunStore, tmp_path: Path) -> None:
    records = api.list_runs(store)
    out = cli(store, "runs", "export")  # csv by default
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["id"] for r in rows] == [r.id for r in records]
    columns = set(rows[0])
    assert {"config.optim.lr", "config.model.name", "test_acc", "note", "pinned"} <= columns
    by_id = {r["id"]: r for r in rows}
    assert by_id[LR05]["config.optim.lr"] == "0.05"
    assert by_id[QUICK]["note"] == "<script>alert(1)</script> lr | 0.1\nsecond line"  # whole
    long = next(r for r in rows if r["name"] == LONG_NAME)
    assert long["config.optim.lr"] == "1e-05"

    target = tmp_path / "runs.json"
    cli(store, "runs", "export", "--format", "json", "--out", str(target))
    data = json.loads(target.read_text())
    assert [r["id"] for r in data] == [r.id for r in records]
    assert data[0].keys() == rows[0].keys()

    md = cli(store, "runs", "export", "--format", "md").splitlines()
    assert len(md) == 2 + len(records)
    header_cells = md[0].count(" | ")
    for record in records:  # every run, on one line, with as many cells as the header
        line = next(line for line in md if f"| {record.id} |" in line)
        assert re.sub(r"\\\|", "", line).count(" | ") == header_cells
    out = cli(store, "runs", "export", "--format", "table", code=2)
    assert "one of csv, md, json" in out


# ---------------------------------------------------------------- the HTML report


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium, installed when missing (the test set-up's job); skipped, saying
    why, only when it cannot be installed."""
    found = shutil.which("chromium")
    if found:
        return found
    try:
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "chromium"],
            capture_output=True,
            timeout=600,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"chromium is missing and `apt-get install -y chromium` failed: {exc}")
    found = shutil.which("chromium")
    if not found:
        pytest.skip("`apt-get install -y chromium` ran but no chromium is on the PATH")
    return found


def render(chromium: str, page: Path, png: Path, width: int = 1200, height: int = 2000) -> str:
    """Chromium's screenshot of ``page``; returns what it logged of the page's console."""
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--screenshot={png}", f"--window-size={width},{height}",
         "--enable-logging=stderr", "--v=0", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert png.exists(), result.stderr[-2000:]
    return "\n".join(
        line for line in result.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line
    )


def colour_pixels(png: Path, rgb: tuple[int, int, int], tolerance: int = 24) -> int:
    from PIL import Image

    image = Image.open(png).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 22) or []
    return sum(
        n for n, c in colours if all(abs(a - b) <= tolerance for a, b in zip(c, rgb, strict=True))
    )


@pytest.fixture(scope="module")
def report(store: api.RunStore, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("html") / "report.html"
    text = cli(store, "report", QUICK, LR05, CIFAR, "--out", str(out))
    assert f"wrote {out}" in text
    return out


def test_the_report_is_self_contained_and_escaped(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    assert "<script" not in html  # no script, and the note's markup escaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert not re.search(r"""(src|href)\s*=\s*["'](?!#)""", html)  # only in-page links
    assert "url(" not in html and "@import" not in html
    assert re.findall(r"https?://[^\"' ]+", html) == ["http://www.w3.org/2000/svg"] * 12
    for text in ("Best stats per model", "Config differences", "Provenance", "airplane",
                 "truck", "optim.lr", "-2.23 pp", "baseline"):  # fmt: skip
        assert text in html, text
    assert html.count("<svg") == 3 * 2 + 3 * 2  # loss and accuracy, test and val confusion


@pytest.mark.slow  # two browser starts: about 3 s each on a loaded machine
def test_chromium_renders_the_report(report: Path, chromium: str, tmp_path: Path) -> None:
    # The detector can fail: a page with a console error and an uncaught one is caught.
    bad = tmp_path / "bad.html"
    bad.write_text('<p>x</p><script>console.error("bad"); throw new Error("boom")</script>')
    assert "Uncaught" in render(chromium, bad, tmp_path / "bad.png", 400, 300)

    png = tmp_path / "report.png"
    assert render(chromium, report, png) == ""  # no console message at all
    from PIL import Image, ImageStat

    image = Image.open(png).convert("RGB")
    assert image.size == (1200, 2000)
    assert max(ImageStat.Stat(image).stddev) > 20  # not a blank page
    assert len(image.getcolors(maxcolors=1 << 22) or []) > 50
    assert colour_pixels(png, (31, 119, 180)) > 200  # the train curves
    assert colour_pixels(png, (217, 72, 15)) > 200  # the val curves
    assert colour_pixels(png, (31, 78, 156), 30) > 500  # the confusion heatmap's diagonal

    dom = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", report.as_uri()],
        capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    assert dom.count("<svg") == 12 and "airplane" in dom  # every chart parsed


def test_report_refuses_a_run_without_metrics(store: api.RunStore, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    text = cli(store, "report", QUICK, "never-started", "--out", str(out), code=2)
    assert "never-started" in text and "has no metrics yet" in text
    assert "Traceback" not in text and not out.exists()
    text = cli(store, "report", QUICK, "--out", str(tmp_path / "no" / "dir" / "r.html"), code=2)
    assert "cannot write" in text
