"""RandAugment on whole batches: every image draws its own ops, all images are processed at once.

Per op slot, one affine ``grid_sample`` serves every geometric op (identity for the images that
drew a colour op), and each colour op is computed for the batch and kept only where it was drawn
(``torch.where``): a handful of full-batch passes, no Python loop over images, no host sync.
Magnitudes follow torchvision's ``RandAugment`` (31 bins, 0..30); ``equalize`` is left out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from engine.data.rng import randint, uniform

GEOMETRIC_OPS = ("shear_x", "shear_y", "translate_x", "translate_y", "rotate")
COLOUR_OPS = (
    "brightness",
    "color",
    "contrast",
    "sharpness",
    "posterize",
    "solarize",
    "autocontrast",
)
RANDAUGMENT_OPS: tuple[str, ...] = ("identity", *GEOMETRIC_OPS, *COLOUR_OPS)

MAX_SHEAR = 0.3
MAX_TRANSLATE = 150.0 / 331.0  # of the image side
MAX_DEGREES = 30.0
MAX_ENHANCE = 0.9  # brightness/color/contrast/sharpness factor 1 +- this
GREY_WEIGHTS = (0.2989, 0.587, 0.114)


def _grey(x: Tensor) -> Tensor:
    if x.shape[1] != 3:
        return x.mean(dim=1, keepdim=True)
    w = torch.tensor(GREY_WEIGHTS, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(dim=1, keepdim=True)


def _blend(x: Tensor, base: Tensor, factor: Tensor) -> Tensor:
    return (base + factor * (x - base)).clamp_(0, 255)


def _brightness(x: Tensor, factor: Tensor, magnitude: float) -> Tensor:
    return (x * factor).clamp_(0, 255)


def _color(x: Tensor, factor: Tensor, magnitude: float) -> Tensor:
    return _blend(x, _grey(x), factor) if x.shape[1] == 3 else x


def _contrast(x: Tensor, factor: Tensor, magnitude: float) -> Tensor:
    return _blend(x, _grey(x).mean(dim=(1, 2, 3), keepdim=True), factor)


def _sharpness(x: Tensor, factor: Tensor, magnitude: float) -> Tensor:
    c = x.shape[1]
    kernel = torch.ones(3, 3, device=x.device, dtype=x.dtype)
    kernel[1, 1] = 5.0
    kernel = (kernel / 13.0).expand(c, 1, 3, 3)
    blurred = x.clone()  # PIL keeps the one-pixel border as it is
    blurred[..., 1:-1, 1:-1] = F.conv2d(x, kernel, groups=c)
    return _blend(x, blurred, factor)


def _posterize(x: Tensor, factor: Tensor, magnitude: float) -> Tensor:
    bits = 8 - int(round(magnitude * 4))
    step = float(2 ** (8 - bits))
    return torch.floor(x / step) * step


def _solarize(x: Tensor, factor: Tensor, magnitude: float) -> Tensor:
    return torch.where(x >= 255.0 * (1.0 - magnitude), 255.0 - x, x)


def _autocontrast(x: Tensor, factor: Tensor, magnitude: float) -> Tensor:
    low = x.amin(dim=(2, 3), keepdim=True)
    high = x.amax(dim=(2, 3), keepdim=True)
    flat = high <= low
    scale = torch.where(flat, torch.ones_like(high), 255.0 / (high - low).clamp_min(1e-6))
    low = torch.where(flat, torch.zeros_like(low), low)
    return ((x - low) * scale).clamp_(0, 255)


COLOUR_FNS: dict[str, Callable[[Tensor, Tensor, float], Tensor]] = {
    "brightness": _brightness,
    "color": _color,
    "contrast": _contrast,
    "sharpness": _sharpness,
    "posterize": _posterize,
    "solarize": _solarize,
    "autocontrast": _autocontrast,
}


def _amount(drawn: Tensor, sign: Tensor, op: str, value: float) -> Tensor:
    """Per image: +-value where ``op`` was drawn, 0 elsewhere."""
    return torch.where(drawn == RANDAUGMENT_OPS.index(op), sign * value, 0.0)


def rand_augment(
    images: Tensor,
    num_ops: int,
    magnitude: int,
    generator: torch.Generator,
    ops: Sequence[str] = RANDAUGMENT_OPS,
) -> Tensor:
    """Apply ``num_ops`` ops per image, each drawn uniformly from ``ops``, to uint8 [B, C, H, W].

    ``magnitude`` is 0..30 as in torchvision; signed ops take a random sign per image.
    """
    unknown = [op for op in ops if op not in RANDAUGMENT_OPS]
    if unknown:
        raise ValueError(f"unknown RandAugment ops {unknown}; choices: {RANDAUGMENT_OPS}")
    b, _, h, w = images.shape
    if b == 0 or num_ops <= 0:
        return images
    device = images.device
    m = magnitude / 30.0
    x = images.float()
    op_ids = torch.tensor([RANDAUGMENT_OPS.index(op) for op in ops], device=device)
    geometric = any(op in GEOMETRIC_OPS for op in ops)
    for _ in range(num_ops):
        drawn = op_ids[randint(0, len(ops), (b,), generator, device)]
        sign = torch.where(uniform((b,), generator, device) < 0.5, -1.0, 1.0)

        if geometric:
            angle = _amount(drawn, sign, "rotate", m * math.radians(MAX_DEGREES))
            cos, sin = torch.cos(angle), torch.sin(angle)
            shear_x = _amount(drawn, sign, "shear_x", m * MAX_SHEAR) * (h / w)
            shear_y = _amount(drawn, sign, "shear_y", m * MAX_SHEAR) * (w / h)
            # normalised coordinates span 2 per image side
            move_x = _amount(drawn, sign, "translate_x", m * 2 * MAX_TRANSLATE)
            move_y = _amount(drawn, sign, "translate_y", m * 2 * MAX_TRANSLATE)
            row_x = torch.stack([cos, -sin + shear_x, move_x], 1)
            row_y = torch.stack([sin + shear_y, cos, move_y], 1)
            theta = torch.stack([row_x, row_y], dim=1)
            grid = F.affine_grid(theta, list(x.shape), align_corners=False)
            # nearest keeps untouched images exact; zeros fill what moves in (black)
            x = F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)
        factor = (1.0 + sign * (m * MAX_ENHANCE)).view(-1, 1, 1, 1)
        for op in ops:
            if op in COLOUR_FNS:
                chosen = (drawn == RANDAUGMENT_OPS.index(op)).view(-1, 1, 1, 1)
                x = torch.where(chosen, COLOUR_FNS[op](x, factor, m), x)
    return x.round_().clamp_(0, 255).to(torch.uint8)
