"""Unique run names in O(1): one marker file per name under ``runs/.names/``.

A marker ``.names/<sha256 of the name>`` holds ``{"name": ..., "id": ...}``. A name is taken
when its marker names a run whose folder's ``run.json`` still carries that name, so a marker
left behind (a create killed before the run reached the index, a run renamed or deleted by an
older version) never blocks a name for good, and checking a name never reads the index.

Markers are written under the store's lock. ``.names/`` exists only complete: it is built
whole in a temporary folder and renamed into place, from the index, by the first write that
needs names in a store made before markers existed (once), and again by ``rebuild_index``;
it goes when the store has no run left. ``<hash>.next`` files remember the last numbered
suffix given for a name (a hint: lost, the search starts again at 2), so the thousandth
``digits-quick`` does not probe a thousand names.

Stores that already hold duplicate names keep them (``resolve`` reports "matches 2 runs"); the
marker of such a name points at its oldest run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from engine.fsio import atomic_write, to_json, write_error
from engine.store.schema import NAMES_DIR, RUN_FILE, RUN_ID_RE, sort_time


class Names:
    """The name markers of one store. Call every writing method with the store's lock held."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folder = root / NAMES_DIR

    def _marker(self, name: str) -> Path:
        import hashlib  # deferred: OpenSSL's import is slow, and only writes need a marker

        return self.folder / hashlib.sha256(name.encode("utf-8")).hexdigest()[:40]

    @property
    def complete(self) -> bool:
        return self.folder.is_dir()

    def owner(self, name: str) -> str | None:
        """The run that holds ``name``, or None when it is free (markers must be complete)."""
        try:
            marker = json.loads(self._marker(name).read_bytes())
            run_id = marker["id"]
        except (OSError, ValueError, TypeError, KeyError):
            return None  # no marker, or a torn one: nothing holds the name through it
        if not isinstance(run_id, str) or not RUN_ID_RE.fullmatch(run_id):
            return None
        return run_id if _run_json_name(self.root / run_id / RUN_FILE) == name else None

    def unique(self, name: str) -> str:
        """``name`` when it is free, else ``name-N`` with the first free N after the last one
        given for it."""
        if self.owner(name) is None:
            return name
        n = self._hint(name) + 1
        while self.owner(f"{name}-{n}") is not None:
            n += 1
        return f"{name}-{n}"

    def _hint(self, name: str) -> int:
        try:
            return max(1, int(self._marker(name).with_suffix(".next").read_text()))
        except (OSError, ValueError):
            return 1

    def give(self, name: str, run_id: str, base: str | None = None) -> None:
        """Record that ``run_id`` holds ``name`` (before the run is indexed); ``base``: the
        name it was numbered from (remembers the suffix). Not fsynced: a marker lost in a power
        cut only lets a later run take the name twice (``resolve`` then says so)."""
        marker = to_json({"name": name, "id": run_id})
        atomic_write(self._marker(name), marker, point="name", sync=False)
        if base is not None and name != base:
            with contextlib.suppress(OSError, ValueError):  # a hint only
                self._marker(base).with_suffix(".next").write_text(name.rsplit("-", 1)[1])

    def drop(self, name: str, run_id: str) -> None:
        """Forget ``name`` if ``run_id`` holds it (a delete, a rename)."""
        path = self._marker(name)
        with contextlib.suppress(OSError, ValueError, TypeError):
            if json.loads(path.read_bytes()).get("id") == run_id:
                path.unlink()

    def rebuild(self, docs: Iterable[dict[str, Any]]) -> None:
        """Markers for every name of ``docs`` (the oldest run of a duplicate name wins), built
        in a temporary folder that then replaces ``.names/``. Not fsynced one by one: a marker
        lost in a power cut only lets a later run take a name twice."""
        wanted: dict[str, bytes] = {}
        for doc in sorted(docs, key=sort_time, reverse=True):
            name = doc.get("name")
            if isinstance(name, str) and name:
                wanted[self._marker(name).name] = to_json({"name": name, "id": doc["id"]})
        self._remove_leftovers()
        tmp = self.root / f"{NAMES_DIR}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        path = tmp
        try:
            tmp.mkdir()
            for file_name, body in wanted.items():
                path = tmp / file_name
                with open(path, "wb") as fh:
                    fh.write(body)
            path = self.folder
            if self.folder.is_dir():
                os.replace(self.folder, self.root / f"{NAMES_DIR}.{os.urandom(4).hex()}.old")
            os.replace(tmp, self.folder)
        except OSError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            raise write_error(path, e) from e
        self._remove_leftovers()

    def clear(self) -> None:
        """No run is left: no name is taken (the next write starts ``.names/`` afresh)."""
        self._remove_leftovers()
        if self.folder.is_dir():
            old = self.root / f"{NAMES_DIR}.{os.urandom(4).hex()}.old"
            with contextlib.suppress(OSError):
                os.replace(self.folder, old)
                shutil.rmtree(old, ignore_errors=True)

    def _remove_leftovers(self) -> None:
        """Folders of earlier rebuilds and clears (killed, or moved aside)."""
        prefix = NAMES_DIR + "."
        with contextlib.suppress(OSError), os.scandir(self.root) as entries:
            for entry in entries:
                if entry.name.startswith(prefix) and entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)


def _run_json_name(path: Path) -> str | None:
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    name = doc.get("name") if isinstance(doc, dict) else None
    return name if isinstance(name, str) else None
