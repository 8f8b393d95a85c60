"""Your own images, Kaggle style: ``data.root/train/<class>/<images>``, optional ``val/`` and
``test/`` beside it with (a subset of) the same class folders; without them, val and test are
carved from train (stratified, ``data.split_seed``).

The images keep their own size and channels unless ``data.image_size`` says otherwise (a
grayscale folder trains with one channel). A folder whose decoded tensor fits the memory
budget is decoded once, in parallel, into a cache file (``engine.data.images``) and trains
from memory on the same batch path as the built-in datasets; a larger one streams through a
DataLoader whose workers decode with torchvision.io. Files that cannot be used are skipped,
counted and named in the run's log and record; a folder with nothing usable is refused.
"""

from __future__ import annotations

import csv
import dataclasses
import errno
import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from engine.config import DataConfig
from engine.data import images as img
from engine.data.raw import ArraySplits, FolderSplits
from engine.data.registry import DatasetInfo, register_dataset
from engine.errors import DataError

LAYOUT = "train/<class>/<image files>, with optional val/ and test/ holding the same class folders"
SPLITS = ("train", "val", "test")


def _class_folders(path: str) -> list[str]:
    return sorted(e.name for e in os.scandir(path) if e.is_dir() and not e.name.startswith("."))


def folder_layout(cfg: DataConfig) -> tuple[list[str], dict[str, str]]:
    """(train classes, {split: path}) after checking the layout; reads no image."""
    root = os.path.abspath(os.path.expanduser(cfg.root))
    if not os.path.isdir(root):
        raise DataError(
            f"data.root: image folder '{root}' does not exist. Expected {LAYOUT}. "
            "Point data.root at it (--set data.root=PATH)."
        )
    train = os.path.join(root, "train")
    if not os.path.isdir(train):
        tables = sorted(n for n in os.listdir(root) if n.lower().endswith(".csv"))
        hint = (
            f" It holds {tables[0]}: for a table of file,label rows use data.name=csv"
            + (f" and data.csv={tables[0]}" if tables[0] != "labels.csv" else "")
            + "."
            if tables
            else ""
        )
        folders = [n for n in _class_folders(root) if n not in SPLITS]
        held = (
            f"it holds {', '.join(f'{n}/' for n in folders[:3])}"
            + (f" and {len(folders) - 3} more" if len(folders) > 3 else "")
            + ": move them into train/; val/ and test/ are optional"
            if folders and not tables
            else "and optionally val/ and test/"
        )
        raise DataError(
            f"data.root: '{root}' has no train/ folder: put each class's images in "
            f"{os.path.join(root, 'train', 'CLASS')}{os.sep} ({held}), "
            f"see README 'Your own images'.{hint}"
        )
    classes = _class_folders(train)
    if not classes:
        raise DataError(
            f"data.root: '{train}' holds no class folders; put each class's images in "
            "train/<class name>/."
        )
    paths = {"train": train}
    for split in ("val", "test"):
        path = os.path.join(root, split)
        if not os.path.isdir(path):
            continue
        found = _class_folders(path)
        if not found:
            raise DataError(
                f"data.root: '{path}' has no class folders: {split} images need labels, so put "
                f"them in {split}/<class name>/ (or rename the folder so it is not read)."
            )
        extra = sorted(set(found) - set(classes))
        if extra:
            raise DataError(
                f"data.root: '{path}' has class folders that train/ lacks: {', '.join(extra)}. "
                f"Every {split}/ class must also be a train/ class."
            )
        paths[split] = path
    return classes, paths


CSV_LAYOUT = (
    "a CSV of file,label rows (a header row is fine; an optional third column split says "
    "train, val or test), the files relative to data.root"
)
_HEADERS = {"file", "filename", "path", "image", "id", "image_id", "fname"}


def csv_layout(
    cfg: DataConfig,
) -> tuple[str, list[str], dict[str, list[tuple[str, int]]], dict[str, list[img.Skipped]], Any]:
    """(root, classes, {split: [(path, label)]}, {split: skipped rows}, a stamp of the table)
    from ``data.csv``: classes are the train rows' labels, sorted; a val/test row whose label
    train lacks, or that names a missing file, is skipped and named."""
    root = os.path.abspath(os.path.expanduser(cfg.root))
    if not os.path.isdir(root):
        raise DataError(
            f"data.root: folder '{root}' does not exist. Expected {CSV_LAYOUT}. "
            "Point data.root at it (--set data.root=PATH)."
        )
    table = os.path.join(root, os.path.expanduser(cfg.csv))
    try:
        with open(table, newline="", encoding="utf-8-sig") as handle:
            rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
        stamp = os.stat(table).st_mtime_ns
    except FileNotFoundError:
        raise DataError(
            f"data.csv: '{table}' does not exist. Expected {CSV_LAYOUT}. "
            "Point data.csv at the table (--set data.csv=FILE)."
        ) from None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"data.csv: cannot read '{table}': {error}") from error
    if rows and rows[0] and rows[0][0].strip().lower() in _HEADERS:
        rows = rows[1:]
    named: dict[str, list[tuple[str, str, int]]] = {}
    skipped: dict[str, list[img.Skipped]] = {}
    for number, row in enumerate(rows, start=2):
        cells = [cell.strip() for cell in row]
        split = cells[2].lower() if len(cells) > 2 and cells[2] else "train"
        if len(cells) < 2 or not cells[0] or not cells[1]:
            skipped.setdefault("train", []).append(
                img.Skipped(f"{cfg.csv}:{number}", "a row without file and label")
            )
            continue
        if split not in SPLITS:
            skipped.setdefault("train", []).append(
                img.Skipped(f"{cfg.csv}:{number}", f"split {cells[2]!r}: train, val or test")
            )
            continue
        named.setdefault(split, []).append((cells[0], cells[1], number))
    classes = sorted({label for _, label, _ in named.get("train", [])})
    if not classes:
        raise DataError(f"data.csv: '{table}' has no train rows. Expected {CSV_LAYOUT}.")
    index = {name: i for i, name in enumerate(classes)}
    entries: dict[str, list[tuple[str, int]]] = {}
    for split, items in named.items():
        for file, label, number in items:
            path = os.path.join(root, file)
            where = f"{cfg.csv}:{number} {file}"
            if label not in index:
                skipped.setdefault(split, []).append(
                    img.Skipped(where, f"label {label!r} is not one of train's")
                )
            elif not os.path.isfile(path):
                skipped.setdefault(split, []).append(img.Skipped(where, "no such file"))
            else:
                entries.setdefault(split, []).append((path, index[label]))
    entries.setdefault("train", [])
    return root, classes, entries, skipped, stamp


@dataclass
class Survey:
    """A folder's files, checked and measured: what a run on it will train on."""

    root: str
    classes: list[str]
    scans: dict[str, img.Scan]  # by split
    shape: img.Shape

    @property
    def skipped(self) -> list[img.Skipped]:
        return [s for scan in self.scans.values() for s in scan.skipped]

    def decoded_bytes(self) -> int:
        side, channels = self.shape.side, self.shape.channels
        return sum(len(s) for s in self.scans.values()) * channels * side * side

    def in_memory(self, cfg: DataConfig, device: torch.device) -> tuple[bool, str]:
        """(decode once and train from memory?, why) for ``data.decode`` and the budget."""
        size = self.decoded_bytes()
        mb = f"{size / 2**20:,.1f} MB decoded"
        if cfg.decode == "once" or cfg.on_device == "yes":
            return (
                True,
                f"{mb}; data.decode=once" if cfg.decode == "once" else f"{mb}; data.on_device=yes",
            )
        if cfg.decode == "stream":
            return False, f"{mb}; data.decode=stream"
        budget = img.memory_budget(cfg.memory_mb, device)
        if size <= budget:
            return True, f"{mb} fits the memory budget of {budget / 2**20:,.0f} MB"
        return False, (
            f"{mb} is over the memory budget of {budget / 2**20:,.0f} MB (data.memory_mb): "
            "streamed, decoded by DataLoader workers each epoch"
        )


_SURVEYS: dict[tuple[Any, ...], Survey] = {}


def _stamp(paths: dict[str, str], classes: list[str]) -> tuple[Any, ...]:
    """The folders' modification times: a file added, removed or renamed changes one."""
    stamps: list[Any] = []
    for split, path in sorted(paths.items()):
        for name in classes:
            folder = os.path.join(path, name)
            try:
                stamps.append((split, name, os.stat(folder).st_mtime_ns))
            except OSError:
                stamps.append((split, name, None))
    return tuple(stamps)


def survey(cfg: DataConfig) -> Survey:
    """Scan the folder (once per process while its folders are unchanged) and check that it
    can be trained on; a DataError says what is missing."""
    if cfg.name == "csv":
        root, classes, entries, skipped, stamp = csv_layout(cfg)
        paths = {split: os.path.join(root, split) for split in entries}  # for messages
        key: tuple[Any, ...] = (root, cfg.csv, cfg.image_size, stamp)
    else:
        classes, paths = folder_layout(cfg)
        root = os.path.dirname(paths["train"])
        key = (root, cfg.image_size, _stamp(paths, classes))
    cached = _SURVEYS.get(key)
    if cached is not None:
        return cached
    if cfg.name == "csv":
        scans = {
            split: img.scan_files(entries[split], root, skipped.get(split, [])) for split in entries
        }
    else:
        scans = {split: img.scan(path, classes, root) for split, path in paths.items()}
    counts = [0] * len(classes)
    for label in scans["train"].labels:
        counts[label] += 1
    empty = [name for name, n in zip(classes, counts, strict=True) if n == 0]
    if not len(scans["train"]):
        lines = img.skipped_lines(scans["train"].skipped)
        raise DataError(
            f"data.root: '{paths['train']}' has no image this can read"
            + (f" ({lines[0]})" if lines else "")
            + "; put PNG or JPEG files in train/<class name>/."
        )
    if empty:
        raise DataError(
            f"data.root: class{'es' if len(empty) > 1 else ''} {', '.join(empty)} "
            f"{'have' if len(empty) > 1 else 'has'} no usable training image: every class needs "
            "training images (remove the class, or add images to it)."
        )
    result = Survey(root, classes, scans, img.native_shape(list(scans.values()), cfg.image_size))
    _SURVEYS[key] = result
    return result


def describe_folder(cfg: DataConfig, info: DatasetInfo) -> DatasetInfo:
    found = survey(cfg)
    memory, _ = found.in_memory(cfg, torch.device("cpu"))
    return dataclasses.replace(
        info,
        channels=found.shape.channels,
        image_size=found.shape.side,
        num_classes=len(found.classes),
        classes=tuple(found.classes),
        has_test_split="test" in found.scans,
        in_memory=memory,
    )


class FileImages(Dataset[tuple[Tensor, int]]):
    """The streaming path's items: each file decoded (torchvision.io) and sized in a worker.
    A file that stopped decoding since the scan (the folder changed during the run) ends the
    run as failed with the file named, resumable from its last checkpoint once the folder is
    back: training on a blank in its place would change the run without a word."""

    def __init__(self, scan: img.Scan, side: int, channels: int) -> None:
        self.files, self.targets = scan.files, scan.labels
        self.side, self.channels = side, channels

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        image = img.decode_one(self.files[index], self.side, self.channels)
        if image is None:
            raise FileNotFoundError(
                errno.ENOENT,
                "cannot read an image that was there when the run started (moved, deleted or "
                "damaged since)",
                self.files[index],
            )
        return image, self.targets[index]


def _notes(found: Survey, path: str, skipped: list[img.Skipped]) -> list[str]:
    counts = ", ".join(f"{split} {len(scan)}" for split, scan in found.scans.items())
    missing = [split for split in ("val", "test") if split not in found.scans]
    if missing:
        counts += (
            f" ({' and '.join(missing)} carved from train: data."
            + ", data.".join(f"{m}_fraction" for m in missing)
            + ", data.split_seed)"
        )
    shape = found.shape
    return [
        f"data: {len(found.classes)} classes; images: {counts}",
        f"data: input {shape.channels}x{shape.side}x{shape.side}: {shape.why}",
        f"data: {path}",
        *(f"data: {line}" for line in img.skipped_lines(skipped)),
    ]


def _report(found: Survey, path: str, skipped: list[img.Skipped]) -> dict[str, Any]:
    return {
        "root": found.root,
        "classes": len(found.classes),
        "images": {split: len(scan) for split, scan in found.scans.items()},
        "channels": found.shape.channels,
        "image_size": found.shape.side,
        "size_why": found.shape.why,
        "path": path,
        "skipped": len(skipped),
        "skipped_examples": [f"{s.path}: {s.why}" for s in skipped[: img.SHOW_SKIPPED]],
    }


@register_dataset(
    "imagefolder",
    description="Your own images, Kaggle style: data.root/" + LAYOUT + ". They keep their own "
    "size and channels (data.image_size resizes), are decoded once into a cache when they fit "
    "in memory, else streamed; val/test are carved from train when absent.",
    channels=3,
    image_size=0,
    num_classes=0,
    has_test_split=False,
    in_memory=True,
    describe=describe_folder,
)
def load_imagefolder(cfg: DataConfig) -> ArraySplits | FolderSplits:
    found = survey(cfg)
    side, channels = found.shape.side, found.shape.channels
    memory, why = found.in_memory(cfg, torch.device("cpu"))
    if not memory:
        streamed = {split: FileImages(scan, side, channels) for split, scan in found.scans.items()}
        path = f"streamed from the files ({why})"
        splits = FolderSplits(
            found.classes, side, streamed["train"], list(found.scans["train"].labels)
        )
        if "val" in streamed:
            splits.val, splits.val_targets = streamed["val"], list(found.scans["val"].labels)
        if "test" in streamed:
            splits.test, splits.test_targets = streamed["test"], list(found.scans["test"].labels)
        splits.notes = _notes(found, path, found.skipped)
        splits.report = _report(found, "streaming", found.skipped)
        return splits
    directory = img.cache_dir(cfg.cache_dir)
    decoded = {
        split: img.cached_decode(scan, found.root, side, channels, directory)
        for split, scan in found.scans.items()
    }
    skipped = found.skipped + [s for d in decoded.values() for s in d.failed]
    if not len(decoded["train"].images):
        raise DataError(f"data.root: no image under '{found.root}/train' could be decoded.")
    cached = all(d.cached for d in decoded.values())
    where = decoded["train"].cache_file
    path = (
        f"in memory, read from the cache {where.parent} (no decoding) ({why})"
        if cached and where is not None
        else f"in memory, decoded once ({why})"
        + (f"; cached in {where.parent}" if where is not None else "; no cache written")
    )
    held = ArraySplits(
        classes=found.classes,
        train_x=decoded["train"].images,
        train_y=decoded["train"].labels,
    )
    if "val" in decoded:
        held.val_x, held.val_y = decoded["val"].images, decoded["val"].labels
    if "test" in decoded:
        held.test_x, held.test_y = decoded["test"].images, decoded["test"].labels
    held.notes = _notes(found, path, skipped)
    held.report = _report(found, "memory-cache" if cached else "memory", skipped)
    return held


@register_dataset(
    "csv",
    description="Your own images listed in a table, Kaggle style: data.root with "
    + CSV_LAYOUT
    + " (data.csv, default labels.csv). Sized, cached and checked like imagefolder.",
    channels=3,
    image_size=0,
    num_classes=0,
    has_test_split=False,
    in_memory=True,
    describe=describe_folder,
)
def load_csv(cfg: DataConfig) -> ArraySplits | FolderSplits:
    return load_imagefolder(cfg)
