"""``resnet-tui data inspect ROOT``: what a run would make of an image folder, before one exists.

Classes and their counts per split, the image sizes and channels found, class imbalance, the
files that would be skipped and why, and the input the model would see with the path
(memory or streaming) the trainer would take. Reads headers only: no pixel is decoded.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch

from engine.config import DataConfig
from engine.data import images as img
from engine.data.folder import survey


def inspect_folder(cfg: DataConfig) -> dict[str, Any]:
    """The folder's report as plain data (the CLI prints it or dumps it as JSON). A folder
    that cannot be trained on raises the DataError a run would."""
    found = survey(cfg)
    per_class: dict[str, dict[str, int]] = {name: {} for name in found.classes}
    for split, scan in found.scans.items():
        counts = Counter(scan.labels)
        for label, name in enumerate(found.classes):
            per_class[name][split] = counts.get(label, 0)
    train = [per_class[name].get("train", 0) for name in found.classes]
    sizes = Counter(size for scan in found.scans.values() for size in scan.sizes)
    gray = sum(g for scan in found.scans.values() for g in scan.gray)
    total = sum(len(scan) for scan in found.scans.values())
    memory, why = found.in_memory(cfg, torch.device("cpu"))
    problems = img.skipped_lines(found.skipped)
    imbalance = max(train) / max(1, min(train))
    if imbalance >= 3:
        problems.append(
            f"class imbalance: the largest train class has {imbalance:.1f}x the images of the "
            "smallest"
        )
    missing = [split for split in ("val", "test") if split not in found.scans]
    return {
        "root": found.root,
        "classes": [{"name": name, **per_class[name]} for name in found.classes],
        "images": {split: len(scan) for split, scan in found.scans.items()},
        "carved": {
            split: getattr(cfg, f"{split}_fraction") for split in missing
        },  # fractions of train
        "sizes": [{"width": w, "height": h, "images": n} for (w, h), n in sizes.most_common()],
        "grayscale_images": gray,
        "colour_images": total - gray,
        "imbalance": round(imbalance, 2),
        "skipped": [{"file": s.path, "why": s.why} for s in found.skipped],
        "input": {
            "channels": found.shape.channels,
            "size": found.shape.side,
            "why": found.shape.why,
        },
        "path": "memory" if memory else "streaming",
        "path_why": why,
        "decoded_mb": round(found.decoded_bytes() / 2**20, 2),
        "problems": problems,
    }
