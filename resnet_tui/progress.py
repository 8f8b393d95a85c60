"""The Rich progress bar of ``resnet-tui train`` (and of ``ablate``'s runs): trains a run in
this process through ``engine.api.compute.train`` and renders the trainer's events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from resnet_tui.widgets.format import pct

if TYPE_CHECKING:
    from engine import api
    from engine.api import compute


def train_with_progress(store: api.RunStore, run_id: str, console: Console) -> api.RunRecord:
    """Train ``run_id`` here with a bar per run and per epoch and a line per epoch; prints the
    outcome and returns the run's final record."""
    from engine.api import compute

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    epochs = 0
    run_task: TaskID | None = None
    epoch_task: TaskID | None = None

    def on_event(event: compute.Event) -> None:
        nonlocal epochs, run_task, epoch_task
        if isinstance(event, compute.FitStarted):
            console.print(
                f"run [bold]{run_id}[/]: {event.params:,} params on {event.device}, "
                f"{event.train_size} train / {event.val_size} val images"
            )
            for note in event.data_notes:  # the user's images: input, path, files skipped
                console.print(note, style="dim", markup=False, overflow="fold")
            epochs = event.epochs
            run_task = progress.add_task(
                "run", total=event.epochs, completed=event.start_epoch, stats="ETA"
            )
            epoch_task = progress.add_task(
                f"epoch {event.start_epoch + 1}", total=event.steps_per_epoch, stats=""
            )
        elif isinstance(event, compute.StepDone) and epoch_task is not None:
            progress.update(
                epoch_task,
                description=f"epoch {event.epoch}/{epochs}",
                completed=event.step,
                stats=f"loss {event.loss:.4f}" if event.loss is not None else "",
            )
        elif isinstance(event, compute.EpochDone):
            m = event.metrics
            progress.console.print(
                f"epoch {event.epoch:>3}/{epochs}  "
                + epoch_line(m)
                + (" *" if event.improved else "")
            )
            if run_task is not None and epoch_task is not None:
                progress.update(run_task, completed=event.epoch)
                progress.reset(epoch_task)
        elif isinstance(event, compute.FitDone):
            progress.stop()

    with progress:
        record = compute.train(store, run_id, on_event=on_event)
    console.print(outcome(record), markup=False)
    return record


def epoch_line(m: Mapping[str, Any]) -> str:
    """An epoch's numbers as the CLI prints them while a run trains (accuracy in percent)."""
    from engine import api  # torch-free; loaded already while a run trains

    val = (
        f"val loss {m['val_loss']:.4f} acc {pct(m.get('val_acc'))}"
        if isinstance(m.get("val_loss"), int | float)
        else api.VAL_SKIPPED  # an epoch train.eval_every skips: the words of its train.log
    )
    return f"loss {m['train_loss']:.4f} acc {pct(m['train_acc'])} | {val} | {m['seconds']:.1f}s"


def outcome(record: api.RunRecord) -> str:
    """The line that ends a run trained here: its status, best epoch, test accuracy and id."""
    line = f"{record.status}: {record.message}"
    best, test = record.best, record.test
    if best is not None and best.val_acc is not None:
        line += f" | best val acc {pct(best.val_acc)}"
        if best.epoch is not None:
            line += f" (epoch {best.epoch})"
    if test is not None and test.acc is not None:
        line += f" | test acc {pct(test.acc)}"
    return line + f" | run {record.id}"
