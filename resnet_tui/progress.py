"""The Rich progress bar of ``resnet-tui train``: renders the engine's events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

if TYPE_CHECKING:
    from engine.store import RunStore


def train_with_progress(store: RunStore, run_id: str, console: Console) -> dict[str, Any]:
    from engine.runner import execute
    from engine.trainer import EpochDone, FitDone, FitStarted, StepDone

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    state: dict[str, Any] = {"run": None, "epoch": None, "epochs": 0}

    def on_event(event: Any) -> None:
        if isinstance(event, FitStarted):
            console.print(
                f"run [bold]{run_id}[/]: {event.params:,} params on {event.device}, "
                f"{event.train_size} train / {event.val_size} val images"
            )
            state["epochs"] = event.epochs
            state["run"] = progress.add_task(
                "run", total=event.epochs, completed=event.start_epoch, stats="ETA"
            )
            state["epoch"] = progress.add_task(
                f"epoch {event.start_epoch + 1}", total=event.steps_per_epoch, stats=""
            )
        elif isinstance(event, StepDone):
            progress.update(
                state["epoch"],
                description=f"epoch {event.epoch}/{state['epochs']}",
                completed=event.step,
                stats=f"loss {event.loss:.4f}" if event.loss is not None else "",
            )
        elif isinstance(event, EpochDone):
            m = event.metrics
            progress.console.print(
                f"epoch {event.epoch:>3}/{state['epochs']}  loss {m['train_loss']:.4f} "
                f"acc {m['train_acc']:.4f} | val loss {m['val_loss']:.4f} acc {m['val_acc']:.4f}"
                f" | {m['seconds']:.1f}s" + (" *" if event.improved else "")
            )
            progress.update(state["run"], completed=event.epoch)
            progress.reset(state["epoch"])
        elif isinstance(event, FitDone):
            progress.stop()

    with progress:
        doc = execute(store, run_id, on_event)
    best, test = doc.get("best") or {}, doc.get("test") or {}
    line = f"{doc['status']}: {doc.get('message', '')}"
    if best:
        line += (
            f" | best val acc {best.get('val_acc', 0):.4f} (epoch {int(best.get('best_epoch', 0))})"
        )
    if test:
        line += f" | test acc {test['test_acc']:.4f}"
    console.print(line + f" | run {run_id}")
    return doc
