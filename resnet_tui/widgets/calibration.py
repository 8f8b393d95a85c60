"""A run's calibration as text: the ECE and a reliability diagram, one bar per confidence bin.

Each non-empty bin (of the 15 equal-width bins of top-1 confidence, ``api.Calibration``) is a
line: the mean confidence of its samples, their accuracy, a bar of that accuracy with a mark
where the confidence is (a calibrated bin's bar ends at its mark), and how many samples. The
numbers come first and are never cut; the bar is what a narrow pane folds.
"""

from __future__ import annotations

from rich.text import Text

from engine import api
from resnet_tui.widgets import format as fmt

BAR = 10  # cells of a bar: 0 to 100%


def bar(accuracy: float, confidence: float, width: int = BAR) -> Text:
    """``width`` cells: accuracy filled, the confidence marked ┃ (yellow)."""
    filled = int(round(accuracy * width))
    mark = min(width - 1, max(0, int(round(confidence * width)) - 1))
    text = Text()
    for i in range(width):
        if i == mark:
            text.append("┃", style="bold yellow")
        elif i < filled:
            text.append("█", style="green")
        else:
            text.append("░", style="dim")
    return text


def reliability_text(cal: api.Calibration, split: str = "test") -> Text:
    """The ECE, then a line per non-empty bin: confidence, accuracy, bar, samples."""
    text = Text(overflow="fold")
    text.append(f"calibration ({split})\n", style="bold")
    text.append(f"ECE {fmt.pct(cal.ece)}", style="bold")
    text.append(f" · {len(cal.bins)} bins, {cal.samples:,} samples\n", style="dim")
    text.append("conf   acc     (┃ conf)\n", style="dim")
    for b in cal.bins:
        if not b.count or b.confidence is None or b.accuracy is None:
            continue
        text.append(f"{100 * b.confidence:3.0f}% {fmt.pct(b.accuracy):>7} ")
        text.append_text(bar(b.accuracy, b.confidence))
        text.append(f" {b.count:,}\n", style="dim")
    return text
