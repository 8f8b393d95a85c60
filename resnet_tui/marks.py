"""The user's marks on runs (a note, tags, archived, pinned) as both front-ends show them.

``resnet-tui runs note|tag|untag|archive|restore|pin|unpin`` (``commands/marks.py``) and the
Runs view's keys (``screens/marks.py``) change the marks through ``engine.api``; this module
holds what they share, so that they say the same things: the marks' symbols, which runs a
list shows (archived runs are hidden unless asked for, pinned runs come first), the tag
field's words (``a b -c``) and the one line that says what a change did. Refusals are the
engine's own words (a bad tag, an unknown run, a name taken). Plain functions: no Textual,
no typer, no Rich.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine import api

PIN = "⚑"  # a pinned run (one cell wide on every terminal: East Asian width N)
ARCHIVED = "⊟"  # an archived run, where archived runs are shown


def mark(run: api.RunRecord) -> str:
    """The run's marks as symbols: ``⚑`` pinned, ``⊟`` archived ("" for neither)."""
    return (PIN if run.pinned else "") + (ARCHIVED if run.archived else "")


def label(run: api.RunRecord) -> str:
    """How a message names a run: its id and, when it has one, its name."""
    return f"{run.id} ({run.name})" if run.name and run.name != run.id else run.id


def shown(runs: Iterable[api.RunRecord], archived: bool) -> list[api.RunRecord]:
    """``runs`` as a list shows them: archived ones left out unless ``archived``, then the
    pinned ones first (each group in the order given)."""
    return pinned_first([r for r in runs if archived or not r.archived])


def pinned_first(runs: Sequence[api.RunRecord]) -> list[api.RunRecord]:
    """The pinned runs first, then the others, each in the order given."""
    return [r for r in runs if r.pinned] + [r for r in runs if not r.pinned]


def hidden_count(runs: Iterable[api.RunRecord]) -> int:
    return sum(1 for r in runs if r.archived)


def hidden_line(count: int, how: str = "--archived shows them") -> str:
    """The footer of a list that left out archived runs ("" when it left out none)."""
    if not count:
        return ""
    return f"{count} archived run{'s' if count != 1 else ''} hidden; {how}"


def tag_words(text: str) -> tuple[list[str], list[str]]:
    """The tag field's words: ``a b -c`` adds a and b and removes c (a tag never starts with
    ``-``, so the sign cannot be part of one). Returns (to add, to remove)."""
    add: list[str] = []
    remove: list[str] = []
    for word in text.split():
        if word.startswith("-"):
            remove.append(word[1:])
        else:
            add.append(word.removeprefix("+"))
    return add, remove


def tags_text(tags: Sequence[str]) -> str:
    return " ".join(tags)


def tags_line(
    before: api.RunRecord, after: api.RunRecord, add: Sequence[str], remove: Sequence[str]
) -> str:
    """What a change of tags did, in one line."""
    added = [t for t in after.tags if t not in before.tags]
    removed = [t for t in before.tags if t not in after.tags]
    parts = []
    if added:
        parts.append("tagged " + ", ".join(added))
    if removed:
        parts.append("untagged " + ", ".join(removed))
    had = [t for t in dict.fromkeys(add) if t in before.tags and t not in removed]
    if had:
        parts.append("already tagged " + ", ".join(had))
    lacked = [t for t in dict.fromkeys(remove) if t not in before.tags and t not in added]
    if lacked:
        parts.append("had no tag " + ", ".join(lacked))
    now = f"its tags: {tags_text(after.tags)}" if after.tags else "it has no tags"
    return f"run {label(after)}: {'; '.join(parts) or 'no change'}; {now}"


def note_line(before: api.RunRecord, after: api.RunRecord) -> str:
    """What a change of note did, in one line."""
    if not after.note:
        return (
            f"run {label(after)} had no note"
            if not before.note
            else (f"cleared the note of run {label(after)}")
        )
    if after.note == before.note:
        return f"the note of run {label(after)} is unchanged"
    lines = len(after.note.splitlines())
    size = f"{lines} lines, " if lines != 1 else ""
    return f"saved the note of run {label(after)} ({size}{len(after.note):,} characters)"


def archive_line(before: api.RunRecord, after: api.RunRecord) -> str:
    """What archiving or restoring a run did, in one line."""
    if after.archived:
        if before.archived:
            return f"run {label(after)} was archived already"
        return (
            f"archived run {label(after)}: hidden from lists and views, kept in the store; "
            f"restore it with `resnet-tui runs restore {after.id}`"
        )
    if not before.archived:
        return f"run {label(after)} is not archived"
    return f"restored run {label(after)}: it shows in lists and views again"


def pin_line(before: api.RunRecord, after: api.RunRecord) -> str:
    """What pinning or unpinning a run did, in one line."""
    if after.pinned:
        if before.pinned:
            return f"run {label(after)} was pinned already"
        return f"pinned run {label(after)}: on top of the lists, the baseline in Compare"
    if not before.pinned:
        return f"run {label(after)} is not pinned"
    return f"unpinned run {label(after)}"


def clean_note(text: str) -> str:
    """A note as typed or piped: without the trailing blank lines and spaces (an editor's or
    ``echo``'s last newline)."""
    return text.rstrip()
