"""A user's image files: found, checked, measured, decoded once and cached.

``scan`` lists a split's class folders and reads every file's header (PIL reads no pixels
for that): files that are not images, empty or unreadable are skipped and named, and the
images' own size and channels are measured. ``decode`` turns the files into one uint8
``[N, C, S, S]`` tensor, in parallel with ``torchvision.io.decode_image`` (PIL for the
formats it lacks); ``cached_decode`` keeps that tensor in a cache file keyed by the folder's
file list, sizes and modification times, so the next run reads one file instead of decoding
thousands, and an edited folder is decoded again.
"""

from __future__ import annotations

import hashlib
import io
import os
import statistics
import warnings
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from engine.fsio import atomic_write

IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm"}
)
ARRAY_SUFFIX = ".npy"  # one sample per file: [H, W] is one channel, [C, H, W] channel-first
SUFFIXES = IMAGE_SUFFIXES | {ARRAY_SUFFIX}
TORCHVISION_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp"})
GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F", "La"})
CACHE_VERSION = 1
CACHE_ENV = "RESNET_TUI_CACHE"
SHOW_SKIPPED = 5  # skipped files named in a message; the rest are counted


@dataclass(frozen=True)
class Skipped:
    path: str  # relative to data.root
    why: str


@dataclass
class Scan:
    """One split's files after their headers were read."""

    files: list[str] = field(default_factory=list)  # absolute paths, class by class, sorted
    labels: list[int] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)  # (width, height)
    gray: list[bool] = field(default_factory=list)
    stamps: list[tuple[int, int]] = field(default_factory=list)  # (bytes, mtime_ns)
    skipped: list[Skipped] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.files)


def _probe(path: str) -> tuple[int, int, bool, int, int] | str:
    """(width, height, grayscale, bytes, mtime_ns) from the header; a reason when unusable."""
    from PIL import Image, UnidentifiedImageError

    try:
        stat = os.stat(path)
    except OSError as error:
        return f"cannot be read: {error.strerror or error}"
    if stat.st_size == 0:
        return "empty file (0 bytes)"
    if path.lower().endswith(ARRAY_SUFFIX):
        return _probe_array(path, stat)
    try:
        with Image.open(path) as image:
            width, height = image.size
            gray = image.mode in GRAY_MODES
            image.verify()  # the whole file's structure (a truncated PNG), no pixels decoded
    except UnidentifiedImageError:
        return "not an image PIL can read"
    except (OSError, ValueError, SyntaxError) as error:  # truncated headers raise these
        return f"unreadable: {error}"
    if width < 1 or height < 1:
        return "an image of no pixels"
    return width, height, gray, stat.st_size, stat.st_mtime_ns


def _probe_array(path: str, stat: os.stat_result) -> tuple[int, int, bool, int, int] | str:
    import numpy as np

    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as error:
        return f"not a .npy array numpy can read: {error}"
    if array.ndim == 2:
        height, width, channels = array.shape[0], array.shape[1], 1
    elif array.ndim == 3 and array.shape[0] in (1, 3):
        channels, height, width = array.shape
    else:
        return f"an array of shape {tuple(array.shape)}: expected [H, W] or [1 or 3, H, W]"
    if array.dtype.kind not in "uif" or min(height, width) < 1:
        return f"an array of {array.dtype} {tuple(array.shape)}: not an image"
    return int(width), int(height), channels == 1, stat.st_size, stat.st_mtime_ns


def scan(split_dir: str, classes: Sequence[str], root: str, threads: int | None = None) -> Scan:
    """Every file under ``split_dir/<class>/`` for the given classes (a class folder may be
    missing from val/ or test/), headers read in parallel."""
    candidates: list[tuple[str, int]] = []
    skipped: list[Skipped] = []
    for label, name in enumerate(classes):
        folder = os.path.join(split_dir, name)
        if not os.path.isdir(folder):
            continue
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if entry.name.startswith("."):
                continue
            relative = os.path.relpath(entry.path, root)
            if entry.is_dir():
                skipped.append(Skipped(relative, "a folder inside a class folder"))
            elif os.path.splitext(entry.name)[1].lower() not in SUFFIXES:
                skipped.append(Skipped(relative, "not an image file (by its name)"))
            else:
                candidates.append((entry.path, label))
    return scan_files(candidates, root, skipped, threads)


def scan_files(
    candidates: Sequence[tuple[str, int]],
    root: str,
    skipped: Sequence[Skipped] = (),
    threads: int | None = None,
) -> Scan:
    """The given (path, label) files, headers read in parallel; ``skipped``: already refused."""
    result = Scan(skipped=list(skipped))
    with ThreadPoolExecutor(max_workers=threads or min(16, (os.cpu_count() or 2) * 2)) as pool:
        probes = list(pool.map(_probe, [path for path, _ in candidates]))
    for (path, label), probe in zip(candidates, probes, strict=True):
        if isinstance(probe, str):
            result.skipped.append(Skipped(os.path.relpath(path, root), probe))
            continue
        width, height, gray, size, mtime = probe
        result.files.append(path)
        result.labels.append(label)
        result.sizes.append((width, height))
        result.gray.append(gray)
        result.stamps.append((size, mtime))
    return result


@dataclass(frozen=True)
class Shape:
    """The size and channels a folder trains at, and why."""

    side: int  # square side after resize (short side) and center crop
    channels: int  # 1 when every image is grayscale, else 3
    why: str  # one line for the log


def native_shape(scans: Sequence[Scan], image_size: int, rgb: bool = False) -> Shape:
    """The images' own size: the common one, or the median short side when sizes differ; 1
    channel when every image is grayscale (``rgb``: 3 anyway, for a pretrained backbone)."""
    sizes = Counter(size for s in scans for size in s.sizes)
    gray = all(g for s in scans for g in s.gray)
    channels = 3 if rgb or not gray else 1
    kind = "grayscale" if gray else "colour"
    if rgb and gray:
        kind = "grayscale, repeated to 3 channels for the pretrained backbone"
    if not sizes:
        return Shape(image_size or 1, channels, "no images")
    if image_size:
        return Shape(image_size, channels, f"resized to {image_size} (data.image_size); {kind}")
    if len(sizes) == 1:
        (width, height), _ = sizes.popitem()
        side = min(width, height)
        crop = "" if width == height else f", center-cropped to {side}x{side}"
        return Shape(side, channels, f"the images' own size {width}x{height}{crop}; {kind}")
    shorts = [min(w, h) for s in scans for (w, h) in s.sizes]
    side = int(statistics.median(shorts))
    (common, count) = sizes.most_common(1)[0]
    return Shape(
        side,
        channels,
        f"mixed sizes ({len(sizes)} different, {min(shorts)} to {max(shorts)} px on the short "
        f"side; {count} are {common[0]}x{common[1]}): each resized to the median {side} and "
        f"center-cropped to {side}x{side}; {kind}",
    )


@cache
def _torchvision_decoder() -> Any:
    """torchvision.io's decoder, or None where it is gone (0.29 deprecates it for TorchCodec,
    which needs FFmpeg; PIL then decodes everything, a little slower)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from torchvision.io import ImageReadMode, decode_image
    except ImportError:
        return None
    # the deprecation warning comes with every call: said once here, not 5,000 times
    warnings.filterwarnings("ignore", ".*image decoding and encoding capabilities of TorchVision")
    return decode_image, ImageReadMode


def decode_one(path: str, side: int, channels: int) -> Tensor | None:
    """uint8 [channels, side, side], or None when the file cannot be decoded."""
    from torchvision.transforms.v2 import functional as F

    decoder = _torchvision_decoder()
    try:
        if path.lower().endswith(ARRAY_SUFFIX):
            image = _decode_array(path, channels)
        elif decoder is not None and os.path.splitext(path)[1].lower() in TORCHVISION_SUFFIXES:
            decode_image, modes = decoder
            image = decode_image(path, mode=modes.GRAY if channels == 1 else modes.RGB)
        else:
            image = _decode_with_pil(path, channels)
    except (RuntimeError, OSError, ValueError, SyntaxError):
        try:  # what torchvision refuses (e.g. a CMYK JPEG) PIL may still read
            image = _decode_with_pil(path, channels)
        except Exception:
            return None
    if image.ndim == 4:  # an animated GIF: its first frame
        image = image[0]
    height, width = image.shape[-2:]
    if min(height, width) != side:
        image = F.resize(image, side, antialias=True)
    if image.shape[-2:] != (side, side):
        image = F.center_crop(image, [side, side])
    return image.contiguous()


def _decode_array(path: str, channels: int) -> Tensor:
    """A .npy sample as uint8 [channels, H, W]: uint8 as it is; other numbers scaled to 0..255
    by the sample's own minimum and maximum (a spectrogram's dB, a float image's 0..1)."""
    import numpy as np

    array = np.load(path, allow_pickle=False)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.shape[0] not in (1, 3):
        raise ValueError(f"an array of shape {array.shape}")
    if array.dtype != np.uint8:
        values = array.astype(np.float64)
        low, high = np.nanmin(values), np.nanmax(values)
        scale = 255.0 / (high - low) if high > low else 0.0
        array = np.nan_to_num((values - low) * scale).round().clip(0, 255).astype(np.uint8)
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if tensor.shape[0] != channels:
        tensor = (
            tensor.expand(3, -1, -1)
            if channels == 3
            else tensor.float().mean(0, True).round().to(torch.uint8)
        )
    return tensor


def _decode_with_pil(path: str, channels: int) -> Tensor:
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        array = np.asarray(image.convert("L" if channels == 1 else "RGB"))
    tensor = torch.from_numpy(array.copy())
    return tensor.unsqueeze(0) if channels == 1 else tensor.permute(2, 0, 1)


def decode(
    files: Sequence[str], side: int, channels: int, threads: int | None = None
) -> tuple[Tensor, list[int]]:
    """(uint8 [N, C, side, side] of the files that decode, indices of those that do not)."""
    out = torch.empty((len(files), channels, side, side), dtype=torch.uint8)
    bad: list[int] = []

    def one(i: int) -> None:
        image = decode_one(files[i], side, channels)
        if image is None:
            bad.append(i)
        else:
            out[i] = image

    with ThreadPoolExecutor(max_workers=threads or max(1, os.cpu_count() or 1)) as pool:
        list(pool.map(one, range(len(files))))
    if bad:
        keep = torch.ones(len(files), dtype=torch.bool)
        keep[sorted(bad)] = False
        out = out[keep]
    return out, sorted(bad)


def cache_dir(configured: str = "") -> Path:
    """Where decoded folders are kept: data.cache_dir, else $RESNET_TUI_CACHE, else
    $XDG_CACHE_HOME/resnet-tui, else ~/.cache/resnet-tui."""
    if configured:
        return Path(configured).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "resnet-tui"


def cache_key(scan: Scan, root: str, side: int, channels: int) -> str:
    """Changes when any file is added, removed, renamed, rewritten or touched, or the size or
    channels change: an old cache is never used for a folder that is not the same."""
    digest = hashlib.sha256(f"v{CACHE_VERSION} {side} {channels}\n".encode())
    for path, label, (size, mtime) in zip(scan.files, scan.labels, scan.stamps, strict=True):
        digest.update(f"{os.path.relpath(path, root)}\0{label}\0{size}\0{mtime}\n".encode())
    return digest.hexdigest()[:40]


@dataclass
class Decoded:
    images: Tensor  # uint8 [N, C, S, S]
    labels: Tensor  # int64 [N]
    failed: list[Skipped]  # files that listed fine but would not decode
    cached: bool  # read from the cache file (no decoding)
    cache_file: Path | None


def cached_decode(
    scan: Scan, root: str, side: int, channels: int, directory: Path | None
) -> Decoded:
    """The split as one tensor, from the cache when the folder is unchanged; decoded (and
    the cache written, atomically) otherwise. ``directory`` None: no cache."""
    path = None
    if directory is not None:
        path = directory / f"folder-{cache_key(scan, root, side, channels)}.pt"
        try:
            data = torch.load(path, weights_only=True)
            images, labels = data["images"], data["labels"]
            failed = [Skipped(p, w) for p, w in data["failed"]]
            if images.shape[1:] == (channels, side, side) and len(images) == len(labels):
                return Decoded(images, labels, failed, True, path)
        except FileNotFoundError:
            pass
        except Exception:  # a damaged cache file: decode again and replace it
            pass
    images, bad = decode(scan.files, side, channels)
    bad_set = set(bad)
    labels = torch.tensor(
        [label for i, label in enumerate(scan.labels) if i not in bad_set], dtype=torch.long
    )
    failed = [Skipped(os.path.relpath(scan.files[i], root), "cannot be decoded") for i in bad]
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            buffer = io.BytesIO()
            torch.save(
                {
                    "images": images,
                    "labels": labels,
                    "failed": [(s.path, s.why) for s in failed],
                },
                buffer,
            )
            atomic_write(path, buffer.getbuffer(), point="folder-cache")
        except Exception:  # no room for the cache: train anyway, decode again next time
            path = None
    return Decoded(images, labels, failed, False, path)


def skipped_lines(skipped: Sequence[Skipped]) -> list[str]:
    """What to tell the user about skipped files: counts by reason, the first few named."""
    if not skipped:
        return []
    reasons = Counter(s.why for s in skipped)
    counts = ", ".join(f"{n} {why}" for why, n in reasons.most_common())
    lines = [f"skipped {len(skipped)} file{'s' if len(skipped) != 1 else ''}: {counts}"]
    lines += [f"  {s.path}: {s.why}" for s in skipped[:SHOW_SKIPPED]]
    if len(skipped) > SHOW_SKIPPED:
        lines.append(f"  ... and {len(skipped) - SHOW_SKIPPED} more")
    return lines


def memory_budget(configured_mb: int, device: torch.device) -> int:
    """Bytes a decoded folder may take: data.memory_mb, else a quarter of the host's memory
    (of the GPU's free memory when the data goes there)."""
    if configured_mb > 0:
        return configured_mb * 2**20
    if device.type == "cuda" and torch.cuda.is_available():
        free, _ = torch.cuda.mem_get_info(device)
        return int(free // 4)
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 * 2**30
    return int(total // 4)
