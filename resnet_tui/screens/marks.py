"""The user's marks on runs in the console: the note dialog, the tag field, archive and
restore, pin and unpin, and the switch that lists archived runs too.

The Runs view's keys (``N`` note, ``t`` tags, ``A`` archive/restore, ``p`` pin/unpin, ``h``
archived runs shown/hidden) and the run detail's call these. Each change goes through
``engine.api`` in a thread worker (``actions.in_background``) and says what it did in the
CLI's words (``resnet_tui.marks``); a refusal is the engine's line as the CLI prints it.
"""

from __future__ import annotations

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, TextArea

from engine import api
from resnet_tui import marks
from resnet_tui.screens.actions import in_background
from resnet_tui.state import Console


class NoteScreen(ModalScreen[str | None]):
    """A run's note in a multi-line field: ctrl+s saves (an empty note removes it), escape
    cancels."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, run: api.RunRecord) -> None:
        super().__init__()
        self.run = run

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="note-dialog"):
            yield Label(
                f"Note on run {marks.label(self.run)}", classes="dialog-title", markup=False
            )
            yield TextArea(self.run.note, id="note-text", soft_wrap=True)
            yield Static("an empty note removes it", classes="dialog-message")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save (ctrl+s)", variant="primary", id="save", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)

    def on_mount(self) -> None:
        area = self.query_one("#note-text", TextArea)
        area.focus()
        area.move_cursor(area.document.end)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.dismiss(None)

    def action_save(self) -> None:
        self.dismiss(marks.clean_note(self.query_one("#note-text", TextArea).text))

    def action_cancel(self) -> None:
        self.dismiss(None)


class TagsScreen(ModalScreen[str | None]):
    """One line of tags: ``a b -c`` adds a and b and removes c; enter applies, escape
    cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, run: api.RunRecord) -> None:
        super().__init__()
        self.run = run

    def compose(self) -> ComposeResult:
        now = marks.tags_text(self.run.tags) or "none"
        with Vertical(classes="dialog", id="tags-dialog"):
            yield Label(
                f"Tags of run {marks.label(self.run)}", classes="dialog-title", markup=False
            )
            yield Static(
                f"its tags: {escape(now)}\n"
                "a b adds the tags a and b; -c removes c (letters, digits and _.:/+-)",
                classes="dialog-message",
            )
            yield Input(placeholder="a b -c", id="tags-input", compact=True)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Apply (enter)", variant="primary", id="apply", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#tags-input", Input).focus()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.dismiss(self.query_one("#tags-input", Input).value)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "apply":
            self._submitted()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


def edit_note(app: Console, run: api.RunRecord) -> None:
    """The note dialog; ctrl+s saves the note in the run's record."""

    def saved(note: str | None) -> None:
        if note is None or note == run.note:
            return

        def act() -> str:
            return marks.note_line(run, api.note_run(app.store, run.id, note))

        in_background(app, f"note {run.id}", act, "noted", "note not saved")

    app.push_screen(NoteScreen(run), saved)


def edit_tags(app: Console, run: api.RunRecord) -> None:
    """The tag field; its words add and remove tags in one write."""

    def entered(text: str | None) -> None:
        add, remove = marks.tag_words(text or "")
        if not (add or remove):
            return

        def act() -> str:
            after = api.tag_run(app.store, run.id, add, remove=remove)
            return marks.tags_line(run, after, add, remove)

        in_background(app, f"tag {run.id}", act, "tagged", "not tagged")

    app.push_screen(TagsScreen(run), entered)


def toggle_archived(app: Console, run: api.RunRecord) -> None:
    """Archive the run (hidden unless archived runs are shown; nothing is deleted) or restore
    an archived one."""
    set_archived(app, run, not run.archived)


def set_archived(app: Console, run: api.RunRecord, archived: bool) -> None:
    def act() -> str:
        return marks.archive_line(run, api.archive_run(app.store, run.id, archived))

    what = "archived" if archived else "restored"
    in_background(app, f"archive {run.id}", act, what, f"not {what}")


def toggle_pinned(app: Console, run: api.RunRecord) -> None:
    """Pin the run (on top of the Runs view whatever the order; the baseline in Compare) or
    unpin it."""
    set_pinned(app, run, not run.pinned)


def set_pinned(app: Console, run: api.RunRecord, pinned: bool) -> None:
    def act() -> str:
        return marks.pin_line(run, api.pin_run(app.store, run.id, pinned))

    what = "pinned" if pinned else "unpinned"
    in_background(app, f"pin {run.id}", act, what, f"not {what}")


def toggle_show_archived(app: Console) -> None:
    """List archived runs too (marked ⊟) in every view, or hide them again."""
    state = app.state
    state.set_show_archived(not state.show_archived)
    count = state.archived_count
    if state.show_archived:
        app.notify(
            f"archived runs shown ({count}), marked {marks.ARCHIVED}; h hides them",
            title="archived runs",
            markup=False,
        )
    else:
        app.notify(
            f"archived runs hidden ({count}); h shows them", title="archived runs", markup=False
        )
