"""The machine's load and the provenance in the console: the Monitor's live sparklines and its
data-bound line, the run detail's System tab, over a real fixture store whose live run gets
``sys`` lines appended as its trainer's sampler writes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import Sparkline, Static, TabbedContent
from tui_fixtures import build_store, make_app, screen_text, settle, sync, wait_for

from engine import api
from engine.store import RunStore
from resnet_tui.screens.detail import RunDetailScreen

LIVE = "20250314-170000-digits-live-0007"
QUICK = "20250312-180000-digits-quick-0001"

pytestmark = pytest.mark.slow  # Pilot: the console end to end


@pytest.fixture
def fixture_runs(tmp_path: Path) -> Path:
    build_store(tmp_path / "runs")
    return tmp_path / "runs"


def _sample(cpu: float, rss: float) -> dict[str, object]:
    return {"kind": "sys", "elapsed_s": 1.0, "cpu_pct": cpu, "rss_mb": rss, "host_used_mb": 5e3}


@sync
async def test_the_monitor_shows_the_load_live_and_says_when_the_loader_is_slow(
    fixture_runs: Path,
) -> None:
    store = RunStore(fixture_runs)
    app = make_app(fixture_runs, start_mode="monitor")
    async with app.run_test(size=(80, 30)) as pilot:
        screen = app.screen
        await settle(pilot, lambda: bool(screen.query_one("#spark-val_acc", Sparkline).data))
        row = screen.query_one("#sys-row-cpu_pct")
        assert not row.display  # the fixture run has no samples: no empty line for them
        for cpu in (120.0, 180.0):
            store.append_metrics(LIVE, _sample(cpu, 1500.0), point="sysmon")
        cpu_spark = screen.query_one("#sys-spark-cpu_pct", Sparkline)
        await wait_for(pilot, lambda: len(cpu_spark.data or []) == 2, 15, "two samples")
        assert row.display and not screen.query_one("#sys-row-gpu_util_pct").display
        text = screen_text(app)
        assert "180%" in text and "1,500 MB" in text
        last = json.loads((fixture_runs / LIVE / "metrics.jsonl").read_text().splitlines()[-3])
        store.append_metrics(LIVE, {**last, "epoch": 6, "data_s": 3.0, "step_s": 2.0})
        store.update(LIVE, epoch=6)
        await wait_for(pilot, lambda: "data-bound" in screen_text(app), 15, "the data-bound line")
        text = screen_text(app)
        assert "60% of step time waits for data" in text and "bench loader" in text


@sync
async def test_the_monitor_says_the_steady_data_wait_as_runs_show_does(fixture_runs: Path) -> None:
    """One slow last epoch after a fast one: the steady share (20%) is not data-bound, though
    the last epoch alone (60%) would be; the Monitor says what the run detail and `runs show`
    say (``SystemSummary``), then the line once the steady share passes the limit."""
    store = RunStore(fixture_runs)
    app = make_app(fixture_runs, start_mode="monitor")
    async with app.run_test(size=(80, 30)) as pilot:
        screen = app.screen
        await settle(pilot, lambda: bool(screen.query_one("#spark-val_acc", Sparkline).data))
        lines = (fixture_runs / LIVE / "metrics.jsonl").read_text().splitlines()
        last = json.loads(lines[-3])
        timed = [(6, 0.1, 9.9), (7, 3.0, 2.0)]  # 1% then 60%: 3.1 s of 15 s waits, 21%
        for epoch, data_s, step_s in timed:
            store.append_metrics(LIVE, {**last, "epoch": epoch, "data_s": data_s, "step_s": step_s})
        store.update(LIVE, epoch=7)
        await wait_for(pilot, lambda: "epoch 7" in screen_text(app), 15, "epoch 7")
        epochs = [
            json.loads(x) for x in (fixture_runs / LIVE / "metrics.jsonl").read_text().splitlines()
        ]
        epochs = [e for e in epochs if e.get("kind", "epoch") == "epoch"]
        summary = api.SystemSummary.of([], epochs)
        assert summary.data_wait_share is not None and summary.data_wait_share < 0.3
        await pilot.pause(0.5)
        assert "data-bound" not in screen_text(app)
        store.append_metrics(LIVE, {**last, "epoch": 8, "data_s": 9.0, "step_s": 1.0})
        store.update(LIVE, epoch=8)  # 12.1 s of 25 s: 48%
        await wait_for(pilot, lambda: "data-bound" in screen_text(app), 15, "the data-bound line")
        assert "48% of step time waits for data" in screen_text(app)


@sync
async def test_the_detail_system_tab_has_the_summary_and_the_provenance(fixture_runs: Path) -> None:
    store = RunStore(fixture_runs)
    store.update(
        QUICK,
        provenance={
            "version": "0.1.0",
            "git_commit": "0123456789abcdef0123456789abcdef01234567",
            "git_dirty": True,
            "python": "3.11.7",
            "torch": "2.14.1",
            "host": "gpu-box-7",
            "command": "resnet-tui train digits-quick --set optim.lr=0.1",
            "preset_file": "/presets/digits-quick.toml",
            "preset_text": "[model]\nname = 'resnet-digits'\n"
            + "".join(f"# line {i}\n" for i in range(30)),  # a preset file's length
        },
    )
    store.append_metrics(QUICK, _sample(90.0, 800.0), point="sysmon")
    app = make_app(fixture_runs, start_mode="runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.push_screen(RunDetailScreen(QUICK))
        await settle(pilot)
        await pilot.press("y")
        screen = app.screen
        assert screen.query_one(TabbedContent).active == "system"
        await wait_for(
            pilot,
            lambda: "1 sample ·" in str(screen.query_one("#detail-system", Static).render()),
            15,
            "the summary",
        )
        text = screen_text(app)
        assert "GPU: none sampled" in text and "RSS peak 800 MB" in text
        # both sparklines, as on the Monitor, above the long provenance (none cut off)
        assert screen.query_one("#detail-system-sparks").region.height == 2
        lines = [line.strip() for line in text.splitlines()]
        assert any(line.startswith("CPU") and "90%" in line for line in lines)
        assert any(line.startswith("RSS") and "800 MB" in line for line in lines)
        assert "0123456789abcdef0123456789abcdef01234567 (dirty)" in text
        assert "gpu-box-7" in text and "--set optim.lr=0.1" in text
        # the preset's text, under the fold of an 80x24 screen
        whole = str(screen.query_one("#detail-provenance", Static).render())
        assert "preset file /presets/digits-quick.toml:\n    [model]\n" in whole
        assert "name = 'resnet-digits'" in whole
