"""What the run detail writes fits its width without a silent cut: the confusion matrix's title
and legend (descriptions give way with an ellipsis, the split, epoch and shares never), the
header's figures wrapped between their ``label value`` pairs, never inside one."""

from __future__ import annotations

from pathlib import Path

from tui_fixtures import build_store

from engine import api
from resnet_tui.screens.detail import header_text, join_parts
from resnet_tui.widgets.confusion import TEXT_WIDTH, legend_text, matrix_text, title_text

QUICK = "20250312-180000-digits-quick-0001"


def test_the_title_keeps_split_and_epoch_and_cuts_its_description_with_an_ellipsis() -> None:
    full = title_text("test", 6, TEXT_WIDTH).plain
    assert full == "test split, epoch 6 · rows true, columns predicted"
    assert len(full) <= TEXT_WIDTH  # the whole of it at 80 columns
    short = title_text("test", 6, 30).plain
    assert short.startswith("test split, epoch 6 ") and short.endswith("…")
    assert len(short) == 30
    assert title_text("val", 12, 10).plain == "val split, epoch 12"  # never cut: no description


def test_the_legend_keeps_every_share_and_moves_its_note_when_narrow() -> None:
    shares = ("<5%", "<20%", "<40%", "<60%", "<80%", "≥80%")
    wide = legend_text(80).plain
    assert "\n" not in wide and wide.endswith("diagonal underlined")
    lines = legend_text(TEXT_WIDTH).plain.splitlines()
    assert all(share in lines[0] for share in shares) and len(lines[0]) <= TEXT_WIDTH
    assert lines[1] == "diagonal underlined"
    digits = [[36 if i == j else 0 for j in range(10)] for i in range(10)]
    shown = matrix_text([str(i) for i in range(10)], digits).plain.splitlines()
    assert max(len(line) for line in shown) <= TEXT_WIDTH  # the digits matrix at 80 columns


def test_header_lines_break_between_pairs_never_inside_one(tmp_path: Path) -> None:
    assert join_parts(["test 98.61%", "ECE 1.14%", "time 0:21"], 22) == (
        "test 98.61%\nECE 1.14% · time 0:21"
    )
    assert join_parts(["a 1", "b 2"], None) == "a 1 · b 2"
    store = build_store(tmp_path / "runs")
    run = api.get_run(store, QUICK)
    for width in (40, 60, 78, 118):
        lines = header_text(run, 21.0, width).plain.splitlines()
        figures = [line for line in lines[1:] if " · " in line or line.startswith("model")]
        assert all(len(line) <= width for line in figures), (width, figures)
        text = " ".join(lines)
        for pair in ("model resnet-digits", "data digits", "test 96.94%", "time 0:21"):
            assert pair in text, (width, pair)
