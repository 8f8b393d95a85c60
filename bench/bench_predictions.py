"""What keeping the test predictions costs: the end-of-run test pass of a digits run with and
without collecting every sample's prediction and writing predictions.npz (target: under 1%).

    .venv/bin/python bench/bench_predictions.py [--repeats 15] [--preset digits-quick]
    .venv/bin/python -m bench --only predictions

In one process, on one trainer: the plain test pass (``engine.evaluation.evaluate``) and the
pass that keeps the predictions, then computes the ECE (as ``finish`` does) and writes the
file (as the runner does), alternated so that both see the same machine load. On a shared
machine a whole pass moves by more than the cost itself, so the cost is also timed alone:
the collector's work on logits of the pass's shape, and the ECE and the write; the ratio is
their fastest over the fastest plain pass (the medians of the whole passes are reported too).
Nothing here asserts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

Row = tuple[str, str, str, str]

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def measure_predictions(
    repeats: int = 15, preset: str = "digits-quick", sets: list[str] | None = None
) -> dict[str, float]:
    """Median seconds of the plain test pass, of the pass that keeps the predictions, and of
    computing the ECE and writing the file; the extra over the plain pass; the file's size."""
    import torch

    from engine import evaluation
    from engine.calibration import calibrate
    from engine.predictions import Collector
    from engine.predictions_file import PREDICTIONS_FILE, write_predictions
    from engine.presets import resolve
    from engine.trainer import Trainer

    config, _ = resolve(preset, sets or [])
    trainer = Trainer(config)
    test = trainer.bundle.test
    assert test is not None, f"{preset} has no test split"
    n, k, batch = len(test), len(trainer.classes), config.data.eval_batch_size
    # the collector's own work, on logits of the pass's shape and device, batch by batch
    logits = [torch.randn(min(batch, n - i), k, device=trainer.device) for i in range(0, n, batch)]
    labels = [torch.randint(0, k, (x.shape[0],), device=trainer.device) for x in logits]

    def collect_only() -> None:
        c = Collector(k)
        for x, y in zip(logits, labels, strict=True):
            c.add(x, y)
        c.finish(n, batch, trainer.classes, 1, None)

    plains, keeps, writes, collects = [], [], [], []
    with tempfile.TemporaryDirectory() as root:
        path = Path(root) / PREDICTIONS_FILE
        for i in range(repeats + 1):  # alternated; the first round warms up
            start = time.perf_counter()
            evaluation.evaluate(trainer, test)
            plain = time.perf_counter() - start
            start = time.perf_counter()
            p = evaluation.evaluate(trainer, test, keep=True)["predictions"]
            kept = time.perf_counter() - start
            start = time.perf_counter()
            calibrate(p.confidence, p.correct)
            write_predictions(path, p)  # atomically, as the runner does
            write = time.perf_counter() - start
            start = time.perf_counter()
            collect_only()
            collected = time.perf_counter() - start
            if i:
                plains.append(plain)
                keeps.append(kept)
                writes.append(write)
                collects.append(collected)
        size = path.stat().st_size
    # the fastest of each: on a shared machine a whole pass moves by more than the cost itself,
    # so the cost is timed on its own (collecting; the ECE and the write) against the pass
    base, collect, write = min(plains), min(collects), min(writes)
    return {
        "test_images": float(n),
        "plain_s": base,
        "collect_s": collect,
        "write_s": write,
        "extra": (collect + write) / base,
        "median_extra": statistics.median(keeps) / statistics.median(plains)
        - 1
        + statistics.median(writes) / statistics.median(plains),
        "file_bytes": float(size),
        "threads": float(torch.get_num_threads()),
    }


def describe(name: str, m: dict[str, float]) -> str:
    return (
        f"{name}: test pass of {m['test_images']:,.0f} images {m['plain_s'] * 1000:.1f} ms; "
        f"keeping the predictions {m['collect_s'] * 1000:.2f} ms, ECE and writing "
        f"predictions.npz ({m['file_bytes'] / 1024:.0f} KiB) {m['write_s'] * 1000:.2f} ms: "
        f"{m['extra']:+.2%} (target < 1%; whole passes' medians {m['median_extra']:+.2%})"
    )


def measure_rows(repeats: int, quick: bool = False) -> tuple[dict[str, Any], list[Row]]:
    """The harness's rows (``python -m bench --only predictions``): digits-quick's test split
    (359 images) and a CIFAR-10-sized one (10,000 fixture images in CIFAR-10's format, the
    baseline CNN)."""
    sys.path.insert(0, str(REPO / "tests"))
    from fixtures import write_cifar10

    results: dict[str, Any] = {}
    rows: list[Row] = []
    digits = measure_predictions(max(repeats, 5 if quick else 15))
    results["digits-quick"] = digits
    with tempfile.TemporaryDirectory() as root:
        write_cifar10(root, n_train_per_batch=60, n_test=1000 if quick else 10_000)
        sets = [f"data.root={root}", "data.download=false"]
        cifar = measure_predictions(max(1, repeats), "cifar10-baseline-cnn", sets)
    results["cifar10-baseline-cnn"] = cifar
    for name, m in (("digits-quick", digits), ("cifar10-baseline-cnn", cifar)):
        how = (
            f"{m['plain_s'] * 1000:.0f} ms pass of {m['test_images']:,.0f}; collect "
            f"{m['collect_s'] * 1000:.2f} ms, ECE+write {m['write_s'] * 1000:.2f} ms "
            f"(whole passes' medians: {m['median_extra']:+.2%})"
        )
        rows.append((f"predictions kept / test pass: {name}", f"{m['extra']:.4f}", "< 0.01", how))
    return results, rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--preset", default="digits-quick")
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args()
    print(describe(args.preset, measure_predictions(args.repeats, args.preset, args.set)))


if __name__ == "__main__":
    main()
