"""The user's own marks on a run: a note, tags, archived, pinned (``runs note|tag|...``).

The trainer never writes them; each change is one locked read-modify-write of the run's
document (``RunStore._modify``), so writers in several processes at once lose nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from engine.store.schema import check_note, check_tag


class StoreMarks:
    """The marks' writes, mixed into ``RunStore`` (which provides ``_modify`` and ``update``)."""

    def _modify(self, run_id: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        raise NotImplementedError

    def update(self, run_id: str, **fields: Any) -> dict[str, Any]:
        raise NotImplementedError

    def change_tags(
        self, run_id: str, add: Iterable[str] = (), remove: Iterable[str] = ()
    ) -> dict[str, Any]:
        """Add and remove tags in one locked read-modify-write, so that writers in several
        processes at once lose none (tags keep the order they were first added in)."""
        adding = [check_tag(t) for t in add]
        removing = {check_tag(t) for t in remove}

        def change(doc: dict[str, Any]) -> None:
            old = doc.get("tags")
            tags = [t for t in old if isinstance(t, str)] if isinstance(old, list) else []
            for tag in adding:
                if tag not in tags:
                    tags.append(tag)
            doc["tags"] = [t for t in tags if t not in removing]

        return self._modify(run_id, change)

    def set_note(self, run_id: str, note: str) -> dict[str, Any]:
        """Replace a run's note ("" removes it)."""
        return self.update(run_id, note=check_note(note))

    def set_archived(self, run_id: str, archived: bool) -> dict[str, Any]:
        """Archive a run (hidden from default lists, never deleted) or restore it."""
        return self.update(run_id, archived=bool(archived))

    def set_pinned(self, run_id: str, pinned: bool) -> dict[str, Any]:
        """Pin a run (kept on top; the baseline in Compare) or unpin it."""
        return self.update(run_id, pinned=bool(pinned))
