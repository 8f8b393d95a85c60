"""Checkboxes whose state reads without colour: ``▐X▌`` when ticked, ``▐ ▌`` when not."""

from __future__ import annotations

from textual.widgets import Checkbox


class Check(Checkbox):
    """Textual's Checkbox shows the same X ticked or not (only its colour changes); this one
    shows X or a blank, so it reads on any terminal, monochrome included."""

    def __init__(
        self,
        label: str,
        value: bool = False,
        *,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(label, value, compact=True, id=id, classes=classes)
        self.BUTTON_INNER = "X" if value else " "

    def watch_value(self) -> None:
        self.BUTTON_INNER = "X" if self.value else " "
        super().watch_value()


class Toggle(Check):
    """A Check that says on or off: a config field's switch."""

    def __init__(
        self, value: bool = False, *, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__("on" if value else "off", value, id=id, classes=classes)

    def watch_value(self) -> None:
        self.label = "on" if self.value else "off"
        super().watch_value()
