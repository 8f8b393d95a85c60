"""What a run store holds: file names, run ids, statuses and the run document's fields.

Kept apart from the code that reads and writes them, so that the index, the metrics files
and the RunStore agree on one definition (and the typed run record can take it over).
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.errors import StoreError
from engine.procs import process_start_time, this_host

STATUSES = ("queued", "running", "stopped", "finished", "crashed", "failed", "diverged")
ACTIVE = ("queued", "running")
TERMINAL = tuple(s for s in STATUSES if s not in ACTIVE)

RUNS_ENV = "RESNET_TUI_RUNS"
DEFAULT_ROOT = "runs"
INDEX_FILE = "index.json"
LOCK_FILE = "index.json.lock"
NAMES_DIR = ".names"  # one marker file per run name (engine.store.names)
# Files inside a run folder: the store writes the first three, the trainer the others.
CONFIG_FILE = "config.toml"
RUN_FILE = "run.json"
METRICS_FILE = "metrics.jsonl"
LOG_FILE = "train.log"
BEST_CHECKPOINT = "best.pt"
LAST_CHECKPOINT = "last.pt"
CONFUSION_FILE = "confusion.json"

_SLUG_MAX = 32
# <YYYYmmdd-HHMMSS>-<slug>-<4 hex>; the slug is [a-z0-9] words joined by single dashes.
RUN_ID_RE = re.compile(r"[0-9]{8}-[0-9]{6}-[a-z0-9]+(?:-[a-z0-9]+)*-[0-9a-f]{4}")
NAME_MAX = 200


def now_iso() -> str:
    """The local time with its UTC offset, to the second: the format of every time field."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


def default_root() -> Path:
    return Path(os.environ.get(RUNS_ENV) or DEFAULT_ROOT)


def slugify(text: str, max_len: int = _SLUG_MAX) -> str:
    """'ResNet-50 D (SE)' -> 'resnet-50-d-se': lowercase [a-z0-9] words joined by dashes."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:max_len].strip("-")


def created_from_id(run_id: str) -> str | None:
    try:
        stamp = datetime.strptime(run_id[:15], "%Y%m%d-%H%M%S")
    except ValueError:
        return None
    return stamp.astimezone().isoformat(timespec="seconds")


def id_slug(run_id: str) -> str:
    return run_id[16:-5]


def sort_time(doc: dict[str, Any]) -> float:
    """The creation time as a number, for sorting (0 when unknown)."""
    try:
        return datetime.fromisoformat(str(doc.get("created"))).timestamp()
    except ValueError:
        return 0.0


def check_status(status: Any) -> None:
    if status not in STATUSES:
        raise StoreError(f"unknown run status {status!r}; one of {', '.join(STATUSES)}")


def check_name(name: Any) -> str:
    """A run name as given to ``rename``: a non-empty line of text."""
    if not isinstance(name, str) or not name.strip():
        raise StoreError("a run name cannot be empty; give a name like 'digits-lr-0.1'")
    if len(name) > NAME_MAX or any(ord(c) < 32 for c in name):
        raise StoreError(
            f"a run name must be one line of at most {NAME_MAX} characters; got {name[:40]!r}"
        )
    return name


TAG_MAX = 64
TAG_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/+-]*")
NOTE_MAX = 10_000


def check_tag(tag: Any) -> str:
    """A tag: letters, digits and ``_.:/+-``, starting with a letter or digit, at most 64."""
    if not isinstance(tag, str) or not TAG_RE.fullmatch(tag) or len(tag) > TAG_MAX:
        raise StoreError(
            f"{str(tag)!r} is not a tag: use letters, digits and _.:/+- (starting with a "
            f"letter or digit, at most {TAG_MAX} characters), e.g. 'baseline' or 'paper:fig3'"
        )
    return tag


def check_note(note: Any) -> str:
    """A note: any text (several lines) up to 10,000 characters."""
    if not isinstance(note, str):
        raise StoreError("a note is text")
    if len(note) > NOTE_MAX:
        raise StoreError(
            f"a note holds at most {NOTE_MAX:,} characters; this one has {len(note):,}"
        )
    return note


def add_identity(fields: dict[str, Any]) -> None:
    """A reported pid belongs to this host (unless ``host`` says otherwise) and gets its start
    time, so that a recycled pid is not mistaken for the run."""
    pid = fields.get("pid")
    if pid is None:
        return
    if fields.setdefault("host", this_host()) == this_host():
        fields.setdefault("pid_start", process_start_time(int(pid)))
    else:
        fields.setdefault("pid_start", None)


def blank_doc(run_id: str) -> dict[str, Any]:
    """Every field a run document has, at its 'unknown' value (used by rebuilds). The id comes
    first: the index finds a run's line by its first bytes."""
    return {
        "id": run_id,
        "name": id_slug(run_id),
        "preset": "",
        "config": {},
        "status": "failed",
        "pid": None,
        "host": None,
        "device": None,
        "created": created_from_id(run_id),
        "started": None,
        "finished": None,
        "params": None,
        "epoch": 0,
        "epochs": None,
        "model": None,
        "dataset": None,
        "best": {},
        "test": {},
        "message": "",
    }


def as_crashed(doc: dict[str, Any]) -> dict[str, Any]:
    """How readers see an active run whose process is gone (the stored document stays)."""
    message = (
        f"process {doc.get('pid')} is gone (last epoch {doc.get('epoch', 0)}); "
        f"resume with `resnet-tui train --resume {doc['id']}`"
    )
    return {**doc, "status": "crashed", "message": message}
