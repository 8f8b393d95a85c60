"""The machine's load during a run, as read back from its metrics lines. Pure Python.

The trainer's sampler (``engine.sysmon``) appends a line of kind ``sys`` to metrics.jsonl every
``train.sample_s`` seconds: the trainer process's CPU (with its data-loader workers) and RSS,
the host's memory, and for each GPU the run uses its utilisation, memory, power and
temperature (NVML; absent without a driver). Those lines carry no ``epoch``, so a resume's
rewrite of the file keeps them (the machine did that work). This module turns them into a
summary, and the epoch lines' ``data_s``/``step_s`` (``engine.timing``) into the share of step
time spent waiting for data: above ``DATA_WAIT_LIMIT`` the loader is the bottleneck.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypedDict

SAMPLE_KIND = "sys"
DATA_WAIT_LIMIT = 0.30  # above this share of step time waiting for data, the loader is slow


class GpuSample(TypedDict, total=False):
    """One GPU in a ``sys`` line (a field NVML could not read is left out)."""

    index: int  # NVML's index of the GPU on this machine
    util_pct: float
    mem_used_mb: float
    mem_total_mb: float
    power_w: float
    temp_c: float


class SysLine(TypedDict, total=False):
    """One sample of the machine's load (``kind`` "sys")."""

    kind: str
    elapsed_s: float  # the run's training seconds when sampled (over every session)
    cpu_pct: float  # the trainer and its loader workers, % of one core (200: two cores)
    rss_mb: float  # the trainer process's resident memory
    host_used_mb: float
    host_total_mb: float
    workers: int  # the trainer's child processes (data-loader workers)
    gpus: list[GpuSample]
    gpu_util_pct: float  # the mean over ``gpus``
    gpu_mem_mb: float  # the most used memory of any of ``gpus``


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def series(samples: Sequence[Mapping[str, Any]], key: str) -> list[float]:
    """One figure over the samples that have it, in order (for a sparkline)."""
    return [v for s in samples if (v := _number(s.get(key))) is not None]


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _peak(values: Sequence[float]) -> float | None:
    return max(values) if values else None


def data_wait_share(line: Mapping[str, Any]) -> float | None:
    """The share of an epoch's training time (``seconds``: steps and their data waits) spent
    waiting for the next batch; None for a line without the split."""
    data, step = _number(line.get("data_s")), _number(line.get("step_s"))
    if data is None or step is None or data + step <= 0:
        return None
    return data / (data + step)


def steady_data_wait(epochs: Sequence[Mapping[str, Any]]) -> float | None:
    """The data-wait share over the run's epochs, the first left out when later ones exist
    (it pays for the loader's start, as ``engine.timing.time_split`` does)."""
    timed = [e for e in epochs if data_wait_share(e) is not None]
    if len(timed) > 1 and timed[0].get("epoch") == 1:
        timed = timed[1:]
    data = sum(_number(e.get("data_s")) or 0.0 for e in timed)
    step = sum(_number(e.get("step_s")) or 0.0 for e in timed)
    return data / (data + step) if data + step > 0 else None


def bottleneck_words(share: float | None, preset: str = "") -> str | None:
    """The one line the Monitor, the run detail and ``runs show`` print when the data loader
    holds the steps up (None when it does not)."""
    if share is None or share <= DATA_WAIT_LIMIT:
        return None
    target = preset or "PRESET"
    return (
        f"data-bound: {share:.0%} of step time waits for data (over {DATA_WAIT_LIMIT:.0%}); "
        f"time the loader with `resnet-tui bench loader {target}`, then set data.num_workers"
    )


@dataclass(frozen=True)
class SystemSummary:
    """A run's load over its samples; the GPU figures are None without NVML (no GPU, no
    driver), never 0."""

    samples: int
    mean_cpu_pct: float | None
    peak_cpu_pct: float | None
    peak_rss_mb: float | None
    peak_host_used_mb: float | None
    host_total_mb: float | None
    gpus: int | None  # how many GPUs were sampled
    mean_gpu_util_pct: float | None
    peak_gpu_mem_mb: float | None
    gpu_mem_total_mb: float | None
    peak_power_w: float | None
    peak_temp_c: float | None
    data_wait_share: float | None  # steady epochs (engine.timing's split)
    data_bound: bool

    @classmethod
    def of(
        cls, samples: Sequence[Mapping[str, Any]], epochs: Sequence[Mapping[str, Any]] = ()
    ) -> SystemSummary:
        gpus = [g for s in samples for g in _gpus(s)]
        share = steady_data_wait(epochs)
        return cls(
            samples=len(samples),
            mean_cpu_pct=_mean(series(samples, "cpu_pct")),
            peak_cpu_pct=_peak(series(samples, "cpu_pct")),
            peak_rss_mb=_peak(series(samples, "rss_mb")),
            peak_host_used_mb=_peak(series(samples, "host_used_mb")),
            host_total_mb=_peak(series(samples, "host_total_mb")),
            gpus=max((len(_gpus(s)) for s in samples), default=0) or None,
            mean_gpu_util_pct=_mean(series(gpus, "util_pct")),
            peak_gpu_mem_mb=_peak(series(gpus, "mem_used_mb")),
            gpu_mem_total_mb=_peak(series(gpus, "mem_total_mb")),
            peak_power_w=_peak(series(gpus, "power_w")),
            peak_temp_c=_peak(series(gpus, "temp_c")),
            data_wait_share=share,
            data_bound=share is not None and share > DATA_WAIT_LIMIT,
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self, config: Mapping[str, Any] | None = None) -> list[str]:
        """Lines under 80 columns: the CPU side, the GPU side (or why there is none), the
        data wait. ``config``: the run's (``{section: {key: value}}``), to say why a run has
        no samples."""
        if not self.samples:
            train = (config or {}).get("train")
            if isinstance(train, Mapping) and train.get("sample_s") == 0:
                return ["system: no samples (sampling was off: train.sample_s = 0)"]
            return ["system: no samples (a run trained before the load was sampled)"]
        plural = "s" if self.samples != 1 else ""
        lines = [
            f"system: {self.samples} sample{plural} · CPU mean {_pct(self.mean_cpu_pct)} peak "
            f"{_pct(self.peak_cpu_pct)} · RSS peak {_mb(self.peak_rss_mb)}",
            f"  host memory peak {_mb(self.peak_host_used_mb)} of {_mb(self.host_total_mb)}",
        ]
        if self.gpus is None:
            lines.append("  GPU: none sampled (no GPU or no NVML driver)")
        else:
            lines.append(
                f"  GPU ×{self.gpus}: util mean {_pct(self.mean_gpu_util_pct)} · memory peak "
                f"{_mb(self.peak_gpu_mem_mb)} of {_mb(self.gpu_mem_total_mb)}"
            )
            lines.append(
                f"  power peak {_unit(self.peak_power_w, 'W')} · temperature peak "
                f"{_unit(self.peak_temp_c, '°C')}"
            )
        if self.data_wait_share is not None:
            lines.append(f"  waiting for data: {self.data_wait_share:.1%} of step time")
        return lines


def _gpus(sample: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    gpus = sample.get("gpus")
    return [g for g in gpus if isinstance(g, Mapping)] if isinstance(gpus, list) else []


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}%"


def _mb(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1024:.1f} GB" if value >= 1024 else f"{value:.0f} MB"


def _unit(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.0f} {unit}"
