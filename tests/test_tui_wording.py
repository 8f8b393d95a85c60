"""What the console says: the console's keys where the engine's messages name a CLI command or
flag (the CLI keeps its words); "[seed NNN]" at the end of a preset's description, explained
once where it shows; chart ticks at whole epochs; every field of the sweep form reachable at
80x24."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Select, Static, TextArea
from tui_fixtures import Notes, build_store, make_app, settle, sync, wait_for

from engine import api
from resnet_tui.screens.experiment_forms import SweepFields, SweepFormScreen
from resnet_tui.screens.presets import SEED_NOTE
from resnet_tui.widgets.charts import CurvePlot
from resnet_tui.wording import COMMANDS, console_words

REPO = Path(__file__).resolve().parent.parent
QUICK = "20250312-180000-digits-quick-0001"
CRASH = "20250313-150000-digits-crash-0005"


def _engine_commands() -> set[str]:
    """Every `resnet-tui ...` command the engine's source names, its {fields} filled in."""
    found: set[str] = set()
    for path in (REPO / "engine").rglob("*.py"):
        for command in re.findall(r"`resnet-tui [^`]*`", path.read_text()):
            found.add(re.sub(r"\{[^}]*\}", "X", command))
    return found


def test_every_cli_command_in_an_engine_message_has_console_words() -> None:
    commands = _engine_commands()
    assert len(commands) > 10
    fallback = COMMANDS[-1][1]
    for command in commands:
        said = console_words(f"do this: {command}.")
        assert "resnet-tui" not in said and "`" not in said, (command, said)
        assert fallback not in said, f"{command}: give it the console's own words"


@pytest.mark.parametrize(
    ("fields", "flag"),
    [
        (SweepFields("digits-quick", "grid", ["optim.lr=0.1:1"]), "--grid"),
        (SweepFields("digits-quick", "search", ["optim.name=0.1:1"], trials="4"), "--range"),
        (SweepFields("digits-quick", "grid", ["optim.lr=0.1"], sets=["nokey"]), "--set"),
    ],
)
def test_the_sweep_forms_refusals_name_no_flag(fields: SweepFields, flag: str) -> None:
    with pytest.raises(api.UserError) as refused:
        fields.plan()
    message = str(refused.value)
    assert flag in message  # the CLI's words, unchanged
    said = console_words(message)
    assert not re.search(r"--[a-z]", said), said


@sync
async def test_messages_shown_in_the_console_name_its_keys(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    build_store(runs)
    app = make_app(runs, start_mode="runs")
    notes = Notes()
    async with app.run_test(size=(80, 24), message_hook=notes.hook) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#runs-table", DataTable)
        table.move_cursor(row=table.get_row_index(QUICK))
        await pilot.press("r")  # a finished run: the engine refuses, naming a CLI command
        await wait_for(pilot, lambda: notes.titled("not resumed"), 15, "the refusal")
        (refusal,) = notes.titled("not resumed")
        assert "resnet-tui" not in refusal and "e in the Runs view" in refusal, refusal
        table.move_cursor(row=table.get_row_index(CRASH))
        await pilot.press("enter")  # its detail: the crash message says how to resume
        await settle(pilot)
        header = str(app.screen.query_one("#detail-header", Static).render())
        assert "resume with r in the Runs view" in header and "resnet-tui" not in header


def test_a_preset_description_says_what_it_is_then_its_seed() -> None:
    seeded = [p for p in api.list_presets() if "seed" in p.description.lower()]
    assert len(seeded) >= 10
    for preset in seeded:
        assert not preset.description.lower().startswith("seed"), preset.name
        assert re.search(r"\[seed \d{3}[^\]]*\]$", preset.description), preset.description


@sync
async def test_the_presets_view_explains_the_seed_once(tmp_path: Path) -> None:
    app = make_app(tmp_path / "runs", start_mode="presets")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#presets-table", DataTable)
        table.move_cursor(row=table.get_row_index("resnet18-basic"))
        await settle(pilot)
        detail = str(app.screen.query_one("#preset-detail", Static).render())
        assert "[seed 000]" in detail and detail.count(SEED_NOTE.strip()) == 1
        table.move_cursor(row=table.get_row_index("digits-quick"))
        await settle(pilot)
        assert SEED_NOTE.strip() not in str(app.screen.query_one("#preset-detail").render())


@sync
async def test_epoch_charts_tick_at_whole_epochs(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    build_store(runs)
    app = make_app(runs, start_mode="runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.state.selection.update({QUICK, "20250312-190000-digits-lr05-0002"})
        app.switch_mode("compare")
        await settle(pilot)
        plot = app.screen.query_one("#compare-plot", CurvePlot)
        lines = str(plot.render()).splitlines()
        axis = next(i for i, line in enumerate(lines) if "└" in line)
        ticks = lines[axis + 1].split()
        assert len(ticks) >= 3 and all(re.fullmatch(r"\d+", t) for t in ticks), ticks


@pytest.mark.slow  # walks every field of the form
@sync
async def test_every_field_of_the_sweep_form_is_reachable_at_80x24(tmp_path: Path) -> None:
    app = make_app(tmp_path / "runs", start_mode="presets")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("w")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, SweepFormScreen)
        form.query_one("#sweep-mode", Select).value = "search"  # every field enabled
        await settle(pilot)
        fields = [
            w
            for w in form.query("Select, Input, TextArea").results()
            if isinstance(w, Select | Input | TextArea)
        ]
        assert len(fields) == 7
        reached = set()
        for _ in range(len(fields) + 4):
            focused = app.focused
            if focused in fields:
                reached.add(focused)
                region = focused.region
                assert region.height and region.y + region.height <= 24, focused
                under, _ = app.screen.get_widget_at(region.x, region.y)
                assert under is focused or focused in under.ancestors_with_self, focused
            await pilot.press("tab")
            await settle(pilot)
        assert reached == set(fields)
