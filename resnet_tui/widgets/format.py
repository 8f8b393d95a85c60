"""Formatting of run fields for tables and headers (plain functions, no widgets).

The CLI's tables use the same functions (``pct``, ``points``, ``number``, ``config_value``), so
a number reads the same digits in the console and in ``resnet-tui runs ...``: accuracy in
percent, differences of accuracy in percentage points."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from rich.text import Text

from engine import api

# Named ANSI colours only: they stay distinct on a 16-colour terminal.
STATUS_STYLE = {
    "queued": "bold cyan",
    "running": "bold yellow",
    "stopped": "blue",
    "finished": "green",
    "crashed": "bold red",
    "failed": "red",
    "diverged": "magenta",
}
# A glyph per status, so a status reads without colour too.
STATUS_GLYPH = {
    "queued": "…",
    "running": "▶",
    "stopped": "■",
    "finished": "✓",
    "crashed": "✗",
    "failed": "✗",
    "diverged": "↯",
}


def status_text(status: str | None) -> Text:
    status = status or "?"
    return Text(f"{STATUS_GLYPH.get(status, '?')} {status}", style=STATUS_STYLE.get(status, ""))


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def short_time(value: Any) -> str:
    """'2025-03-14T12:00:00+00:00' -> '2025-03-14 12:00' (as recorded, no time-zone shifts)."""
    if not isinstance(value, str) or len(value) < 16:
        return "-"
    return value[:10] + " " + value[11:16]


def run_seconds(run: api.RunRecord, now: datetime) -> float | None:
    """Time a run has spent training, over all its sessions (the trainer records it; a
    resumed run leaves out the time it was stopped): the recorded seconds plus the live
    session's while it runs. Runs from before that record: started..finished (or ..now)."""
    if (
        run.active
        and parse_time(run.session_started) is not None
        and run.elapsed_before is not None
    ):
        return run.duration(now)
    if not run.active and run.elapsed_s is not None:
        return run.elapsed_s
    started = parse_time(run.started)
    if started is None:
        return None
    end = parse_time(run.finished)
    if end is None:
        if not run.active:
            return None
        end = now
    try:
        return max(0.0, (end - started).total_seconds())
    except TypeError:  # naive vs aware times in a hand-edited document
        return None


def duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def params(value: Any) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "-"
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e3:
        return f"{value / 1e3:.1f}k"
    return str(int(value))


def number(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    if value != 0 and (abs(value) < 10 ** -(digits - 1) or abs(value) >= 1e6):
        return f"{value:.{max(1, digits - 2)}e}"
    return f"{value:.{digits}f}"


def pct(value: Any) -> str:
    """An accuracy (a fraction) in percent: 0.98333 -> '98.33%'. The one unit of accuracy."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "-"
    return f"{100 * value:.2f}%"


def points(diff: Any) -> str:
    """A difference of two accuracies (fractions) in percentage points: -0.012 -> '-1.20 pp',
    the digits of ``pct``."""
    if isinstance(diff, bool) or not isinstance(diff, int | float) or not math.isfinite(diff):
        return "-"
    return f"{100 * diff:+.2f} pp"


def config_value(value: Any) -> str:
    """A config value as it was given, every significant digit kept (1e-05, not 0.0000)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(config_value(v) for v in value)
    return str(value)


def epochs(run: api.RunRecord) -> str:
    return f"{run.epoch}/{run.epochs or '?'}"


def best_val_acc(run: api.RunRecord) -> float | None:
    """The val accuracy of the run's best epoch (its kept checkpoint's)."""
    return run.best.val_acc if run.best is not None else None


def test_acc(run: api.RunRecord) -> float | None:
    return run.test.acc if run.test is not None else None


def run_label(run: api.RunRecord) -> str:
    return run.name or run.id


def eta_seconds(run: api.RunRecord, epoch_seconds: list[float]) -> float | None:
    """Time left from the mean of the recent epochs' durations."""
    if run.epochs is None or not epoch_seconds:
        return None
    recent = epoch_seconds[-5:]
    return max(0, run.epochs - run.epoch) * sum(recent) / len(recent)


def signed(diff: Any) -> str:
    """A difference with its sign: +1,234 (of whole numbers), -0.0500, +1.0000, +1.00e-05."""
    if isinstance(diff, bool) or not isinstance(diff, int | float) or not math.isfinite(diff):
        return "-"
    if isinstance(diff, int):
        return f"{diff:+,}"
    return ("+" if diff >= 0 else "-") + number(abs(diff))


def diff_value(key: str, value: Any) -> str:
    """A value of a run diff (``api.RunDiff``) by its key: accuracies in percent, seconds as
    a duration, epochs and parameters whole, config values as given."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return config_value(value)
    if key.endswith(("acc", "ece")):  # calibration errors are fractions too
        return pct(value)
    if key == "elapsed_s":
        return duration(value)
    if key.endswith("loss"):
        return number(value)
    if key in ("params", "best_epoch", "epochs_done"):
        return f"{int(value):,}"
    return config_value(value)


def diff_delta(key: str, diff: float | None) -> str:
    """A run's difference from the baseline: accuracies in percentage points, seconds with
    their unit, the rest a signed number; '' where there is none (the baseline, a text)."""
    if diff is None:
        return ""
    if key.endswith(("acc", "ece")):
        return points(diff)
    if key == "elapsed_s":
        return f"{diff:+,.1f} s"
    return signed(diff)


def judge(key: str, diff: float | None) -> str:
    """Whether a difference from the baseline is "better" or "worse" ("" where that is no
    judgement: a count, a time, no difference): a higher accuracy, a lower loss or
    calibration error."""
    if not diff or not key.endswith(("acc", "loss", "ece")):
        return ""
    return "better" if (diff < 0 if key.endswith(("loss", "ece")) else diff > 0) else "worse"


BAR_EIGHTHS = " ▏▎▍▌▋▊▉"


def share(value: Any) -> str:
    """A share of a whole (a parameter's importance) in percent, one decimal: '83.2%'."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    return f"{100 * value:.1f}%"


def bar(value: float | None, width: int) -> str:
    """A share of a whole as a bar of block characters ``width`` cells long at 100%, in
    eighths of a cell; padded with spaces to ``width``."""
    if value is None or not math.isfinite(value) or width <= 0:
        return " " * max(width, 0)
    eighths = round(min(1.0, max(0.0, value)) * width * 8)
    full, part = divmod(eighths, 8)
    text = "█" * full + (BAR_EIGHTHS[part] if part else "")
    return text.ljust(width)
