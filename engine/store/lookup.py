"""Finding a run from what a user typed: a whole id, the start of one, or a name."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.errors import StoreError
from engine.store.schema import sort_time

SHOWN = 10  # matches named in a refusal


def unknown(ref: str, root: Path) -> StoreError:
    return StoreError(f"no run '{ref}' in {root}; see `resnet-tui runs list`")


def resolve(docs: Sequence[dict[str, Any]], ref: str, root: Path) -> str:
    """The id of the run of ``docs`` whose id or name is ``ref``, or the one whose id starts
    with it; a refusal that names the candidates otherwise."""
    if any(d["id"] == ref for d in docs):
        return ref
    exact = [d for d in docs if d.get("name") == ref]
    if len(exact) == 1:  # a whole name wins over ids that start with it (names are unique)
        return str(exact[0]["id"])
    matches = [d for d in docs if ref and (d["id"].startswith(ref) or d.get("name") == ref)]
    if len(matches) == 1:
        return str(matches[0]["id"])
    if not matches:
        named = sorted(str(d.get("name")) for d in docs if str(d.get("name", "")).startswith(ref))
        if ref and named:
            raise StoreError(
                f"no run with id or name '{ref}' in {root}; names that start with it: "
                f"{_listed(named)}; give a whole name or the start of an id"
            )
        raise unknown(ref, root)
    matches.sort(key=lambda d: (sort_time(d), d["id"]), reverse=True)
    shown = [f"{d['id']} ({d.get('name', '')})" for d in matches]
    raise StoreError(
        f"'{ref}' matches {len(matches)} runs in {root}: {_listed(shown)}; give more of the id"
    )


def _listed(items: list[str]) -> str:
    more = f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return ", ".join(items[:SHOWN]) + more
