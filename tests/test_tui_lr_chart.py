"""The Launch form's lr curve (ctrl+y): drawn from the engine's schedule code, redrawn as the
schedule fields change, and small enough to leave the form usable at 80x24."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Select, Static
from tui_fixtures import make_app, settle, sync

from resnet_tui.screens.launch import LaunchScreen
from resnet_tui.widgets.config_form import ConfigForm
from resnet_tui.widgets.lr_chart import LRChart
from resnet_tui.widgets.lr_plot import LRPlot

pytestmark = pytest.mark.slow  # Pilot, and the helper process answers the catalog


@sync
async def test_changing_the_schedule_redraws_the_lr_curve(runs_dir: Path) -> None:
    app = make_app(runs_dir, start_mode="launch")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, lambda: app.state.registries is not None, 90, "the catalog")
        screen = app.screen
        assert isinstance(screen, LaunchScreen)
        chart = screen.query_one(LRChart)
        assert not chart.display and chart.curve is None  # a toggle: the form first
        await pilot.press("ctrl+y")
        await settle(pilot)
        assert chart.display
        first = chart.curve
        assert first is not None and first.schedule == "onecycle"  # digits-quick's
        # digits: 1,797 images, 20% test and 10% val carved, batch 32 -> 39 whole batches
        assert (first.train_images, first.steps_per_epoch) == (1258, 39)
        caption = str(screen.query_one("#lr-caption", Static).render())
        assert "onecycle" in caption and "39 steps/epoch (1,258 train images)" in caption
        drawn = screen.query_one(LRPlot).plt.build()
        form = screen.query_one(ConfigForm)
        assert form.region.height >= 7  # the form keeps rows of its own at 80x24
        form.focus_section("schedule")  # a section's fields mount when it is first shown
        await settle(pilot)
        screen.query_one("#f-schedule-name", Select).value = "cosine-restarts"
        await settle(pilot)
        second = chart.curve
        assert second is not None and second.schedule == "cosine-restarts"
        assert second.points != first.points and second.restarts  # every 10 epochs
        assert "restarts" in str(screen.query_one("#lr-caption", Static).render())
        assert screen.query_one(LRPlot).plt.build() != drawn
        await pilot.press("ctrl+y")
        await settle(pilot)
        assert not chart.display
