"""The run store: a folder of runs with a TinyDB index, shared safely between processes.

::

    runs/
      index.json        TinyDB: one small document per run (no curves), one line each
      index.json.lock   the inter-process lock every index write holds (readers: shared)
      .names/           one marker per run name: names are unique in a store
      <run-id>/
        config.toml     the resolved config
        run.json        a copy of the run's index document, replaced on every update
        metrics.jsonl   one JSON object per line, append-only
        train.log, best.pt, last.pt, confusion.json   written by the trainer

Safety rules, in short:

- Every read-modify-write of ``index.json`` holds ``index.json.lock`` (``filelock``) for its
  whole duration and reads what it changes afresh, so no process works from a stale copy.
- ``index.json`` is TinyDB's JSON with one document per line, each padded to a slot with
  headroom (``index``). Updating a run writes its own line in place (one ``pwrite``, fsync);
  creating one appends a line; no write rewrites the other runs' documents, so their cost does
  not grow with the number of runs. Only a document that outgrew its slot, a delete, a rebuild
  or an index in another layout rewrite the whole file, atomically (``indexfile``).
- Readers take a shared lock on ``index.json.lock`` (bounded wait), so they always see whole
  lines; a line that still does not parse sends them to the exclusive lock, then to a rebuild.
- ``run.json``, ``config.toml``, a truncated ``metrics.jsonl`` and whole-file rewrites of the
  index go to a temporary file in the same folder, fsync, rename (``engine.fsio``).
- Metrics lines are appended with one ``os.write`` on an ``O_APPEND`` descriptor, so lines of
  concurrent writers never interleave; a torn last line (a killed writer) is skipped by readers
  (``metrics``).
- A damaged index is rebuilt from the run folders' ``run.json`` files; the damaged file is kept
  (``recovery``).
- A trainer takes its run with ``claim`` (check the status and set it running in one locked
  step), so two resumes of one run cannot both train it; the temporary files of writers that
  were killed mid-write are removed when a trainer starts (``remove_stale_temp_files``).
- Names are unique: a new run whose name is taken gets ``NAME-2``, ``-3``... (``names``);
  ``rename`` refuses a taken name.

This package must stay cheap to import (the CLI's ``runs list`` and the TUI use it): it imports
no torch, and ``filelock``, ``tomllib`` and ``engine.config`` only where they are needed.
"""

from __future__ import annotations

from engine.fsio import atomic_write, remove_stale_temp_files, to_json
from engine.procs import LOCK_TIMEOUT_S, process_start_time, this_host
from engine.store.index import IndexUnreadable
from engine.store.indexfile import _IndexStorage
from engine.store.metrics import MetricsBatch, MetricsReader
from engine.store.runs import RunStore
from engine.store.schema import (
    ACTIVE,
    BEST_CHECKPOINT,
    CONFIG_FILE,
    CONFUSION_FILE,
    DEFAULT_ROOT,
    INDEX_FILE,
    LAST_CHECKPOINT,
    LOCK_FILE,
    LOG_FILE,
    METRICS_FILE,
    NAMES_DIR,
    RUN_FILE,
    RUN_ID_RE,
    RUNS_ENV,
    STATUSES,
    TERMINAL,
    default_root,
    now_iso,
    slugify,
)

_to_json = to_json  # engine.runner imports it under its old name
_IndexUnreadable = IndexUnreadable

__all__ = [
    "ACTIVE",
    "BEST_CHECKPOINT",
    "CONFIG_FILE",
    "CONFUSION_FILE",
    "DEFAULT_ROOT",
    "INDEX_FILE",
    "LAST_CHECKPOINT",
    "LOCK_FILE",
    "LOCK_TIMEOUT_S",
    "LOG_FILE",
    "METRICS_FILE",
    "NAMES_DIR",
    "RUNS_ENV",
    "RUN_FILE",
    "RUN_ID_RE",
    "STATUSES",
    "TERMINAL",
    "MetricsBatch",
    "MetricsReader",
    "RunStore",
    "_IndexStorage",
    "_to_json",
    "atomic_write",
    "default_root",
    "now_iso",
    "process_start_time",
    "remove_stale_temp_files",
    "slugify",
    "this_host",
]
