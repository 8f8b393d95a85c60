"""A footer that wraps its keys onto more lines when they do not fit (80 columns).

Textual's Footer keeps one line and cuts what does not fit; this one lays the same keys out
greedily, line by line, so every key of the view stays visible at any width.

It builds Textual's own key widgets (FooterKey, FooterLabel) so that it looks and clicks like
the Footer; they live in the private ``textual.widgets._footer`` (not exported in 8.2), so
an upgrade that moves them fails on import (tests/test_upstream_internals.py says so first).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import HorizontalGroup
from textual.events import Resize
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey, FooterLabel  # textual-private (8.2), see above


class KeyFooter(Footer):
    """Every key of the view, wrapped onto as many lines as the width needs."""

    DEFAULT_CSS = """
    KeyFooter {
        layout: vertical;
        height: auto;
        max-height: 4;
        .footer-line {
            height: 1;
            width: 100%;
        }
        FooterKey {
            margin: 0 1 0 0;
        }
        FooterLabel {
            margin: 0 1 0 0;
        }
    }
    """

    _laid_out_width = 0
    _keys_known = False  # the screen has published its bindings at least once

    def bindings_changed(self, screen: Screen[Any]) -> None:
        self._keys_known = True
        super().bindings_changed(screen)

    def compose(self) -> ComposeResult:
        if not self._keys_known:
            return
        width = max(20, self.size.width or self.app.size.width)
        self._laid_out_width = width
        items = self._items()
        palette = self._palette_key()
        lines: list[list[tuple[Widget, int]]] = [[]]
        used = 0
        budget = width - (cell_len(palette.key_display) + 10 if palette is not None else 0)
        for widget, size in items:
            if lines[-1] and used + size > budget:
                lines.append([])
                used = 0
                budget = width
            lines[-1].append((widget, size))
            used += size
        for index, line in enumerate(lines):
            with HorizontalGroup(classes="footer-line"):
                yield from (widget for widget, _ in line)
                if index == 0 and palette is not None:
                    yield palette

    def _items(self) -> list[tuple[Widget, int]]:
        """(widget, width) for each key; a group of keys is one label after its keys."""
        by_action: defaultdict[str, list[tuple[Binding, bool, str]]] = defaultdict(list)
        for _, binding, enabled, tooltip in self.screen.active_bindings.values():
            if binding.show:
                by_action[binding.action].append((binding, enabled, tooltip))
        items: list[tuple[Widget, int]] = []
        group_keys: list[str] = []
        group_label = ""
        for entries in by_action.values():
            binding, enabled, tooltip = entries[0]
            key_display = self.app.get_key_display(binding)
            if binding.group is not None:
                group_keys.append(key_display)
                group_label = binding.group.description
                continue
            text = f"{key_display} {binding.description}".strip()
            items.append(
                (
                    FooterKey(
                        binding.key,
                        key_display,
                        binding.description,
                        binding.action,
                        disabled=not enabled,
                        tooltip=tooltip or binding.description,
                    ),
                    cell_len(text) + 1,
                )
            )
        if group_keys:
            text = f"{''.join(group_keys)} {group_label}"
            items.append((FooterLabel(text), cell_len(text) + 1))
        return items

    def _palette_key(self) -> FooterKey | None:
        if not (self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE):
            return None
        active = self.screen.active_bindings.get(self.app.COMMAND_PALETTE_BINDING)
        if active is None:
            return None
        _, binding, enabled, tooltip = active
        return FooterKey(
            binding.key,
            self.app.get_key_display(binding),
            binding.description,
            binding.action,
            classes="-command-palette",
            disabled=not enabled,
            tooltip=binding.tooltip or binding.description,
        )

    def on_resize(self, event: Resize) -> None:
        if event.size.width != self._laid_out_width:
            self.call_after_refresh(self.recompose)
