"""Sweep documents: ``runs/sweeps/<name>.json``, one per sweep, beside the run store; and the
sweep's process: start it detached, ask it to stop, delete the sweep.

Only the sweep's own process writes its document (it holds the sweep's lock); readers see a
sweep marked running whose process is gone as crashed, as runs are. Torch- and optuna-free.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

from engine.errors import StoreError
from engine.lifecycle import worker_command
from engine.procs import is_alive, owner_identity, signal_stop, spawn_detached
from engine.records import RunRecord
from engine.store import RunStore, atomic_write
from engine.sweep.spec import NAME_RE, SweepSpec

SWEEPS_DIR = "sweeps"


def now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def sweeps_dir(store: RunStore) -> Path:
    return store.root / SWEEPS_DIR


def sweep_path(store: RunStore, name: str, suffix: str = ".json") -> Path:
    if not NAME_RE.match(name):
        raise StoreError(f"'{name}' is not a sweep name; see `resnet-tui sweeps list`")
    return sweeps_dir(store) / f"{name}{suffix}"


def default_storage(store: RunStore, name: str) -> str:
    """The journal file next to the sweep's document (absolute: workers may run elsewhere)."""
    return str(sweep_path(store, name, ".journal").resolve())


def sweep_storage(store: RunStore, doc: dict[str, Any]) -> str:
    """Where the sweep's Optuna study lives. A journal recorded at a path that no longer exists
    while the default journal sits beside the document is the same study in a store that was
    moved or copied: use it."""
    storage = str(doc.get("storage") or "")
    default = default_storage(store, str(doc["name"]))
    if (
        "://" not in storage
        and storage != default
        and not Path(storage).exists()
        and Path(default).exists()
    ):
        return default
    return storage or default


def read_doc(store: RunStore, name: str) -> dict[str, Any]:
    path = sweep_path(store, name)
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise StoreError(
            f"no sweep '{name}' in {store.root}; see `resnet-tui sweeps list`"
        ) from None
    except (OSError, ValueError) as exc:
        raise StoreError(f"sweep file {path} is unreadable ({exc})") from exc
    if not isinstance(doc, dict) or "name" not in doc:
        raise StoreError(f"sweep file {path} is not a sweep document")
    return doc


def write_doc(store: RunStore, doc: dict[str, Any]) -> dict[str, Any]:
    folder = sweeps_dir(store)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create {folder}: {exc.strerror or exc}") from exc
    atomic_write(sweep_path(store, doc["name"]), json.dumps(doc, indent=1).encode())
    return doc


def update_doc(store: RunStore, name: str, **fields: Any) -> dict[str, Any]:
    """Only the sweep's own process writes its document (it holds the sweep's lock)."""
    doc = read_doc(store, name)
    if "pid" in fields and fields["pid"] is not None:
        for key, value in owner_identity(fields["pid"]).items():
            fields.setdefault(key, value)
    doc.update(fields)
    return write_doc(store, doc)


def derive(store: RunStore, doc: dict[str, Any]) -> dict[str, Any]:
    if doc.get("status") == "running" and not is_alive(doc):
        return {**doc, "status": "crashed", "message": resume_message(doc["name"], "crashed")}
    return doc


def resume_message(name: str, what: str) -> str:
    return f"the sweep process {what}; continue it with `resnet-tui sweep --resume {name}`"


def get_sweep(store: RunStore, name: str) -> dict[str, Any]:
    """A sweep's document; a sweep marked running whose process is gone shows as crashed."""
    return derive(store, read_doc(store, name))


def resolve_sweep(store: RunStore, ref: str) -> str:
    """A sweep name from an exact name or a unique prefix."""
    names = sweep_names(store)
    if ref in names:
        return ref
    matches = [n for n in names if ref and n.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise StoreError(f"no sweep '{ref}' in {store.root}; see `resnet-tui sweeps list`")
    raise StoreError(f"'{ref}' matches {len(matches)} sweeps: {', '.join(matches)}")


def sweep_names(store: RunStore) -> list[str]:
    try:
        return sorted(p.stem for p in sweeps_dir(store).glob("*.json") if NAME_RE.match(p.stem))
    except OSError:
        return []


def existing_sweep(store: RunStore, spec: SweepSpec, storage: str = "") -> dict[str, Any] | None:
    """The sweep ``spec`` names when it was recorded already with the same request (None when
    there is none); a sweep of that name with another request is refused (StoreError)."""
    if not sweep_path(store, spec.name).exists():
        return None
    doc = read_doc(store, spec.name)
    if SweepSpec.from_dict(doc["spec"]).request() != spec.request():
        raise StoreError(
            f"sweep '{spec.name}' exists with a different definition; give another "
            f"--name, or continue it with `resnet-tui sweep --resume {spec.name}`"
        )
    if storage and storage != sweep_storage(store, doc):
        raise StoreError(f"sweep '{spec.name}' keeps its study in {doc['storage']}, not {storage}")
    return doc


def launch_sweep_detached(store: RunStore, name: str, parallel: int | None = None) -> int:
    """The sweep's process (``python -m engine.worker sweep NAME``) in its own session,
    output to sweeps/NAME.log."""
    command = worker_command(store.root, "sweep", name)
    if parallel:
        command += ["--parallel", str(parallel)]
    return spawn_detached(command, sweep_path(store, name, ".log")).pid


def request_sweep_stop(store: RunStore, name: str) -> None:
    """SIGTERM the sweep process: its trials stop at a checkpoint, the sweep is stopped."""
    doc = get_sweep(store, name)
    if doc["status"] != "running" or not doc.get("pid"):
        raise StoreError(f"sweep {name} is {doc['status']}, not running")
    signal_stop(doc, f"sweep {name}", f"continue it with `resnet-tui sweep --resume {name}`")


def delete_sweep(store: RunStore, name: str, with_runs: bool = False) -> list[str]:
    """Remove a sweep: its document, log, lock and (when it is the default journal file in
    the store) its Optuna study. Its trials stay as ordinary runs (their sweep link's
    ``former`` says whose, beside their trial number and parameters) unless ``with_runs``;
    then they are
    deleted too. Returns the deleted run ids. Refused while the sweep runs or, with
    ``with_runs``, while one of its trials trains (nothing is removed then)."""
    doc = get_sweep(store, name)
    if doc.get("status") == "running":
        raise StoreError(f"sweep {name} is running; stop it first (x, or `sweeps stop {name}`)")
    trials = [
        r
        for r in map(RunRecord.from_json, store.list_runs())
        if r.sweep is not None and r.sweep.name == name
    ]
    if with_runs:
        busy = [r.id for r in trials if r.active and is_alive(r.owner)]
        if busy:
            raise StoreError(f"sweep {name}: trial run {busy[0]} is training; stop it first")
    deleted = []
    for r in trials:
        if with_runs:
            store.delete(r.id)
            deleted.append(r.id)
        elif r.sweep is not None:  # an ordinary run now: the same request again makes a sweep
            # of the same name, which must not count these as its trials
            former = dataclasses.replace(r.sweep, name=None, former=name)
            store.update(r.id, sweep=former.to_json())
    journal = sweep_path(store, name, ".journal").resolve()
    paths = [sweep_path(store, name, suffix) for suffix in (".json", ".log", ".lock")]
    if sweep_storage(store, doc) == str(journal):
        paths.append(journal)
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot remove {path}: {exc.strerror or exc}") from exc
    return deleted
