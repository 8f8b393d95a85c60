"""Augmentation of whole uint8 batches on the device, airbench style.

``BatchAugment.train`` turns a uint8 batch into the normalised float batch the model sees:

    RandAugment -> random crop (zero padding) -> flip -> rotation     (dataset resolution)
    -> resize + center crop -> normalise -> cutout -> mixup / cutmix -> gaussian noise

Geometric steps run at the dataset's own resolution, on uint8 where they can (a quarter of the
memory traffic); cutout lengths are in output pixels. Every step works on the whole batch with
per-image random parameters drawn from the caller's generator; with everything off the cost is
one fused multiply-add (uint8 -> normalised float). Label smoothing is the loss's business.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from engine.config import AugmentConfig

# The augmentations as data (torch-free, for forms) live with the config; re-exported here.
from engine.config.augmentations import AUGMENTATIONS as AUGMENTATIONS
from engine.config.augmentations import AugmentationInfo as AugmentationInfo
from engine.config.augmentations import list_augmentations as list_augmentations
from engine.data.randaugment import rand_augment
from engine.data.rng import normal, permutation, randint, uniform
from engine.errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class MixedBatch:
    """A training batch; the loss is ``lam * loss(x, y_a) + (1 - lam) * loss(x, y_b)``."""

    x: Tensor  # float, normalised
    y_a: Tensor
    y_b: Tensor  # the mixing partners' labels; y_a when the batch is not mixed
    lam: float  # weight of y_a; 1.0 when not mixed


# ---------------------------------------------------------------- batched operations


def random_crop(images: Tensor, padding: int, generator: torch.Generator) -> Tensor:
    """Per-image shifted windows of the zero-padded batch: one gather, no host sync.

    A window's pixel (i, j) sits at flat offset (top + i) * padded_width + left + j of its
    padded image, so one index per pixel and image (shared by the channels) is the whole crop.
    """
    b, c, h, w = images.shape
    device = images.device
    padded = F.pad(images, (padding, padding, padding, padding))
    width = w + 2 * padding
    top = randint(0, 2 * padding + 1, (b, 1), generator, device)
    left = randint(0, 2 * padding + 1, (b, 1), generator, device)
    pixels = torch.arange(h, device=device).view(h, 1) * width + torch.arange(w, device=device)
    index = (top * width + left + pixels.view(1, h * w)).view(b, 1, h * w).expand(b, c, h * w)
    return padded.flatten(2).gather(2, index).view(b, c, h, w)


def random_flip(images: Tensor, generator: torch.Generator) -> Tensor:
    flip = uniform((len(images),), generator, images.device) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), images.flip(-1), images)


def rotate(images: Tensor, angles: Tensor) -> Tensor:
    """Rotate float images counter-clockwise by per-image ``angles`` (radians) about their
    centres, bilinearly; what comes in from outside is 0."""
    cos, sin = torch.cos(angles), torch.sin(angles)
    zero = torch.zeros_like(angles)
    # grid_sample reads input = theta @ output, with y pointing down: this turns the picture
    # counter-clockwise, as torchvision's rotate does
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_rotate(images: Tensor, degrees: float, generator: torch.Generator) -> Tensor:
    """Rotate each float image by its own angle, uniform in [-degrees, degrees]."""
    u = uniform((len(images),), generator, images.device)
    return rotate(images, (u * 2 - 1) * math.radians(degrees))


def resize_center_crop(images: Tensor, resize: int, crop: int) -> Tensor:
    """Resize float images so the short side is ``resize`` (0: keep), then take the center
    ``crop`` x ``crop`` (0: keep)."""
    h, w = images.shape[-2:]
    if resize and min(h, w) != resize:
        scale = resize / min(h, w)
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        images = F.interpolate(
            images, size=size, mode="bilinear", align_corners=False, antialias=scale < 1
        )
        h, w = size
    if crop and (crop, crop) != (h, w):
        if crop > h or crop > w:
            raise ConfigError(
                f"augment.crop_size: {crop} is larger than the {h}x{w} images"
                + (f" after resizing to {resize}" if resize else "")
                + "; lower it or set augment.resize at least as large",
                "augment.crop_size",
            )
        top, left = int(round((h - crop) / 2)), int(round((w - crop) / 2))
        images = images[..., top : top + crop, left : left + crop]
    return images


def cutout_mask(
    shape: Sequence[int], holes: int, length: int, generator: torch.Generator, device: torch.device
) -> Tensor:
    """bool [B, 1, H, W]: ``holes`` squares of side ``length`` per image, each fully inside."""
    b, _, h, w = shape
    lh, lw = min(length, h), min(length, w)
    top = randint(0, h - lh + 1, (b, holes), generator, device).view(b, holes, 1, 1)
    left = randint(0, w - lw + 1, (b, holes), generator, device).view(b, holes, 1, 1)
    ys = torch.arange(h, device=device).view(1, 1, h, 1)
    xs = torch.arange(w, device=device).view(1, 1, 1, w)
    inside = (ys >= top) & (ys < top + lh) & (xs >= left) & (xs < left + lw)
    return inside.any(dim=1, keepdim=True)


def cutmix_box(lam: float, h: int, w: int, rng: random.Random) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of a box of about (1 - lam) of the area, clipped to the image."""
    ratio = math.sqrt(1.0 - lam)
    cut_h, cut_w = int(h * ratio), int(w * ratio)
    cy, cx = rng.randrange(h), rng.randrange(w)
    top, bottom = max(cy - cut_h // 2, 0), min(cy + cut_h - cut_h // 2, h)
    left, right = max(cx - cut_w // 2, 0), min(cx + cut_w - cut_w // 2, w)
    return top, bottom, left, right


# ---------------------------------------------------------------- the pipeline


class BatchAugment:
    """Train-time and eval-time transforms of uint8 batches, as configured by ``AugmentConfig``."""

    def __init__(
        self,
        cfg: AugmentConfig,
        mean: Sequence[float],
        std: Sequence[float],
        num_classes: int,
    ) -> None:
        self.cfg = cfg
        self.mean = tuple(float(v) for v in mean)
        self.std = tuple(float(v) for v in std)
        self.num_classes = num_classes
        self._affine: dict[tuple[torch.device, int], tuple[Tensor, Tensor]] = {}

    # ---- shapes and normalisation

    def output_size(self, image_size: int) -> int:
        """The side of the images ``train``/``eval`` return for square inputs of ``image_size``."""
        return output_size(self.cfg, image_size)

    def norm_stats(self, channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(mean, std) on the 0..1 scale for ``channels``-channel images."""
        if self.cfg.normalize == "none":
            return (0.0,) * channels, (1.0,) * channels
        mean: tuple[float, ...]
        std: tuple[float, ...]
        if self.cfg.normalize == "imagenet":
            mean, std = IMAGENET_MEAN, IMAGENET_STD
        else:
            mean, std = self.mean, self.std
        if len(mean) == channels:
            return mean, std
        if channels == 1:  # grey images: the average of the colour statistics
            return (sum(mean) / len(mean),), (sum(std) / len(std),)
        if len(mean) == 1:
            return mean * channels, std * channels
        raise ValueError(f"{len(mean)} normalisation channels for {channels}-channel images")

    def _scale_shift(self, channels: int, device: torch.device) -> tuple[Tensor, Tensor]:
        key = (device, channels)
        if key not in self._affine:
            mean, std = self.norm_stats(channels)
            m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
            s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
            # (x / 255 - mean) / std == x * scale + shift, for x on the 0..255 scale
            self._affine[key] = ((1.0 / (255.0 * s)).to(device), (-m / s).to(device))
        return self._affine[key]

    def normalize(self, images: Tensor) -> Tensor:
        """uint8 (or float on the 0..255 scale) -> normalised float32, in one fused kernel."""
        scale, shift = self._scale_shift(images.shape[1], images.device)
        return torch.addcmul(shift, images, scale)

    # ---- the two entry points

    def eval(self, images: Tensor) -> Tensor:
        """Deterministic: resize + center crop when configured, then normalise."""
        c = self.cfg
        if c.resize or c.crop_size:
            images = resize_center_crop(images.float(), c.resize, c.crop_size)
        return self.normalize(images)

    def train(
        self,
        images: Tensor,
        labels: Tensor,
        generator: torch.Generator,
        host_seed: int | None = None,
    ) -> MixedBatch:
        """Augment a uint8 [B, C, H, W] batch with randomness from ``generator`` alone, except
        the batch-level mixup/cutmix draws when ``host_seed`` is given: those (whether to mix,
        which of the two, lam, the cutmix box) then come from a host ``random.Random(host_seed)``
        so that nothing is read back from the device (the trainer gives one per step on CUDA,
        where reading draws back would stall the GPU queue once per batch)."""
        c = self.cfg
        if len(images) == 0:
            return MixedBatch(self.eval(images), labels, labels, 1.0)
        x = images
        if c.randaugment_ops > 0:
            x = rand_augment(x, c.randaugment_ops, c.randaugment_magnitude, generator)
        if c.crop_padding > 0:
            x = random_crop(x, c.crop_padding, generator)
        if c.hflip:
            x = random_flip(x, generator)
        if c.rotation > 0:
            x = random_rotate(x.float(), c.rotation, generator)
        if c.resize or c.crop_size:
            x = resize_center_crop(x.float(), c.resize, c.crop_size)
        x = self.normalize(x)  # a new tensor: the steps below may work in place
        if c.cutout_holes > 0 and c.cutout_length > 0:
            mask = cutout_mask(x.shape, c.cutout_holes, c.cutout_length, generator, x.device)
            x.masked_fill_(mask, 0.0)  # 0 is the mean after normalisation
        batch = self._mix(x, labels, generator, host_seed)
        if c.noise_std > 0:
            noise = normal(tuple(batch.x.shape), generator, x.device, x.dtype)
            batch.x.add_(noise, alpha=c.noise_std)
        return batch

    def _mix(
        self, x: Tensor, y: Tensor, generator: torch.Generator, host_seed: int | None = None
    ) -> MixedBatch:
        c = self.cfg
        alphas = (("mixup", c.mixup_alpha), ("cutmix", c.cutmix_alpha))
        modes = [(name, alpha) for name, alpha in alphas if alpha > 0]
        if not modes or c.mix_prob <= 0 or len(x) == 0:
            return MixedBatch(x, y, y, 1.0)
        if host_seed is not None:  # drawn on the host: no read-back from the device
            rng = random.Random(host_seed)
            u_mix, u_mode = rng.random(), rng.random()
        else:  # drawn from ``generator`` (on the CPU a read-back costs nothing)
            draws = torch.rand(3, generator=generator, device=generator.device)
            u_mix, u_mode, u_seed = draws.tolist()
            rng = random.Random(int(u_seed * 2**53))
        if u_mix >= c.mix_prob:
            return MixedBatch(x, y, y, 1.0)
        mode, alpha = modes[0] if len(modes) == 1 or u_mode < 0.5 else modes[1]
        lam = rng.betavariate(alpha, alpha)
        partner = permutation(len(x), generator, x.device)
        if mode == "mixup":
            x = torch.lerp(x[partner], x, lam)  # lam * x + (1 - lam) * x[partner]
        else:
            h, w = x.shape[-2:]
            top, bottom, left, right = cutmix_box(lam, h, w, rng)
            x[:, :, top:bottom, left:right] = x[partner, :, top:bottom, left:right]
            lam = 1.0 - (bottom - top) * (right - left) / (h * w)
        return MixedBatch(x, y, y[partner], float(lam))


def output_size(cfg: AugmentConfig, image_size: int) -> int:
    """The side of the images the model sees: after resize and center crop, if any."""
    return cfg.crop_size or cfg.resize or image_size
