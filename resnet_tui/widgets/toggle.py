"""A checkbox whose state reads without colour: ``[X] on`` / ``[ ] off``."""

from __future__ import annotations

from textual.widgets import Checkbox


class Toggle(Checkbox):
    """Textual's Checkbox shows the same X for on and off (only the colour changes); this
    one shows X or a blank, and says on/off, so it reads on any terminal."""

    def __init__(
        self, value: bool = False, *, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__("on" if value else "off", value, compact=True, id=id, classes=classes)
        self.BUTTON_INNER = "X" if value else " "

    def watch_value(self) -> None:
        self.BUTTON_INNER = "X" if self.value else " "
        self.label = "on" if self.value else "off"
        super().watch_value()
