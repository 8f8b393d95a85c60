"""The console's speed targets, measured on the real program in a pseudo-terminal (80x24).

    .venv/bin/python -m bench --only tui        (or: .venv/bin/python bench/bench_tui.py)

``measure_tui()`` returns rows (measure, value, target, how) for ``bench/__main__.py``:

- first paint of ``resnet-tui`` on an empty store: from exec until the Welcome text is written
  to the terminal (median of 5);
- the Runs view opening over 1,000 runs of 200 epochs each: from exec until "1000 runs" is
  written (median of 5);
- key-to-repaint latency on that view (down arrow, space): from writing the key until the end
  of the frame it causes (output quiet for 60 ms; median and p90 of 20 each);
- the same two over 10,000 runs (of 20 epochs: the view reads no metrics file, and the store
  stays under 300 MB): exec until the table's first rows (the newest 200, "of 10000 runs;
  reading"), and until every run is read ("showing 1000 of 10000 runs");
- CPU (% of one core) and memory (peak RSS) of the console while it watches one live digits
  run for 30 s (the Monitor view, as a user would leave it open).

Each console is a child process on a pty whose output is read as a terminal would: nothing is
mocked, and the console pays its own imports. The machine is shared, so figures move; the
whole run takes about three minutes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROWS, COLUMNS = 24, 80
STARTS = 5  # first paint and Runs view: median of this many starts
KEY_PRESSES = 20  # per key
WATCH_S = 30.0  # CPU while watching a live run
WARM_S = 8.0  # before the CPU window: the console starts and the trainer reaches epoch 1

Row = tuple[str, str, str, str]


def console_command(runs: Path) -> list[str]:
    """``resnet-tui --runs-dir RUNS`` as the user runs it (the venv's script when there is one)."""
    script = Path(sys.executable).parent / "resnet-tui"
    head = [str(script)] if script.exists() else [sys.executable, "-m", "resnet_tui"]
    return [*head, "--runs-dir", str(runs)]


class Console:
    """One console on a pty of ROWS x COLUMNS; ``read`` drains what it writes."""

    def __init__(self, runs: Path, cwd: Path) -> None:
        command = console_command(runs)
        self.start = time.perf_counter()
        pid, fd = pty.fork()
        if pid == 0:  # the child: size the terminal before the console asks for it
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
                os.chdir(cwd)
                env = dict(os.environ, TERM="xterm-256color")
                os.execve(command[0], command, env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.output = b""

    def read(self, timeout: float) -> float | None:
        """Read what is there within ``timeout`` s; the time of the read, None when quiet."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return None
        try:
            chunk = os.read(self.fd, 1 << 20)
        except OSError:
            return None
        self.output += chunk
        return time.perf_counter()

    def wait_for(self, text: bytes, limit: float = 30.0) -> float:
        """Seconds from exec until ``text`` was written (NaN when it never was)."""
        while time.perf_counter() - self.start < limit:
            self.read(0.2)
            if text in self.output:
                return time.perf_counter() - self.start
        return float("nan")

    def settle(self, quiet: float, limit: float) -> tuple[float | None, float | None]:
        """Read until no output for ``quiet`` s: (time of the first byte, of the last)."""
        first = last = None
        begin = time.perf_counter()
        while time.perf_counter() - begin < limit:
            at = self.read(quiet)
            if at is None:
                if first is not None or quiet >= 1:
                    break
                continue
            first = first or at
            last = at
        return first, last

    def keep_reading(self, seconds: float) -> None:
        """Drain the terminal for ``seconds`` (a console whose output is not read blocks)."""
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            self.read(min(0.2, max(0.0, end - time.perf_counter())))

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        os.close(self.fd)


@contextlib.contextmanager
def console(runs: Path, cwd: Path) -> Iterator[Console]:
    c = Console(runs, cwd)
    try:
        yield c
    finally:
        c.close()


def time_to_text(runs: Path, cwd: Path, text: bytes, starts: int) -> list[float]:
    times = []
    for _ in range(starts):
        time.sleep(0.5)  # let the previous console's exit settle
        with console(runs, cwd) as c:
            times.append(c.wait_for(text))
    return times


def key_latency(
    runs: Path, cwd: Path, keys: dict[str, bytes], presses: int, ready: bytes = b"1000 runs"
) -> dict[str, list[float]]:
    """Per key: seconds from writing it until the frame it causes is written (once the
    console has written ``ready``)."""
    out: dict[str, list[float]] = {}
    with console(runs, cwd) as c:
        c.wait_for(ready)
        c.settle(1.5, 15)  # the rows added after the first paint, the first poll
        for name, key in keys.items():
            times = []
            for _ in range(presses):
                sent = time.perf_counter()
                os.write(c.fd, key)
                _, last = c.settle(0.06, 5)
                if last is not None:
                    times.append(last - sent)
                c.keep_reading(0.25)
            out[name] = times
    return out


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def proc_memory_mb(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def watch_live_run(root: Path) -> dict[str, float]:
    """CPU % of one core and memory of a console watching one digits run train."""
    runs = root / "live"
    train = [*console_command(runs), "train", "digits-quick"]
    train += ["--set", "train.epochs=40", "--set", "train.threads=1", "--set", "train.log_every=10"]
    subprocess.run(
        [*train, "--detach", "--name", "watched"],
        cwd=root,
        check=True,
        stdout=subprocess.DEVNULL,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    from engine.store import RunStore

    trainer = RunStore(runs).list_runs()[0].get("pid")
    try:
        with console(runs, root) as c:
            c.keep_reading(WARM_S)
            if b"watched" not in c.output:
                raise RuntimeError("the console did not show the live run")
            cpu0, wall0 = proc_cpu_seconds(c.pid), time.perf_counter()
            c.keep_reading(WATCH_S)
            cpu1, wall1 = proc_cpu_seconds(c.pid), time.perf_counter()
            memory = proc_memory_mb(c.pid)
            status = RunStore(runs).list_runs()[0]
    finally:
        stop_trainer(trainer)
    return {
        "cpu_pct": 100 * (cpu1 - cpu0) / (wall1 - wall0),
        "seconds": wall1 - wall0,
        "rss_mb": memory.get("VmRSS", float("nan")),
        "peak_mb": memory.get("VmHWM", float("nan")),
        "epoch": float(status.get("epoch") or 0),
        "running": float(status.get("status") == "running"),
    }


def stop_trainer(pid: object) -> None:
    """SIGTERM: the trainer finishes its step, saves a checkpoint and exits."""
    if not isinstance(pid, int):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _median_ms(values: list[float]) -> float:
    return 1000 * statistics.median(values) if values else float("nan")


def _p90_ms(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


KEYS = {"down": b"\x1b[B", "space": b" "}


def _latency_rows(latency: dict[str, list[float]], where: str) -> list[Row]:
    return [
        (
            f"TUI key repaint, {name}, {where} (ms)",
            f"{_median_ms(times):.1f}",
            "< 50",
            f"key to end of frame, median; p90 {_p90_ms(times):.1f} ms, n={len(times)}",
        )
        for name, times in latency.items()
    ]


def measure_tui() -> list[Row]:
    """The console's rows for the bench table (see the module docstring)."""
    sys.path[:0] = [str(REPO), str(REPO / "tests")]
    from tui_fixtures import build_big_store

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-tui-") as tmp:
        root = Path(tmp)
        paint = time_to_text(root / "empty", root, b"Welcome", STARTS)
        rows.append(
            (
                "TUI first paint, empty store (s)",
                f"{statistics.median(paint):.3f}",
                "< 1.0",
                f"exec to Welcome on a pty, median of {STARTS} ({min(paint):.2f}-{max(paint):.2f})",
            )
        )
        build_big_store(root / "big", runs=1000, epochs=200)
        opened = time_to_text(root / "big", root, b"1000 runs", STARTS)
        rows.append(
            (
                "TUI Runs view, 1,000 runs x 200 epochs (s)",
                f"{statistics.median(opened):.3f}",
                "< 1",
                f"exec to the filled table, median of {STARTS} "
                f"({min(opened):.2f}-{max(opened):.2f})",
            )
        )
        latency = key_latency(root / "big", root, KEYS, KEY_PRESSES)
        rows += _latency_rows(latency, "1,000 runs")
        shutil.rmtree(root / "big")
        build_big_store(root / "huge", runs=10_000, epochs=20)
        first = time_to_text(root / "huge", root, b"of 10000 runs; reading", STARTS)
        rows.append(
            (
                "TUI Runs view, 10,000 runs x 20 epochs (s)",
                f"{statistics.median(first):.3f}",
                "< 1",
                f"exec to the table's first rows (its newest 200 of 10000), median of {STARTS} "
                f"({min(first):.2f}-{max(first):.2f})",
            )
        )
        ready = b"showing 1000 of 10000 runs"
        opened = time_to_text(root / "huge", root, ready, STARTS)
        rows.append(
            (
                "TUI Runs view, 10,000 runs: every run read (s)",
                f"{statistics.median(opened):.3f}",
                "",
                f"exec to the whole list (showing 1000 of 10000), median of {STARTS} "
                f"({min(opened):.2f}-{max(opened):.2f})",
            )
        )
        latency = key_latency(root / "huge", root, KEYS, KEY_PRESSES, ready)
        rows += _latency_rows(latency, "10,000 runs")
        shutil.rmtree(root / "huge")
        live = watch_live_run(root)
        rows.append(
            (
                "TUI CPU watching a live run (% of a core)",
                f"{live['cpu_pct']:.2f}",
                "< 5",
                f"Monitor over {live['seconds']:.0f} s of a digits run (epoch "
                f"{live['epoch']:.0f} at the end)",
            )
        )
        rows.append(
            (
                "TUI memory (MB)",
                f"{live['peak_mb']:.0f}",
                "< 300",
                f"peak RSS (VmHWM) of that console; RSS {live['rss_mb']:.0f} MB at the end",
            )
        )
    return rows


if __name__ == "__main__":
    for measure, value, target, how in measure_tui():
        print(f"{measure:<44} {value:>8}  {target:<6} {how}")
