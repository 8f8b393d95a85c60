"""Errors a user can cause. Each carries a message that says what is wrong and what to do.

The CLI and the TUI print ``str(error)``; they never show a traceback for these.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence


class UserError(Exception):
    """Base class: something the user asked for cannot be done as asked."""


class ConfigError(UserError):
    """A preset, an override or a form value is invalid."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key  # dotted key ("model.layers") the message is about, for forms


class PlanError(ConfigError):
    """Several things wrong with one request at once (a preset with three bad keys): each is a
    ConfigError with its key, so a form marks every field and the CLI prints one line each.
    ``str()`` is their messages, one per line; ``key`` is the first one's."""

    def __init__(self, problems: Sequence[ConfigError]) -> None:
        if not problems:
            raise ValueError("PlanError needs at least one problem")
        self.problems: tuple[ConfigError, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems), self.problems[0].key)


class DataError(UserError):
    """A dataset is missing, unreadable or inconsistent. ``key``: the config key to change
    (``data.root`` unless another is named), so a form marks that field."""

    def __init__(self, message: str, key: str | None = "data.root") -> None:
        super().__init__(message)
        self.key = key


class StoreError(UserError):
    """A run id that does not exist, an action a run's state forbids, an unreadable store."""


class CheckpointError(UserError):
    """A checkpoint is missing, corrupt or does not fit the run."""


class DiskFullError(StoreError, CheckpointError):
    """The disk (or quota) filled up during a write; the previous version of the file is intact."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path  # the file that could not be written


def nearest(word: str, choices: Iterable[str]) -> str:
    """' (did you mean X?)' for the closest choice, or '' when nothing is close."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" (did you mean '{match[0]}'?)" if match else ""
