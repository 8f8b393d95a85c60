"""The lr curve of a config in the CLI: a text chart (plotext, as the console's chart) for
``presets show``, and the same picture as a PNG (Pillow) for sharing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine import api

PNG_SIZE = (900, 420)


def curve_for(config: api.RunConfig) -> api.LRCurve:
    """The config's curve, its steps per epoch from the dataset's published size (the
    catalog: imports the registries, so torch)."""
    from engine import api
    from engine.api import compute

    return api.lr_preview_for(config, compute.catalog())


def _epoch_ticks(epochs: int, most: int = 8) -> list[int]:
    step = max(1, -(-epochs // most))
    return list(range(0, epochs + 1, step))


def text_chart(curve: api.LRCurve, width: int = 76, height: int = 12) -> str:
    """The curve as plain text (no colours): warmup end and restarts as vertical lines."""
    import plotext as plt

    from engine import api

    plt.clear_figure()
    plt.theme("clear")
    plt.plotsize(width, height)
    if curve.warmup_end is not None:
        plt.vline(curve.warmup_end)
    for at in curve.restarts[: api.LR_MAX_MARKS]:
        plt.vline(at)
    plt.plot([t for t, _ in curve.points], [lr for _, lr in curve.points], marker="braille")
    plt.xlim(0, curve.epochs)
    plt.ylim(0, (curve.peak or 1.0) * 1.05)
    ticks = _epoch_ticks(curve.epochs)
    plt.xticks(ticks, [str(t) for t in ticks])
    plt.xlabel("epoch")
    text = plt.uncolorize(plt.build())
    plt.clear_figure()
    return "\n".join(line.rstrip() for line in text.splitlines())


def write_png(curve: api.LRCurve, path: Path, title: str) -> None:
    """The same picture as a PNG: the curve, the warmup end (orange) and restarts (purple)."""
    from PIL import Image, ImageDraw

    from engine import api

    width, height = PNG_SIZE
    left, right, top, bottom = 80, 20, 40, 50
    image = Image.new("RGB", PNG_SIZE, "white")
    draw = ImageDraw.Draw(image)
    peak = (curve.peak or 1.0) * 1.05
    span = max(curve.epochs, 1)

    def x(t: float) -> float:
        return left + (width - left - right) * t / span

    def y(lr: float) -> float:
        return height - bottom - (height - top - bottom) * lr / peak

    draw.rectangle((left, top, width - right, height - bottom), outline="black")
    for t in _epoch_ticks(curve.epochs, 10):
        draw.line((x(t), height - bottom, x(t), height - bottom + 5), fill="black")
        draw.text((x(t) - 6, height - bottom + 8), str(t), fill="black")
    draw.text(((width - left) // 2 + left - 15, height - 20), "epoch", fill="black")
    for i in range(5):
        lr = peak * i / 4
        draw.line((left - 5, y(lr), left, y(lr)), fill="black")
        draw.text((5, y(lr) - 6), f"{lr:.3g}", fill="black")
    if curve.warmup_end is not None:
        draw.line((x(curve.warmup_end), top, x(curve.warmup_end), height - bottom), "orange")
    for at in curve.restarts:
        draw.line((x(at), top, x(at), height - bottom), fill="purple")
    draw.line([(x(t), y(lr)) for t, lr in curve.points], fill="blue", width=2)
    draw.text((left, 12), title, fill="black")
    api.save_image(image, path)  # atomic; a StoreError says why it could not
