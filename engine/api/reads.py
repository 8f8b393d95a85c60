"""Reading what runs write in their folders: metrics, the confusion matrices, the log.

The store's file layout is the engine's business; a front-end asks for typed records and never
opens a run's files itself. Reads never raise for a missing or damaged file: a run that has
not written it yet, or a file a crash damaged, reads as empty with the reason said.
"""

from __future__ import annotations

import json
import os

from engine import provenance
from engine.records import Confusion, RunMetrics, RunRecord
from engine.store import CONFUSION_FILE, LOG_FILE, MetricsReader, RunStore
from engine.store.progress import Progress
from engine.store.progress import read_progress as progress_file
from engine.sysload import SystemSummary


def read_metrics(store: RunStore, run_id: str) -> RunMetrics:
    """A run's epoch and step lines (damaged lines skipped, said in ``warnings``)."""
    try:
        reader = store.metrics_reader(run_id)
        lines = reader.poll().records
    except Exception as exc:  # an unreadable file (permissions, a folder in its place)
        return RunMetrics(warnings=(f"cannot read the metrics of run {run_id}: {exc}",))
    return RunMetrics.from_lines(lines, reader.warnings)


def system_summary(metrics: RunMetrics) -> SystemSummary:
    """The machine's load over a run (its ``sys`` lines) and its wait for data (its epoch
    lines): GPU figures None without NVML."""
    return SystemSummary.of(metrics.samples, metrics.epochs)


def provenance_lines(record: RunRecord, preset_text: bool = True) -> list[str]:
    """Where the run came from, as lines of text (the preset file's text indented under its
    path, unless ``preset_text`` is false)."""
    return provenance.describe(dict(record.provenance), preset_text)


def read_progress(store: RunStore, run_id: str) -> Progress | None:
    """Where the run's trainer was in its epoch when it last said so (about once a second
    while it trains); None before its first step, or when the file cannot be read. A finished
    or dead run keeps its last one: read it with the run's status."""
    return progress_file(store.run_dir(run_id))


def follow_metrics(store: RunStore, run_id: str) -> MetricsReader:
    """A reader whose ``poll()`` returns the lines appended since its last poll (and says
    ``reset`` when a resume rewrote the file)."""
    return store.metrics_reader(run_id)


def read_confusion(store: RunStore, run_id: str) -> tuple[Confusion | None, str]:
    """(the run's confusion matrices, "") or (None, why there are none)."""
    try:
        path = store.run_dir(run_id) / CONFUSION_FILE
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, "no confusion matrix yet (written when training ends)"
    except Exception as exc:
        return None, f"confusion.json is unreadable: {exc}"
    try:
        return Confusion.from_json(data), ""
    except ValueError as exc:
        return None, f"confusion.json is unreadable: {exc}"


def read_log(store: RunStore, run_id: str, lines: int = 200) -> str:
    """The last ``lines`` lines of the run's train.log."""
    try:
        path = store.run_dir(run_id) / LOG_FILE
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read()
    except FileNotFoundError:
        return "(no train.log yet)"
    except Exception as exc:
        return f"(train.log is unreadable: {exc})"
    text = data.decode("utf-8", "replace").splitlines()
    return "\n".join(text[-lines:])


def store_version(store: RunStore) -> tuple[int, int, int] | None:
    """A value that changes whenever any run's record changes (the index file's identity,
    modification time and size); None while the store has no index. Followers poll it and
    read the runs again only when it changed."""
    try:
        st = os.stat(store.index_path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)
