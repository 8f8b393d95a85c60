"""The loader benchmark (seed 003's Table 2) live: how fast one epoch loads per ``num_workers``.

The console never imports torch, so the timing runs in ``resnet-tui bench loader TARGET
--jsonl``, a process of its own started from a thread worker; each JSON line it prints (the
setup first, then one row per worker count as soon as it is measured) comes back to the
screen as a message and becomes a table row. At the end the fastest row is marked and the
screen says what to set. Escape closes the screen and kills the process group (the bench's
DataLoader workers with it); ``r`` runs it again; ``a`` hands the fastest ``num_workers`` to
``on_apply`` when one was given (the Launch form sets data.num_workers with it).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Static

from engine import api
from resnet_tui.state import Console

if TYPE_CHECKING:
    from textual.app import App

ON_DEVICE = "on-device"  # engine.loader_bench.ON_DEVICE (importing the engine loads torch)
BAR_WIDTH = 12
USER_ERROR = 2  # the CLI's exit status for an error the user can fix (bad preset, no data)


def bar(value: float, scale: float, width: int = BAR_WIDTH) -> Text:
    """A bar ``value / scale`` of ``width`` cells; past the scale it is full and says how far."""
    if scale <= 0:
        return Text("")
    if value > scale * 1.05:
        return Text("█" * width + f" ×{value / scale:,.0f}", style="green")
    cells = max(1, round(width * value / scale)) if value > 0 else 0
    return Text("█" * cells, style="green")


def fastest_row(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The fastest row that a ``num_workers`` value applies to (not the on-device row)."""
    timed = [r for r in rows if r.get("path") != ON_DEVICE and r.get("workers") is not None]
    return max(timed, key=lambda r: float(r["images_per_s"])) if timed else None


def advice(setup: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """What the finished table means: the fastest worker count and the key to set."""
    best = fastest_row(rows)
    if best is None:
        return "no DataLoader row was timed"
    n = best["workers"]
    text = (
        f"fastest: num_workers={n} ({float(best['images_per_s']):,.0f} images/s) "
        f"→ set data.num_workers = {n}"
    )
    if not setup.get("in_memory"):
        return text
    device = next((r for r in rows if r.get("path") == ON_DEVICE), None)
    dataset = setup.get("dataset", "this dataset")
    on_device = ""
    if device is not None:
        ratio = float(device["images_per_s"]) / max(float(best["images_per_s"]), 1e-9)
        on_device = f" ({float(device['images_per_s']):,.0f} images/s, {ratio:,.0f}× faster)"
    return (
        f"{text} for a DataLoader path.\n{dataset} is held in memory, though: training takes "
        f"the on-device path{on_device}, which slices batches of one tensor and needs no "
        "workers; data.num_workers only matters for image folders."
    )


def error_message(code: int, stderr: str) -> str:
    """The worker's ``error: ...`` line(s) (a refusal, exit 2), else the last line it printed
    (never a traceback)."""
    errors = [line.strip() for line in stderr.splitlines() if line.startswith("error: ")]
    errors = [line.removeprefix("error: ") for line in errors]
    if errors:
        return "\n".join(f"error: {line}" for line in errors)
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    last = lines[-1] if lines else "no output"
    return f"error: the benchmark failed (exit {code}): {last}"


class LoaderBenchScreen(ModalScreen[int | None]):
    """``resnet-tui bench loader TARGET`` with its rows arriving live; dismisses with the
    applied ``num_workers`` (``a``), else None."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("r", "rerun", "Re-run"),
        Binding("a", "apply", "Apply fastest"),
    ]

    class Started(Message):
        def __init__(self, generation: int, pid: int) -> None:
            super().__init__()
            self.generation, self.pid = generation, pid

    class Line(Message):
        """One JSON object the bench printed: ``{"setup": ...}`` or a row."""

        def __init__(self, generation: int, data: dict[str, Any]) -> None:
            super().__init__()
            self.generation, self.data = generation, data

    class Ended(Message):
        def __init__(self, generation: int, code: int | None, stderr: str) -> None:
            super().__init__()
            self.generation, self.code, self.stderr = generation, code, stderr

    def __init__(
        self,
        target: str,
        sets: list[str] | None = None,
        title: str = "",
        workers: str = "",
        on_apply: Callable[[int], None] | None = None,
        remove_target: bool = False,
    ) -> None:
        """``remove_target``: ``target`` is a file made for this screen (the Launch form's
        config), removed when the screen goes, the app quitting included."""
        super().__init__()
        self.target = target
        self.remove_target = remove_target
        self.sets = list(sets or [])
        self.title_text = title or target
        self.worker_counts = workers  # "0,2,4,8" style; empty: the CLI's default
        self.on_apply = on_apply
        self.setup: dict[str, Any] | None = None
        self.rows: list[dict[str, Any]] = []
        self.finished = False  # the process exited 0 and every row is in
        self.error = ""
        self.pid: int | None = None
        self._process: subprocess.Popen[str] | None = None
        self._generation = 0
        self._lock = threading.Lock()  # the process handle: set in the worker, killed here
        self._started_at = self._ended_at = 0.0

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="loader-bench"):
            yield Label(f"Loader benchmark: {self.title_text}", classes="dialog-title")
            yield Static("", id="lb-setup")
            yield Static("", id="lb-status")
            yield DataTable(id="lb-table", cursor_type="none", show_cursor=False)
            yield Static("", id="lb-advice")
            yield Static("", id="lb-error", classes="error-text")
            yield Static(self._keys(), id="lb-keys")

    def on_mount(self) -> None:
        table = self.query_one("#lb-table", DataTable)
        table.add_column("path", key="path")
        for label in ("workers", "seconds", "images", "images/s"):
            table.add_column(Text(label, justify="right"), key=label)
        table.add_column("", key="bar")
        self.set_interval(0.5, self._show_status)
        self.start()

    # ------------------------------------------------------------ the process

    def command(self) -> list[str]:
        """The engine's bench process the screen runs (it prints JSON lines)."""
        store = cast(Console, self.app).store
        return api.loader_bench_command(store, self.target, self.worker_counts, tuple(self.sets))

    @property
    def running(self) -> bool:
        process = self._process
        return process is not None and process.poll() is None

    def start(self) -> None:
        """Start (or restart) the bench: a fresh table, a new process."""
        self.kill()
        self.setup, self.rows, self.finished, self.error, self.pid = None, [], False, "", None
        self._started_at, self._ended_at = time.monotonic(), 0.0
        self._show_rows()
        self._show_status()
        self._show("#lb-advice", "")
        self._show("#lb-error", "")
        self.refresh_bindings()
        generation, command = self._generation, self.command()
        self.run_worker(
            lambda: self._bench(generation, command),
            thread=True,
            group="loader-bench",
            name=f"bench loader {self.target}",
            exit_on_error=False,
        )

    def _bench(self, generation: int, command: list[str]) -> None:
        """(worker thread) Run the CLI, post each JSON line it prints, then how it ended."""
        with tempfile.TemporaryFile() as stderr:
            with self._lock:
                if generation != self._generation:
                    return  # closed or restarted before the process started
                try:
                    process = subprocess.Popen(
                        command,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE,
                        stderr=stderr,
                        text=True,
                        bufsize=1,
                        start_new_session=True,  # its own group: kill() ends its workers too
                    )
                except OSError as exc:
                    self.post_message(
                        self.Ended(generation, None, f"error: cannot start the benchmark: {exc}")
                    )
                    return
                self._process = process
            self.post_message(self.Started(generation, process.pid))
            assert process.stdout is not None
            for raw in process.stdout:
                try:
                    data = json.loads(raw)
                except ValueError:
                    continue  # not one of the bench's lines (a library's print)
                if isinstance(data, dict):
                    self.post_message(self.Line(generation, data))
            code = process.wait()
            stderr.seek(0)
            text = stderr.read().decode("utf-8", errors="replace")
        self.post_message(self.Ended(generation, code, text))

    def kill(self) -> None:
        """End the running bench and its DataLoader workers (its whole process group)."""
        with self._lock:
            # a worker that has not started its process yet gives up; the lines and the end
            # of the killed one are ignored
            self._generation += 1
            process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGKILL)  # nothing to save: a timing, not a run
        except ProcessLookupError:
            pass
        except PermissionError:
            process.kill()

    def on_unmount(self) -> None:
        self.kill()
        if self.remove_target:
            try:
                os.unlink(self.target)
            except OSError:
                pass

    # ------------------------------------------------------------ messages from the worker

    def on_loader_bench_screen_started(self, message: Started) -> None:
        if message.generation == self._generation:
            self.pid = message.pid
            self._show_status()

    def on_loader_bench_screen_line(self, message: Line) -> None:
        if message.generation != self._generation:
            return
        data = message.data
        if isinstance(data.get("setup"), dict):
            self.setup = data["setup"]
            self._show_setup()
        elif "path" in data and "images_per_s" in data:
            self.rows.append(data)
            self._show_rows()
        self._show_status()

    def on_loader_bench_screen_ended(self, message: Ended) -> None:
        if message.generation != self._generation:
            return
        code = message.code
        self._ended_at = time.monotonic()
        with self._lock:
            self._process = None
        if code == 0:
            self.finished = True
            self._show_rows()
            applies = f"\na sets num_workers={self.fastest_workers()} in the form"
            self._show(
                "#lb-advice", advice(self.setup or {}, self.rows) + applies * self._can_apply()
            )
        elif code is None or code > 0:
            self.error = error_message(code or 1, message.stderr)
            self._show("#lb-error", self.error)
        else:
            self.error = f"stopped (signal {-code})"
        self._show_status()
        self.refresh_bindings()

    # ------------------------------------------------------------ drawing

    def _show(self, selector: str, text: str) -> None:
        """Set a message line; an empty one takes no room."""
        widget = self.query_one(selector, Static)
        widget.update(Text(text))
        widget.display = bool(text)

    def _show_setup(self) -> None:
        s = self.setup or {}
        where = "held in memory" if s.get("in_memory") else "read from image files"
        self.query_one("#lb-setup", Static).update(
            Text(
                f"{s.get('dataset', '?')} ({where}) on {s.get('device', '?')}, "
                f"batch {s.get('batch_size', '?')}, {s.get('train_images', 0):,} train images"
            )
        )

    def _status(self) -> str:
        elapsed = (self._ended_at or time.monotonic()) - self._started_at
        if self.error:
            return "failed" if not self.error.startswith("stopped") else self.error
        if self.finished:
            return f"done in {elapsed:.1f} s: one epoch per row"
        if self.setup is None:
            return f"starting the benchmark (loading torch and the data) … {elapsed:.0f} s"
        planned = self.setup.get("rows") or []
        index = len(self.rows)
        if index >= len(planned):
            return f"finishing … {elapsed:.0f} s"
        row = planned[index]
        what = (
            "the on-device path"
            if row.get("path") == ON_DEVICE
            else f"{row.get('path')} num_workers={row.get('workers')}"
        )
        return f"timing {what} … {index + 1} of {len(planned)}  ({elapsed:.0f} s)"

    def _show_status(self) -> None:
        if self.is_mounted:
            self.query_one("#lb-status", Static).update(Text(self._status()))

    def _show_rows(self) -> None:
        table = self.query_one("#lb-table", DataTable)
        table.clear()
        timed = [float(r["images_per_s"]) for r in self.rows if r.get("path") != ON_DEVICE]
        scale = max(timed, default=max((float(r["images_per_s"]) for r in self.rows), default=0))
        best = fastest_row(self.rows) if self.finished else None
        for row in self.rows:
            style = "bold green" if row is best else ""
            workers = row.get("workers")
            table.add_row(
                Text(row.get("path", "?") + (" ◀" if row is best else ""), style=style),
                Text("-" if workers is None else str(workers), style=style, justify="right"),
                Text(f"{float(row['seconds']):.3f}", style=style, justify="right"),
                Text(f"{int(row.get('images', 0)):,}", style=style, justify="right"),
                Text(f"{float(row['images_per_s']):,.0f}", style=style, justify="right"),
                bar(float(row["images_per_s"]), scale),
            )

    # ------------------------------------------------------------ keys

    def fastest_workers(self) -> int | None:
        best = fastest_row(self.rows) if self.finished else None
        return None if best is None else int(best["workers"])

    def _can_apply(self) -> bool:
        return self.on_apply is not None and self.fastest_workers() is not None

    def _keys(self) -> Text:
        """The keys, inside the dialog (a modal over a view: the view's footer stays below)."""
        keys = [("esc", "close"), ("r", "run again")]
        if self.on_apply is not None:
            keys.append(("a", "apply the fastest num_workers"))
        text = Text()
        for key, what in keys:
            text.append(key, style="bold").append(f" {what}   ")
        return text

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "apply":
            if self.on_apply is None:
                return False  # nothing to apply to: hide the key
            return True if self.fastest_workers() is not None else None
        return True

    def action_close(self) -> None:
        self.kill()
        self.dismiss(None)

    def action_rerun(self) -> None:
        self.start()

    def action_apply(self) -> None:
        workers = self.fastest_workers()
        if self.on_apply is None or workers is None:
            return
        self.on_apply(workers)
        self.dismiss(workers)


def open_loader_bench(
    app: App[Any],
    target: str,
    sets: list[str] | None = None,
    title: str = "",
    on_apply: Callable[[int], None] | None = None,
    workers: str = "",
) -> LoaderBenchScreen:
    """Push the loader benchmark for ``target`` (a preset name or a TOML file) and return it."""
    screen = LoaderBenchScreen(target, sets, title=title, workers=workers, on_apply=on_apply)
    app.push_screen(screen)
    return screen
