"""What sampling the machine's load costs a digits epoch (``python -m bench --only sysmon``).

Two measures, in one process, on the same trainer:

- direct: the seconds one sample takes (psutil's reads, the JSON line appended and fsynced
  to a metrics file, as the runner writes it), times the samples an epoch holds at the
  default interval (``train.sample_s``) and at a deliberately short one, over the epoch;
- end to end: digits epochs without a sampler and with one at the short interval,
  interleaved in blocks (each going first every other block, so the machine's noise hits
  both alike), medians; their ratio bounds what the sampler's thread takes from the steps.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

SHORT_S = 0.05  # a deliberately short interval: 100x the default's samples


def measure(repeats: int = 3) -> dict[str, Any]:
    from engine.config import RunConfig
    from engine.presets import resolve
    from engine.store.metrics import append
    from engine.sysmon import Sampler
    from engine.trainer import Trainer

    default_s = RunConfig().train.sample_s
    trainer = Trainer(resolve("digits-quick")[0])
    trainer.train_one_epoch(0)  # warm-up
    with tempfile.TemporaryDirectory() as root:
        path = Path(root) / "metrics.jsonl"

        def write(line: Any) -> None:
            append(path, dict(line), "sysmon")

        probe = Sampler(write, 0).start()
        n = 200
        start = time.perf_counter()
        for _ in range(n):
            write(probe.sample())
        per_sample = (time.perf_counter() - start) / n
        start = time.perf_counter()
        for _ in range(n):
            probe.sample()
        read_only = (time.perf_counter() - start) / n

        bare: list[float] = []
        sampled: list[float] = []
        written = 0
        epoch = 1
        for block in range(2 * repeats):
            for with_sampler in (False, True) if block % 2 else (True, False):
                sampler = Sampler(write, SHORT_S) if with_sampler else None
                if sampler is not None:
                    sampler.start()
                began = time.perf_counter()
                trainer.train_one_epoch(epoch)
                seconds = time.perf_counter() - began
                epoch += 1
                if sampler is not None:
                    sampler.stop()
                    written += sampler.written
                    sampled.append(seconds)
                else:
                    bare.append(seconds)
    epoch_s = statistics.median(bare)
    return {
        "per_sample_s": per_sample,
        "read_s": read_only,  # the figures alone, without the line's append and fsync
        "epoch_s": epoch_s,
        "default_interval_s": default_s,
        "short_interval_s": SHORT_S,
        # the thread's own work over the epoch it samples
        "direct_default": per_sample / default_s,
        "direct_short": per_sample / SHORT_S,
        "sampled_epoch_s": statistics.median(sampled),
        "end_to_end_ratio": statistics.median(sampled) / epoch_s,
        "samples_written": written,
    }


def rows(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    r = result
    return [
        (
            f"sampler cost / digits epoch ({r['default_interval_s']:g} s)",
            f"{r['direct_default']:.5f}",
            "< 0.01",
            f"{r['per_sample_s'] * 1000:.2f} ms a sample ({r['read_s'] * 1000:.2f} ms reading, "
            f"the rest the fsynced append), every {r['default_interval_s']:g} s",
        ),
        (
            f"sampler cost / digits epoch ({r['short_interval_s']:g} s)",
            f"{r['direct_short']:.4f}",
            "(bound)",
            f"the same sample every {r['short_interval_s']:g} s",
        ),
        (
            f"digits epoch, sampled every {r['short_interval_s']:g} s / bare",
            f"{r['end_to_end_ratio']:.3f}",
            "(noisy bound)",
            f"{r['sampled_epoch_s']:.2f} vs {r['epoch_s']:.2f} s, medians, "
            f"{r['samples_written']} samples",
        ),
    ]
