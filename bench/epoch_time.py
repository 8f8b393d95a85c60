"""Wall time of one training epoch of a CIFAR preset on a fixture in CIFAR-10's real format.

    .venv/bin/python bench/epoch_time.py cifar10-resnet24-mixup [--images 2000] [--threads 0]

The fixture has CIFAR-10's shape (32x32x3, 10 classes) and on-disk format but ``--images``
training images, so the full 45,000-image epoch (50,000 minus the 10% validation split) is
extrapolated from the measured images/s. ``--epochs N`` (default 2) trains N epochs and
reports the last: the first carries the warm-up (cuDNN autotuning, compilation, allocator),
which on a GPU is most of a short epoch. Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import torch  # noqa: E402
from fixtures import write_cifar10  # noqa: E402

from engine.presets import resolve  # noqa: E402
from engine.trainer import Trainer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("preset")
    parser.add_argument("--images", type=int, default=2000, help="training images in the fixture")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=2, help="epochs to train; the last counts")
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        per_batch = max(1, args.images // 5)
        write_cifar10(tmp, n_train_per_batch=per_batch, n_test=200)
        config, _ = resolve(args.preset, [f"data.root={tmp}", "data.download=false", *args.set])
        start = time.perf_counter()
        trainer = Trainer(config)
        setup = time.perf_counter() - start
        first = trainer.train_one_epoch(0)
        metrics = first
        for epoch in range(1, max(1, args.epochs)):
            metrics = trainer.train_one_epoch(epoch)
    n = len(trainer.bundle.train)
    full = 45_000 / metrics["images_per_s"]
    print(f"{args.preset}: {trainer.params:,} params, {torch.get_num_threads()} threads")
    print(
        f"  set-up {setup:.1f} s; first epoch of {n} images {first['seconds']:.1f} s "
        f"= {first['images_per_s']:.1f} images/s (warm-up included)"
    )
    if metrics is not first:
        print(
            f"  epoch {args.epochs}: {metrics['seconds']:.1f} s = "
            f"{metrics['images_per_s']:.1f} images/s (steady state)"
        )
    print(f"  a full CIFAR-10 epoch (45,000 images) would take {full / 60:.1f} min")


if __name__ == "__main__":
    main()
