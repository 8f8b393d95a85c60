"""The sampler of the machine's load while a run trains: a thread that every ``train.sample_s``
seconds reads the trainer process's CPU and memory (psutil) and the GPUs the run uses (NVML,
through ``pynvml`` of nvidia-ml-py), and hands one ``sys`` line (``engine.sysload.SysLine``) to
a writer (the runner appends it to metrics.jsonl).

Without NVML (no GPU, no driver, a CPU run) the lines hold the CPU figures only: nothing is
raised and at most one line is logged. A figure a GPU does not report (power on some boards)
is left out of its sample. A failing writer (a full disk) ends the sampling, never the run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import psutil

from engine.sysload import SAMPLE_KIND, GpuSample, SysLine

MB = 2**20


class GpuReader(Protocol):
    """The NVML calls the sampler makes, by GPU handle: the hardware boundary (tests pass
    their own). Each method may raise when the GPU does not report that figure."""

    def open(self, gpus: Sequence[int | str]) -> list[tuple[int, Any]]: ...
    def utilization(self, handle: Any) -> float: ...  # percent
    def memory(self, handle: Any) -> tuple[float, float]: ...  # bytes used, total
    def power_mw(self, handle: Any) -> float: ...
    def temperature(self, handle: Any) -> float: ...  # °C
    def close(self) -> None: ...


class Nvml:
    """``GpuReader`` over pynvml. ``open`` raises when there is no NVML (no library, no driver,
    no such GPU); the sampler then samples the CPU side only."""

    def __init__(self) -> None:
        import pynvml

        self.nv = pynvml
        self._open = False

    def open(self, gpus: Sequence[int | str]) -> list[tuple[int, Any]]:
        self.nv.nvmlInit()
        self._open = True
        out = []
        for gpu in gpus:
            if isinstance(gpu, str):  # a UUID: what CUDA's numbering maps to, whatever it is
                handle = self.nv.nvmlDeviceGetHandleByUUID(gpu)
            else:
                handle = self.nv.nvmlDeviceGetHandleByIndex(gpu)
            out.append((int(self.nv.nvmlDeviceGetIndex(handle)), handle))
        return out

    def utilization(self, handle: Any) -> float:
        return float(self.nv.nvmlDeviceGetUtilizationRates(handle).gpu)

    def memory(self, handle: Any) -> tuple[float, float]:
        info = self.nv.nvmlDeviceGetMemoryInfo(handle)
        return float(info.used), float(info.total)

    def power_mw(self, handle: Any) -> float:
        return float(self.nv.nvmlDeviceGetPowerUsage(handle))

    def temperature(self, handle: Any) -> float:
        return float(self.nv.nvmlDeviceGetTemperature(handle, self.nv.NVML_TEMPERATURE_GPU))

    def close(self) -> None:
        if self._open:
            self._open = False
            try:
                self.nv.nvmlShutdown()
            except Exception:
                pass


def _try(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except Exception:  # NVMLError_NotSupported and kin: the figure is left out
        return None


def gpu_sample(reader: GpuReader, index: int, handle: Any) -> GpuSample:
    """One GPU's figures in the units of a ``sys`` line (MB, W, °C, percent)."""
    out = GpuSample(index=index)
    util = _try(lambda: reader.utilization(handle))
    if util is not None:
        out["util_pct"] = round(float(util), 1)
    memory = _try(lambda: reader.memory(handle))
    if memory is not None:
        out["mem_used_mb"] = round(memory[0] / MB, 1)
        out["mem_total_mb"] = round(memory[1] / MB, 1)
    power = _try(lambda: reader.power_mw(handle))
    if power is not None:
        out["power_w"] = round(power / 1000, 1)
    temp = _try(lambda: reader.temperature(handle))
    if temp is not None:
        out["temp_c"] = float(temp)
    return out


class Sampler:
    """Samples every ``interval`` seconds in a daemon thread until ``stop()``.

    ``gpus``: the GPUs the run uses (NVML indices, or UUIDs ``GPU-...``); empty on a CPU
    run (NVML is not even opened). ``elapsed``: the run's training seconds, stamped on each
    line. ``write`` gets each line; ``log`` a line at most once when something is off."""

    def __init__(
        self,
        write: Callable[[SysLine], None],
        interval: float,
        *,
        gpus: Sequence[int | str] = (),
        elapsed: Callable[[], float] = lambda: 0.0,
        reader: GpuReader | None = None,
        log: Callable[[str], None] = lambda _line: None,
    ) -> None:
        self.write, self.interval, self.gpus = write, interval, list(gpus)
        self.elapsed, self.log = elapsed, log
        self.reader = reader
        self._handles: list[tuple[int, Any]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one sample at a time (the thread's, stop's last one)
        self._last = 0.0
        self._failed = False
        self.written = 0
        self.process = psutil.Process()
        self._children: dict[int, psutil.Process] = {}

    # ------------------------------------------------------------ life

    def start(self) -> Sampler:
        self._cpu_start()
        self._last = time.monotonic()
        if self.interval > 0:
            self._thread = threading.Thread(target=self._loop, name="sysmon", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Tell the thread to end and wait for it: it takes a last sample when the previous one
        is a second old or more (a short run still has one) and closes the GPU reader. Only
        signals and joins: the reader is the thread's alone, so a thread that outlives the
        join's timeout (a hung NVML call) never has it closed under it. Never raises."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=self.interval + 5)

    def __enter__(self) -> Sampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _loop(self) -> None:
        """The thread: it opens the GPU reader, samples, takes the last sample and closes the
        reader, all itself."""
        try:
            self._open_gpus()
            while not self._stop.wait(self.interval):
                self._emit()
            if time.monotonic() - self._last >= min(1.0, self.interval):
                self._emit()
        finally:
            if self.gpus and self.reader is not None:
                _try(self.reader.close)

    def _open_gpus(self) -> None:
        if not self.gpus:
            return
        try:
            if self.reader is None:
                self.reader = Nvml()
            self._handles = self.reader.open(self.gpus)
        except Exception as exc:  # no pynvml, no library, no driver: the CPU figures only
            self._handles = []
            name = type(exc).__name__
            self.log(f"system: no GPU figures ({name}: {str(exc)[:120]}); sampling the CPU only")

    def _emit(self) -> None:
        with self._lock:
            if self._failed:
                return
            try:
                line = self.sample()
                self._last = time.monotonic()
                self.write(line)
                self.written += 1
            except Exception as exc:  # a full disk, a deleted folder: stop sampling, not the run
                self._failed = True
                self._stop.set()
                self.log(f"system: sampling stopped ({type(exc).__name__}: {str(exc)[:200]})")

    # ------------------------------------------------------------ one sample

    def _cpu_start(self) -> None:
        _try(lambda: self.process.cpu_percent(None))  # the first call only sets the baseline

    def _workers_cpu(self) -> tuple[float, int]:
        """The CPU % of the trainer's children (data-loader workers) since the last sample."""
        try:
            children = self.process.children(recursive=True)
        except psutil.Error:
            return 0.0, 0
        total, seen = 0.0, {}
        for child in children:
            known = self._children.get(child.pid)
            try:
                value = (known or child).cpu_percent(None)
            except psutil.Error:  # it ended since
                continue
            seen[child.pid] = known or child
            if known is not None:  # a new one's first reading is only a baseline
                total += value
        self._children = seen
        return total, len(seen)

    def sample(self) -> SysLine:
        line = SysLine(kind=SAMPLE_KIND, elapsed_s=round(self.elapsed(), 3))
        cpu = _try(lambda: self.process.cpu_percent(None))
        if cpu is not None:
            workers, count = self._workers_cpu()
            line["cpu_pct"] = round(cpu + workers, 1)
            line["workers"] = count
        rss = _try(lambda: self.process.memory_info().rss)
        if rss is not None:
            line["rss_mb"] = round(rss / MB, 1)
        memory = _try(psutil.virtual_memory)
        if memory is not None:
            line["host_used_mb"] = round((memory.total - memory.available) / MB, 1)
            line["host_total_mb"] = round(memory.total / MB, 1)
        if self._handles and self.reader is not None:
            reader = self.reader
            gpus = [gpu_sample(reader, index, handle) for index, handle in self._handles]
            line["gpus"] = gpus
            utils = [g["util_pct"] for g in gpus if "util_pct" in g]
            if utils:
                line["gpu_util_pct"] = round(sum(utils) / len(utils), 1)
            used = [g["mem_used_mb"] for g in gpus if "mem_used_mb" in g]
            if used:
                line["gpu_mem_mb"] = max(used)
        return line
