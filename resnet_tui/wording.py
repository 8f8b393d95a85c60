"""The console's words for what the engine's messages say in the CLI's.

The engine's messages are written for the command line ("resume with `resnet-tui train
--resume ID`", "give another --name"), and the CLI prints them as they are. The console shows
the same messages with the CLI's commands and flags replaced by its own keys and fields
("resume with r in the Runs view (4)"), here in one place: the App's notifications, a run's
or a sweep's message and the forms' refusals all pass through ``console_words``.
tests/test_tui_wording.py finds every `resnet-tui ...` command in the engine's source and
checks that it is replaced.
"""

from __future__ import annotations

import re

# (a CLI command in backticks, what the console says instead); first match wins.
COMMANDS: tuple[tuple[str, str], ...] = (
    (r"train --resume\b[^`]*", "r in the Runs view (4)"),
    (r"train [^`]*", "e in the Runs view (4): its config in the Launch form"),
    (r"runs stop\b[^`]*", "x in the Runs view (4)"),
    (r"runs resume\b[^`]*", "r in the Runs view (4)"),
    (r"runs rm\b[^`]*", "d in the Runs view (4)"),
    (r"runs list\b[^`]*", "the Runs view (4)"),
    (r"runs restore\b[^`]*", "h, then A on it in the Runs view (4)"),
    (r"sweep --resume\b[^`]*", "r in the Sweeps view (7)"),
    (r"sweeps stop\b[^`]*", "x in the Sweeps view (7)"),
    (r"sweeps list\b[^`]*", "the Sweeps view (7)"),
    (r"sweep\b[^`]*", "a sweep (n in the Sweeps view, 7)"),
    (r"presets list\b[^`]*", "the Presets view (2)"),
    (r"models list\b[^`]*", "the model list of the Launch form (1)"),
    (r"data inspect\b[^`]*", "the data line of the Launch form (1)"),
    (r"stack\b[^`]*", "k in the Runs view (4)"),
    (r"ablate --list\b[^`]*", "the Runs view (4), filtered by ablate"),
    (r"ablate\b[^`]*", "a in the Presets view (2)"),
    (r"bench loader\b[^`]*", "ctrl+t in the Launch form (1): time the loader's workers"),
    (r"alerts\b[^`]*", "the alerts command in a shell (alerts try RUN, alerts check)"),
    (r"settings\b[^`]*", "the settings command in a shell (settings show, settings set)"),
    (r"[^`]*", "the console"),  # a command the console has no key for
)
_COMMAND = re.compile(r"`resnet-tui ([^`]*)`")
_COMMANDS = tuple((re.compile(pattern), words) for pattern, words in COMMANDS)

# CLI flags the console's forms have fields for: (flag and what follows it, the field's words).
FLAGS: tuple[tuple[str, str], ...] = (
    (r"use --search N --range (\S+) \(in the console: mode search\)", r"use mode search for \1"),
    (r"--search N needs", "mode search needs"),
    (r"--search N", "mode search"),
    (r"--search:", "trials:"),
    (r"--search", "mode search"),
    (r"--(grid|range|choice) (?=\S)", ""),  # the sweep form's line follows: it says enough
    (r"--(grid|range|choice)\b", "a swept line"),
    (r"--parallel\b", "the sweep form's 'at once'"),
    (r"--name\b", "name"),
    (r"--set\b", "fixed override"),
    (r"--remove (\w+)", r"removing \1"),
)
_FLAGS = tuple((re.compile(pattern), words) for pattern, words in FLAGS)


def _command(match: re.Match[str]) -> str:
    command = match.group(1).strip()
    for pattern, words in _COMMANDS:
        if pattern.fullmatch(command):
            return words
    return "the console"  # (the last pattern matches anything)


def console_words(text: str) -> str:
    """``text`` (an engine message) with the CLI's commands and flags in the console's words."""
    if "resnet-tui" not in text and "--" not in text:
        return text
    text = _COMMAND.sub(_command, text)
    for pattern, words in _FLAGS:
        text = pattern.sub(words, text)
    return text
