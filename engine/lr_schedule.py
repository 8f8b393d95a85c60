"""The learning-rate schedule registry and its curves, torch-free.

A schedule is a pure function of training progress (plus a small state for reduce-on-plateau),
so a resumed run follows the same curve. Each ``ScheduleInfo`` holds its ``factor``: the lr
multiplier at a point of ``Progress`` after warmup; ``lr_factor`` adds the linear warmup that
every schedule shares. The trainer's ``engine.optim.LRSchedule`` writes ``lr_factor`` into the
optimizer's param groups; ``lr_curve`` walks the same function over a whole run for the
previews (the Launch form, ``presets show``), so what is drawn is what the trainer sets.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.config import DataConfig, RunConfig, ScheduleConfig
from engine.registry import Registry

if TYPE_CHECKING:
    from engine.catalog import Catalog

# Keys every schedule reads: its name and the warmup before it.
ALWAYS_SCHEDULE: tuple[str, ...] = ("name", "warmup_epochs")


@dataclass(frozen=True)
class Progress:
    """Where training is: ``step`` of 0-based ``epoch``, with what a curve needs to know."""

    epoch: int
    step: int
    steps: int  # steps per epoch, at least 1
    epochs: int  # the run's length
    base_lr: float
    plateau_scale: float = 1.0  # reduce-on-plateau's running multiplier

    @property
    def t(self) -> float:
        """Progress in epochs (fractional within an epoch)."""
        return self.epoch + self.step / self.steps


FactorFn = Callable[[ScheduleConfig, Progress], float]


@dataclass(frozen=True)
class ScheduleInfo:
    name: str
    description: str
    keys: tuple[str, ...]  # schedule.* keys it reads
    factor: FactorFn  # the lr multiplier after warmup
    always: tuple[str, ...] = ALWAYS_SCHEDULE  # schedule.* keys shown whatever the schedule
    reads_val_loss: bool = False  # fed each epoch's val loss (reduce on plateau)

    @property
    def shown_keys(self) -> tuple[str, ...]:
        """Every schedule.* key that matters with this schedule, for forms."""
        return (*self.always, *(k for k in self.keys if k not in self.always))


SCHEDULES: Registry[ScheduleInfo] = Registry("schedule.name", "schedule")


def _floor(c: ScheduleConfig, p: Progress) -> float:
    return c.min_lr / p.base_lr


def _span(c: ScheduleConfig, p: Progress) -> float:
    """The epochs after warmup."""
    return max(p.epochs - c.warmup_epochs, 1e-9)


def _since_warmup(c: ScheduleConfig, p: Progress, continuous: bool) -> float:
    """Epochs since warmup ended: fractional when the curve moves every step."""
    return (p.t - c.warmup_epochs) if continuous else p.epoch - c.warmup_epochs


def _constant(c: ScheduleConfig, p: Progress) -> float:
    return 1.0


def _step(c: ScheduleConfig, p: Progress) -> float:
    return float(c.gamma ** (p.epoch // c.step_size))


def _multistep(c: ScheduleConfig, p: Progress) -> float:
    return float(c.gamma ** sum(p.epoch >= m for m in c.milestones))


def _cosine(c: ScheduleConfig, p: Progress) -> float:
    floor, u = _floor(c, p), _since_warmup(c, p, c.per_iteration)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(u / _span(c, p), 1.0)))


def _within_period(pos: float, first: int, mult: int) -> tuple[float, float]:
    """Where ``pos`` (iterations or epochs since warmup) falls in its warm-restart period:
    (position within it, the period's length), without walking the restarts one by one.

    Periods are ``first * mult**k``, whole numbers, so subtracting a cycle's start from
    ``pos`` is exact: the result is bit-identical to subtracting the periods one at a time."""
    period = float(first)
    if pos < period:
        return pos, period
    if mult == 1:
        return math.fmod(pos, period), period  # fmod is exact
    # mult > 1: the periods grow geometrically, so at most ~log2(pos) of them fit before pos
    start, length = 0, first  # start of the current cycle, its length (exact ints)
    while start + length <= pos:
        start += length
        length *= mult
    return pos - start, float(length)


def _cosine_restarts(c: ScheduleConfig, p: Progress) -> float:
    floor, u = _floor(c, p), _since_warmup(c, p, c.per_iteration)
    pos = (u * p.steps) if c.per_iteration else u  # in iterations or epochs
    pos, period = _within_period(pos, c.restart_period, c.restart_mult)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * pos / period))


def _onecycle(c: ScheduleConfig, p: Progress) -> float:
    """As torch.optim.lr_scheduler.OneCycleLR with cosine annealing."""
    frac = min(_since_warmup(c, p, True) / _span(c, p), 1.0)
    start, end = 1 / 25, 1 / 25 / 1e4
    if frac < c.pct_start:
        return start + (1 - start) * 0.5 * (1 - math.cos(math.pi * frac / c.pct_start))
    rest = (frac - c.pct_start) / max(1 - c.pct_start, 1e-9)
    return end + (1 - end) * 0.5 * (1 + math.cos(math.pi * rest))


def _triangle(c: ScheduleConfig, p: Progress) -> float:
    floor, frac = _floor(c, p), min(_since_warmup(c, p, True) / _span(c, p), 1.0)
    if frac < c.pct_start:
        return 0.2 + 0.8 * frac / c.pct_start
    return 1.0 + (floor - 1.0) * (frac - c.pct_start) / max(1 - c.pct_start, 1e-9)


def _plateau(c: ScheduleConfig, p: Progress) -> float:
    return max(p.plateau_scale, _floor(c, p))


for _info in (
    ScheduleInfo("constant", "constant learning rate", (), _constant),
    ScheduleInfo(
        "step",
        "multiply by gamma every step_size epochs (seed 003: 0.1 every 100)",
        ("step_size", "gamma"),
        _step,
    ),
    ScheduleInfo(
        "multistep",
        "multiply by gamma at each milestone epoch",
        ("milestones", "gamma"),
        _multistep,
    ),
    ScheduleInfo("cosine", "cosine annealing from lr to min_lr over the run", ("min_lr",), _cosine),
    ScheduleInfo(
        "cosine-restarts",
        "cosine with warm restarts every restart_period epochs or iterations "
        "(seed 001: every 50 iterations)",
        ("restart_period", "restart_mult", "per_iteration", "min_lr"),
        _cosine_restarts,
    ),
    ScheduleInfo(
        "onecycle",
        "one-cycle: warm up to lr over pct_start, then anneal",
        ("pct_start",),
        _onecycle,
    ),
    ScheduleInfo(
        "triangle",
        "linear ramp from lr/5 to lr over pct_start, then linearly down to min_lr (airbench)",
        ("pct_start", "min_lr"),
        _triangle,
    ),
    ScheduleInfo(
        "plateau",
        "reduce by gamma when val loss stalls for plateau_patience epochs",
        ("gamma", "plateau_patience", "min_lr"),
        _plateau,
        reads_val_loss=True,
    ),
):
    SCHEDULES.register(_info.name, _info)


def list_schedules() -> list[ScheduleInfo]:
    return SCHEDULES.list()


def schedule_info(name: str) -> ScheduleInfo:
    return SCHEDULES.get(name)


def lr_factor(
    c: ScheduleConfig,
    base_lr: float,
    epochs: int,
    steps: int,
    epoch: int,
    step: int,
    plateau_scale: float = 1.0,
) -> float:
    """The lr multiplier at ``step`` of 0-based ``epoch`` (``steps`` per epoch): the linear
    warmup every schedule shares, then the schedule's own ``factor``."""
    steps = max(1, steps)
    t = epoch + step / steps  # progress in epochs
    if c.warmup_epochs > 0 and t < c.warmup_epochs:
        return (t + 1 / steps) / c.warmup_epochs
    progress = Progress(epoch, step, steps, epochs, base_lr, plateau_scale)
    return schedule_info(c.name).factor(c, progress)


@dataclass(frozen=True)
class LRCurve:
    """The lr over a whole run, as the trainer would set it (reduce-on-plateau: its path
    until a first plateau, i.e. constant), with where warmup ends and the restarts fall."""

    points: tuple[tuple[float, float], ...]  # (epochs done, fractional; lr)
    epochs: int
    steps_per_epoch: int
    warmup_end: float | None  # in epochs; None without warmup
    restarts: tuple[float, ...]  # in epochs: each warm restart (cosine-restarts)
    schedule: str
    train_images: int = 0  # what steps_per_epoch was worked out from (0: unknown, 1 step)

    @property
    def peak(self) -> float:
        return max((lr for _, lr in self.points), default=0.0)

    @property
    def last(self) -> float:
        return self.points[-1][1] if self.points else 0.0


# Restarts whose neighbourhood a sampled curve keeps (and the charts draw as lines): the first
# MAX_MARKS; past them the restarts are too close to see apart, and keeping 3 steps around each
# of thousands of restarts would make the preview as slow as walking every step.
MAX_MARKS = 24


def _restarts(c: ScheduleConfig, epochs: int, steps: int) -> tuple[float, ...]:
    if c.name != "cosine-restarts":
        return ()
    unit = 1 / steps if c.per_iteration else 1.0  # a period's unit, in epochs
    found: list[float] = []
    at, period = c.warmup_epochs, float(c.restart_period)
    while at + period * unit < epochs and len(found) < 10_000:
        at += period * unit
        found.append(at)
        period *= c.restart_mult
    return tuple(found)


def lr_curve(
    c: ScheduleConfig,
    base_lr: float,
    epochs: int,
    steps_per_epoch: int,
    points: int | None = 400,
) -> LRCurve:
    """The lr the trainer sets at each step of the run (``lr_factor``, as ``LRSchedule``),
    sampled at about ``points`` evenly spaced steps (None: every step; the last step and the
    steps around each of the first ``MAX_MARKS`` restarts are always kept, so a drawn restart
    is never smoothed away: at most ``points + 3 * MAX_MARKS`` points)."""
    steps = max(1, steps_per_epoch)
    total = max(0, epochs) * steps
    restarts = _restarts(c, epochs, steps)
    if points is None or total <= points:
        chosen = range(total)
    else:
        stride = total / max(points - 1, 1)
        picked = {min(total - 1, round(i * stride)) for i in range(points)}
        for at in restarts[
            :MAX_MARKS
        ]:  # the steps around a restart (t * steps may land a hair short)
            k = math.ceil(at * steps - 1e-9)
            picked.update(min(total - 1, max(0, j)) for j in (k - 1, k, k + 1))
        chosen = sorted(picked)  # type: ignore[assignment]
    curve = tuple(
        (k / steps, base_lr * lr_factor(c, base_lr, epochs, steps, k // steps, k % steps))
        for k in chosen
    )
    return LRCurve(
        points=curve,
        epochs=epochs,
        steps_per_epoch=steps,
        warmup_end=c.warmup_epochs if 0 < c.warmup_epochs < epochs else None,
        restarts=restarts,
        schedule=c.name,
    )


def train_images_left(data: DataConfig, images: int, has_test_split: bool) -> int:
    """The train images of a dataset of ``images`` once test (when it has no test split of
    its own) and val are carved from it, as ``engine.data.load`` carves them."""
    start = 0
    for fraction in ([] if has_test_split else [data.test_fraction]) + [data.val_fraction]:
        start += min(int(round(fraction * images)), images - start)
    return images - start


def lr_preview(
    config: RunConfig, train_images: int = 0, has_test_split: bool = True, points: int = 400
) -> LRCurve:
    """A run config's lr curve for the previews. ``train_images`` is the dataset's published
    train split (the catalog's ``DatasetEntry.train_images``): the steps per epoch are what
    is left after carving, over ``data.batch_size``, dropping the last partial batch as the
    trainer does. Unknown (0, or image folders before they are read): one step per epoch."""
    left = train_images_left(config.data, train_images, has_test_split) if train_images else 0
    steps = max(1, left // config.data.batch_size) if left else 1
    curve = lr_curve(config.schedule, config.optim.lr, config.train.epochs, steps, points)
    return dataclasses.replace(curve, train_images=left)


def lr_preview_for(config: RunConfig, catalog: Catalog | None) -> LRCurve:
    """A config's curve, its steps per epoch from the catalog's published size of its dataset
    (one step per epoch without a catalog or for a dataset it does not know)."""
    dataset = catalog.dataset(config.data.name) if catalog is not None else None
    if dataset is None:
        return lr_preview(config)
    return lr_preview(config, dataset.train_images, dataset.has_test_split)


def describe_steps(curve: LRCurve) -> str:
    """How the x axis was worked out, in words, for under the chart."""
    if not curve.train_images:
        return "one step per epoch (the dataset's size is not known before it is read)"
    return (
        f"{curve.steps_per_epoch:,} steps/epoch ({curve.train_images:,} train images)"
        f" × {curve.epochs:,} epochs"
    )


def describe_curve(curve: LRCurve) -> str:
    """The curve in one line: where it starts, peaks and ends, its warmup and restarts."""
    if not curve.points:
        return f"{curve.schedule}: no steps"
    parts = [
        f"{curve.schedule}: lr {curve.points[0][1]:.3g} → {curve.last:.3g}, peak {curve.peak:.3g}"
    ]
    if curve.warmup_end is not None:
        parts.append(f"warmup to epoch {curve.warmup_end:g}")
    if curve.restarts:
        parts.append(f"{len(curve.restarts):,} restart{'s' if len(curve.restarts) != 1 else ''}")
    if curve.schedule == "plateau":
        parts.append("its path until val loss stalls")
    return " · ".join(parts)
