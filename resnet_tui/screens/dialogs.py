"""Small modal dialogs: confirm a destructive action, name a new preset, name a new run."""

from __future__ import annotations

from collections.abc import Callable

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


class ConfirmScreen(ModalScreen[bool]):
    """Yes / no; `y` confirms, `n` or escape cancels; enter presses the focused button: No,
    unless ``enter_confirms`` (for what can be undone, as a stop: r resumes it)."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, message: str, yes: str = "Yes", *, enter_confirms: bool = False) -> None:
        super().__init__()
        self.message = message
        self.yes = yes
        self.enter_confirms = enter_confirms

    def compose(self) -> ComposeResult:
        enter = " enter" if self.enter_confirms else ""
        with Vertical(classes="dialog"):
            yield Static(self.message, classes="dialog-message")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (y{enter})", variant="error", id="yes", compact=True)
                yield Button("Cancel (n esc)", id="no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#yes" if self.enter_confirms else "#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class SavePresetScreen(ModalScreen[str | None]):
    """Name + description; ``save(name, description)`` returns an error message or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self, save: Callable[[str, str], str | None], name: str = "", description: str = ""
    ) -> None:
        super().__init__()
        self._save = save
        self._name = name
        self._description = description

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Save the form as a preset", classes="dialog-title")
            yield Label("name (lower-case letters, digits, - _ .)")
            yield Input(self._name, id="preset-name", compact=True)
            yield Label("description")
            yield Input(self._description, id="preset-description", compact=True)
            yield Static("", id="preset-error", classes="error-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save (enter)", variant="primary", id="save", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#preset-name", Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "preset-name":
            self.query_one("#preset-description", Input).focus()
        else:
            self._do_save()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self._do_save()
        else:
            self.dismiss(None)

    def _do_save(self) -> None:
        name = self.query_one("#preset-name", Input).value.strip()
        description = self.query_one("#preset-description", Input).value.strip()
        error = self._save(name, description)
        if error:
            self.query_one("#preset-error", Static).update(error)
            return
        self.dismiss(name)

    def action_cancel(self) -> None:
        self.dismiss(None)


class NameRunScreen(ModalScreen[str | None]):
    """Confirm an action that makes a run, with its name editable (enter: go, esc: cancel)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        title: str,
        message: str,
        name: str,
        go: str = "Start",
        label: str = "name of the new run",
    ) -> None:
        super().__init__()
        self._title, self._message, self._name, self._go = title, message, name, go
        self._label = label

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self._title, classes="dialog-title", markup=False)
            yield Static(self._message, classes="dialog-message")
            yield Label(self._label)
            yield Input(self._name, id="run-name", compact=True)
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self._go} (enter)", variant="primary", id="go", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#run-name", Input).focus()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.dismiss(self.query_one("#run-name", Input).value.strip())

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "go":
            self._submitted()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ChoiceScreen(ModalScreen[str | None]):
    """A question with several answers, each a button with its key; escape cancels."""

    BINDINGS = [Binding("escape", "answer('')", "Cancel")]

    def __init__(self, message: str, choices: list[tuple[str, str, str]]) -> None:
        """``choices``: (value, button label, key)."""
        super().__init__()
        self.message = message
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.message, classes="dialog-message")
            with Horizontal(classes="dialog-buttons"):
                for value, label, _ in self.choices:
                    yield Button(label, variant="error", id=f"choice-{value}", compact=True)
                yield Button("Cancel (esc)", id="choice-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#choice-cancel", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        value = (event.button.id or "").removeprefix("choice-")
        self.dismiss(None if value == "cancel" else value)

    def on_key(self, event: events.Key) -> None:
        for value, _, key in self.choices:
            if event.key == key:
                event.stop()
                self.dismiss(value)
                return

    def action_answer(self, value: str) -> None:
        self.dismiss(value or None)
