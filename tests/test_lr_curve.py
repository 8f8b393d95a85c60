"""The lr preview is the trainer's own curve: ``engine.lr_schedule.lr_curve`` against the lr
that ``LRSchedule`` writes into a real torch optimizer, at every step of a run."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

from engine.config import DataConfig, RunConfig, ScheduleConfig
from engine.lr_schedule import lr_curve, lr_preview
from engine.optim import LRSchedule, list_schedules

EPOCHS, STEPS, LR = 12, 7, 0.2

CASES = {
    "constant": ScheduleConfig(name="constant"),
    "constant-warmup": ScheduleConfig(name="constant", warmup_epochs=2.5),
    "step": ScheduleConfig(name="step", step_size=4, gamma=0.5),
    "multistep": ScheduleConfig(name="multistep", milestones=[3, 8], gamma=0.1, warmup_epochs=1),
    "cosine": ScheduleConfig(name="cosine", min_lr=0.01, warmup_epochs=2),
    "cosine-per-iteration": ScheduleConfig(name="cosine", per_iteration=True),
    "cosine-restarts": ScheduleConfig(name="cosine-restarts", restart_period=3, restart_mult=2),
    "cosine-restarts-per-iteration": ScheduleConfig(
        name="cosine-restarts", restart_period=10, per_iteration=True, warmup_epochs=1
    ),
    "onecycle": ScheduleConfig(name="onecycle", pct_start=0.25),
    "onecycle-warmup": ScheduleConfig(name="onecycle", pct_start=0.3, warmup_epochs=1),
    "triangle": ScheduleConfig(name="triangle", pct_start=0.2, min_lr=0.001),
    "plateau": ScheduleConfig(name="plateau", warmup_epochs=1, plateau_patience=1, gamma=0.5),
}


def test_the_cases_cover_every_schedule() -> None:
    assert {c.name for c in CASES.values()} == {s.name for s in list_schedules()}


def _trainer_lrs(c: ScheduleConfig) -> list[float]:
    """The lr of the optimizer's param group at every step, as the trainer steps it."""
    model = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    schedule = LRSchedule(optimizer, c, LR, EPOCHS, STEPS)
    seen = []
    for epoch in range(EPOCHS):
        for step in range(STEPS):
            schedule.apply(epoch, step)
            seen.append(optimizer.param_groups[0]["lr"])
        schedule.end_epoch(1.0 / (epoch + 1))  # improving: plateau keeps its initial path
    return seen


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_curve_is_the_lr_the_trainer_sets_at_every_step(case: str) -> None:
    c = CASES[case]
    curve = lr_curve(c, LR, EPOCHS, STEPS, points=None)
    assert [t for t, _ in curve.points] == [k / STEPS for k in range(EPOCHS * STEPS)]
    assert [lr for _, lr in curve.points] == pytest.approx(_trainer_lrs(c), rel=1e-12, abs=0)


def test_a_sampled_curve_is_a_subset_of_the_whole_and_keeps_each_restart() -> None:
    c = CASES["cosine-restarts-per-iteration"]
    whole = dict(lr_curve(c, LR, EPOCHS, STEPS, points=None).points)
    sampled = lr_curve(c, LR, EPOCHS, STEPS, points=20)
    assert all(whole[t] == lr for t, lr in sampled.points)
    # warmup 1 epoch, then every 10 iterations (7 per epoch)
    assert sampled.restarts[:3] == pytest.approx((1 + 10 / 7, 1 + 20 / 7, 1 + 30 / 7))
    drawn = dict(sampled.points)
    for at in sampled.restarts:  # the steps around each restart are drawn: the drop and the top
        near = [t for t in whole if abs(t - at) < 1.5 / STEPS]
        assert all(t in drawn for t in near), at
        assert min(drawn[t] for t in near) < LR / 10 < 0.9 * LR < max(drawn[t] for t in near)
    assert sampled.warmup_end == 1


def test_the_preview_works_out_the_steps_the_trainer_takes_on_digits() -> None:
    from engine.data import load_dataset

    config = RunConfig(data=DataConfig(name="digits", batch_size=64, val_fraction=0.15))
    bundle = load_dataset(config.data, "cpu")
    curve = lr_preview(config, bundle.info.train_images, bundle.info.has_test_split)
    assert curve.steps_per_epoch == bundle.train.num_batches(64, True)
    assert curve.train_images == len(bundle.train)


def test_the_preview_module_imports_no_torch() -> None:
    code = (
        "import sys; from engine import api; "
        "api.lr_preview(api.RunConfig()); assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_curve_in_words() -> None:
    from engine.lr_schedule import describe_curve, describe_steps

    plateau = lr_curve(CASES["plateau"], LR, EPOCHS, STEPS)
    assert describe_curve(plateau) == (
        "plateau: lr 0.0286 → 0.2, peak 0.2 · warmup to epoch 1 · its path until val loss stalls"
    )
    restarts = lr_curve(CASES["cosine-restarts"], LR, EPOCHS, STEPS)
    assert restarts.restarts == (3, 9)  # periods 3 then 6 (restart_mult 2)
    assert describe_curve(restarts).endswith("· 2 restarts")
    unknown = lr_preview(RunConfig(data=DataConfig(name="imagefolder")))
    assert unknown.steps_per_epoch == 1 and "not known before it is read" in describe_steps(unknown)


def _walked(pos: float, first: int, mult: int) -> tuple[float, float]:
    """The restarts walked one by one, as the schedule used to."""
    period = float(first)
    while pos >= period:
        pos -= period
        period *= mult
    return pos, period


@pytest.mark.parametrize("mult", [1, 2, 3])
def test_the_position_within_a_restart_period_is_the_walked_one_bit_for_bit(mult: int) -> None:
    from engine.lr_schedule import _within_period

    positions = [k / 7 for k in range(-10, 3000)] + [k * 0.25 for k in range(2000)]
    positions += [5.0 * k for k in range(200)] + [1 - 1e-12, 5 - 2**-40, 15.0, 35.0]
    for first in (1, 3, 5, 50):
        for pos in positions:
            assert _within_period(pos, first, mult) == _walked(pos, first, mult), (pos, first)


def test_thousands_of_restarts_keep_the_preview_small() -> None:
    from engine.lr_schedule import MAX_MARKS

    c = ScheduleConfig(name="cosine-restarts", restart_period=5, per_iteration=True)
    curve = lr_curve(c, LR, 200, 390, points=400)  # 15,600 restarts, one every 5 steps
    assert len(curve.restarts) > 1000
    assert len(curve.points) <= 400 + 3 * MAX_MARKS
    drawn = dict(curve.points)
    for at in curve.restarts[:MAX_MARKS]:  # each drawn restart keeps its step
        assert min(abs(t - at) for t in drawn) < 1e-9
