"""``resnet-tui runs note|tag|untag|archive|restore|pin|unpin``: the user's marks on runs.

``register(group)`` adds the commands to the ``runs`` group (``commands/runs.py``). Each goes
through ``engine.api`` (``note_run``, ``tag_run``, ``untag_run``, ``archive_run``,
``pin_run``: locked read-modify-writes of the run's record, safe under concurrent writers)
and prints one line saying what changed, in the words the console shows too
(``resnet_tui.marks``); a refusal is the engine's own line (a bad tag, an unknown run).

``unpin`` is a command of its own rather than ``pin --off``: it pairs as ``untag`` and
``restore`` do, reads as what it does in a shell history, and cannot be half-typed into
the opposite.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from resnet_tui import marks
from resnet_tui.commands._shared import command, fail, store

if TYPE_CHECKING:
    from engine import api

RunArgument = Annotated[
    str, typer.Argument(metavar="RUN", help="A run: its id, a prefix, its name.")
]
RunsArgument = Annotated[
    list[str], typer.Argument(metavar="RUN", help="Runs: ids, prefixes or names.")
]
TagsArgument = Annotated[
    list[str],
    typer.Argument(metavar="TAG", help="Tags: letters, digits and _.:/+- (e.g. paper:fig3)."),
]


def runs_note(
    run: RunArgument,
    text: Annotated[
        str | None,
        typer.Argument(
            metavar="TEXT", help="The note (replaces the old one); - reads it from stdin."
        ),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the run's note.")] = False,
) -> None:
    """A free-text note on a run: without TEXT, print it; with TEXT (or - for stdin), set it."""
    from engine import api

    if clear and text is not None:
        fail("give TEXT or --clear, not both")
    s = store()
    before = api.get_run(s, run)
    if text is None and not clear:
        if before.note:
            typer.echo(before.note)
        else:
            typer.echo(
                f"run {marks.label(before)} has no note; "
                f"`resnet-tui runs note {before.id} TEXT` adds one",
                err=True,
            )
        return
    note = "" if clear else marks.clean_note(sys.stdin.read() if text == "-" else str(text))
    after = api.note_run(s, before.id, note)
    typer.echo(marks.note_line(before, after))


def runs_tag(run: RunArgument, tags: TagsArgument) -> None:
    """Add tags to a run (a run has any number; the ones it has stay)."""
    from engine import api

    s = store()
    before = api.get_run(s, run)
    after = api.tag_run(s, before.id, tags)
    typer.echo(marks.tags_line(before, after, tags, ()))


def runs_untag(run: RunArgument, tags: TagsArgument) -> None:
    """Remove tags from a run (a tag it does not have is no error)."""
    from engine import api

    s = store()
    before = api.get_run(s, run)
    after = api.untag_run(s, before.id, tags)
    typer.echo(marks.tags_line(before, after, (), tags))


def _each(runs: list[str]) -> tuple[api.RunStore, list[api.RunRecord]]:
    """The store and the runs named (each once), every name resolved before any is changed."""
    from engine import api

    s = store()
    records = {r.id: r for r in (api.get_run(s, ref) for ref in runs)}
    return s, list(records.values())


def runs_archive(runs: RunsArgument) -> None:
    """Archive runs: hidden from `runs list`, `runs best` and the console's views, kept in the
    store (nothing is deleted); `runs restore` brings them back."""
    from engine import api

    s, records = _each(runs)
    for before in records:
        typer.echo(marks.archive_line(before, api.archive_run(s, before.id, True)))


def runs_restore(runs: RunsArgument) -> None:
    """Restore archived runs: shown in the lists and views again."""
    from engine import api

    s, records = _each(runs)
    for before in records:
        typer.echo(marks.archive_line(before, api.archive_run(s, before.id, False)))


def runs_pin(runs: RunsArgument) -> None:
    """Pin runs: on top of `runs list`, `runs best` and the Runs view whatever the order; a
    pinned run is the baseline in Compare."""
    from engine import api

    s, records = _each(runs)
    for before in records:
        typer.echo(marks.pin_line(before, api.pin_run(s, before.id, True)))


def runs_unpin(runs: RunsArgument) -> None:
    """Unpin runs: back in their place in the lists."""
    from engine import api

    s, records = _each(runs)
    for before in records:
        typer.echo(marks.pin_line(before, api.pin_run(s, before.id, False)))


def register(group: typer.Typer) -> None:
    """Add the mark commands to the ``runs`` group."""
    command(group, "note", runs_note)
    command(group, "tag", runs_tag)
    command(group, "untag", runs_untag)
    command(group, "archive", runs_archive)
    command(group, "restore", runs_restore)
    command(group, "pin", runs_pin)
    command(group, "unpin", runs_unpin)
