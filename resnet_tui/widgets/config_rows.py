"""The rows of the config form: a field (label, input, note) and an augmentation's switch.

The note under a field shows its help (from the engine's field metadata) or, while the value
is refused, the reason; a switch row shows the augmentation's description from its registry
entry.
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Label, Static

from engine.api import AugmentationInfo, FieldInfo
from resnet_tui.widgets.toggle import Toggle

FOCUS_MARK = "▶ "  # before the label of the row whose field has the focus


class MarkedRow(Horizontal):
    """A row whose label says, without colour, that its field has the focus: a ▶ before
    it, and the class -focused (the stylesheet sets the label in reverse bold)."""

    label_text = ""

    def label(self) -> Label:
        return Label(self._marked(False), classes="field-label")

    def _marked(self, focused: bool) -> str:
        return (FOCUS_MARK if focused else " " * len(FOCUS_MARK)) + self.label_text

    def _mark(self, focused: bool) -> None:
        self.set_class(focused, "-focused")
        self.query_one(".field-label", Label).update(self._marked(focused))

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self._mark(True)

    def on_descendant_blur(self, event: events.DescendantBlur) -> None:
        self._mark(False)


class FieldRow(MarkedRow):
    """Label, input widget, note."""

    def __init__(
        self, spec: FieldInfo, widget: Widget, label: str | None = None, classes: str = ""
    ) -> None:
        super().__init__(
            classes=f"field-row {classes}".strip(), id=f"row-{spec.section}-{spec.name}"
        )
        self.spec = spec
        self.widget = widget
        self.label_text = label or spec.name
        self.help = spec.help
        self._shown: tuple[bool, str] = (False, spec.help)

    def compose(self) -> ComposeResult:
        yield self.label()
        yield self.widget
        yield Static(self.help, classes="field-note", markup=False)

    def set_note(self, error: str | None, info: str | None = None) -> None:
        shown = (bool(error), error if error else (info if info is not None else self.help))
        if shown == self._shown:
            return
        self._shown = shown
        self.set_class(shown[0], "-invalid")
        self.query_one(".field-note", Static).update(shown[1])


class GroupRow(MarkedRow):
    """An augmentation's switch: on sets its switch keys to their 'on' values, off to their
    defaults."""

    def __init__(self, group: AugmentationInfo, on_: bool) -> None:
        super().__init__(classes="field-row group-row", id=f"row-aug-{group.name}")
        self.group = group
        self.on_ = on_
        self.label_text = group.label

    def compose(self) -> ComposeResult:
        yield self.label()
        yield Toggle(self.on_, id=f"aug-{self.group.name}", classes="field-input")
        yield Static(self.group.description, classes="field-note", markup=False)
