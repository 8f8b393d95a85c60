"""An ablation's queue: its runs trained one after another in this process (the process that
``python -m engine.worker queue`` starts, or the CLI's foreground ``ablate``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from engine.procs import StopFlag
from engine.runner import execute
from engine.store import RunStore


def run_queue(
    store: RunStore,
    run_ids: Sequence[str],
    run_one: Callable[[str], dict[str, Any]] | None = None,
    on_error: Callable[[str, BaseException], None] | None = None,
) -> list[dict[str, Any]]:
    """Train ``run_ids`` one after another; returns their final documents.

    ``run_one(run_id)`` trains one run (default: ``engine.runner.execute``). A run that fails
    is reported to ``on_error`` and the queue goes on; a run that is stopped (SIGINT/SIGTERM,
    `resnet-tui runs stop`) stops the queue, and the runs not started are marked stopped, so
    each can be trained later with `resnet-tui train --resume`.
    """
    stop = StopFlag()
    run = run_one or (lambda run_id: execute(store, run_id, stop=stop))
    docs: list[dict[str, Any]] = []
    for i, run_id in enumerate(run_ids):
        try:
            doc = run(run_id)
        except KeyboardInterrupt:
            _stop_rest(store, run_ids[i + 1 :])
            raise
        except Exception as exc:  # noqa: BLE001  (reported; the next run still trains)
            if on_error is not None:
                on_error(run_id, exc)
            doc = store.get(run_id)
        docs.append(doc)
        if doc.get("status") == "stopped" or stop():
            _stop_rest(store, run_ids[i + 1 :])
            docs += [store.get(r) for r in run_ids[i + 1 :]]
            break
    return docs


def _stop_rest(store: RunStore, run_ids: Sequence[str]) -> None:
    for run_id in run_ids:
        if store.get(run_id).get("status") == "queued":
            store.set_status(run_id, "stopped", "the queue was stopped before this run started")
