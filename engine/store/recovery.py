"""Rebuilding the index from the run folders (the store's answer to a damaged index), and
cleaning up after writers that were killed.

Every run folder holds ``run.json`` (a copy of its index document, written before the index
on every change) and ``config.toml``; a folder with neither readable still becomes a (failed)
run, so nothing on disk is ever hidden. The damaged index is kept beside the new one under
another name, never deleted.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.fsio import remove_stale_temp_files
from engine.store.schema import (
    CONFIG_FILE,
    INDEX_FILE,
    NAMES_DIR,
    RUN_FILE,
    RUN_ID_RE,
    blank_doc,
    sort_time,
)


def docs_from_folders(root: Path) -> list[dict[str, Any]]:
    """A document for every run folder under ``root``, oldest first."""
    docs = []
    with contextlib.suppress(FileNotFoundError):
        with os.scandir(root) as entries:
            for entry in entries:
                if RUN_ID_RE.fullmatch(entry.name) and entry.is_dir():
                    docs.append(doc_from_folder(root, entry.name))
    docs.sort(key=lambda d: (sort_time(d), d["id"]))
    return docs


def keep_previous_index(index_path: Path, keep_as: str) -> Path:
    """Keep the current index as ``index.json.<keep_as>-<timestamp>``; returns that path."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    kept = index_path.with_name(f"{INDEX_FILE}.{keep_as}-{stamp}")
    n = 1
    while kept.exists():
        n += 1
        kept = index_path.with_name(f"{INDEX_FILE}.{keep_as}-{stamp}-{n}")
    try:
        # A second name for the same bytes: index.json never disappears, even for a moment.
        os.link(index_path, kept)
    except OSError:
        shutil.copy2(index_path, kept)
    return kept


def doc_from_folder(root: Path, run_id: str) -> dict[str, Any]:
    """The run's document from its run.json, else from its config.toml, else a failed run."""
    folder = root / run_id
    problem = "no run.json"
    try:
        doc = json.loads((folder / RUN_FILE).read_bytes())
        if isinstance(doc, dict):
            doc["id"] = run_id  # the folder name is the truth
            return {**blank_doc(run_id), **doc}
        problem = "run.json is not a JSON object"
    except FileNotFoundError:
        pass
    except (OSError, ValueError, UnicodeDecodeError) as e:
        problem = f"run.json is unreadable ({e})"
    config = read_config(folder / CONFIG_FILE)
    doc = blank_doc(run_id)
    if config is None:
        doc["message"] = f"unreadable run folder: {problem} and no readable {CONFIG_FILE}"
        return doc
    doc.update(
        config=config,
        epochs=config.get("train", {}).get("epochs"),
        model=config.get("model", {}).get("name"),
        dataset=config.get("data", {}).get("name"),
        message=f"recovered from {CONFIG_FILE}: {problem}; its progress is unknown",
    )
    return doc


def read_config(path: Path) -> dict[str, Any] | None:
    """A run's config.toml as a full config dict (defaults filled in when it still validates)."""
    import tomllib

    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    try:
        from engine.config import from_dict

        return from_dict(raw).to_dict()
    except Exception:  # an older or hand-edited config: keep what it says
        return raw


def has_run_folders(root: Path) -> bool:
    try:
        with os.scandir(root) as entries:
            return any(RUN_ID_RE.fullmatch(e.name) and e.is_dir() for e in entries)
    except OSError:
        return False


def remove_temp_files(root: Path) -> list[str]:
    """``remove_stale_temp_files`` over the store's folder, its name markers and every run
    folder; returns the paths removed."""
    removed = [str(root / name) for name in remove_stale_temp_files(root)]
    names = root / NAMES_DIR
    removed += [str(names / name) for name in remove_stale_temp_files(names)]
    try:
        with os.scandir(root) as entries:
            folders = [e.path for e in entries if RUN_ID_RE.fullmatch(e.name) and e.is_dir()]
    except OSError:
        return removed
    for folder in folders:
        removed += [os.path.join(folder, n) for n in remove_stale_temp_files(Path(folder))]
    return removed
