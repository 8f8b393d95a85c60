"""Every optimizer learns; every schedule follows its definition."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from engine.config import OptimConfig, ScheduleConfig
from engine.errors import ConfigError
from engine.optim import LRSchedule, build_optimizer, list_optimizers, list_schedules


def _toy() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    x = torch.randn(64, 8)
    y = (x[:, 0] > 0).long()
    return nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2)), x, y


@pytest.mark.parametrize("name", [o.name for o in list_optimizers()])
def test_every_optimizer_reduces_the_loss(name: str) -> None:
    model, x, y = _toy()
    lr = {"adadelta": 1.0, "sgd": 0.1, "rmsprop": 0.01}.get(name, 0.05)
    opt = build_optimizer(model, OptimConfig(name=name, lr=lr, nesterov=name == "sgd"))
    first = None
    for _ in range(30):
        loss = nn.functional.cross_entropy(model(x), y)
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < first * 0.9


def test_norm_and_bias_are_exempt_from_weight_decay_unless_asked() -> None:
    model, _, _ = _toy()
    opt = build_optimizer(model, OptimConfig(weight_decay=0.1))
    decays = {p.ndim: g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    assert decays == {2: 0.1, 1: 0.0}
    opt = build_optimizer(model, OptimConfig(weight_decay=0.1, decay_norm_and_bias=True))
    assert {g["weight_decay"] for g in opt.param_groups} == {0.1}


def test_unknown_optimizer_names_the_nearest() -> None:
    model, _, _ = _toy()
    with pytest.raises(ConfigError, match="did you mean 'adam'"):
        build_optimizer(model, OptimConfig(name="adamm"))


def _curve(c: ScheduleConfig, epochs: int = 10, steps: int = 4) -> list[list[float]]:
    model, _, _ = _toy()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = LRSchedule(opt, c, 1.0, epochs, steps)
    return [[sched.apply(e, s) for s in range(steps)] for e in range(epochs)]


def test_step_and_multistep() -> None:
    curve = _curve(ScheduleConfig(name="step", step_size=3, gamma=0.1))
    assert [round(c[0], 6) for c in curve] == [1, 1, 1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.001]
    curve = _curve(ScheduleConfig(name="multistep", milestones=[2, 5], gamma=0.5))
    assert [c[0] for c in curve] == [1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.25]


def test_cosine_starts_at_lr_and_reaches_min_lr() -> None:
    curve = _curve(ScheduleConfig(name="cosine", min_lr=0.01), epochs=11)
    firsts = [c[0] for c in curve]
    assert firsts[0] == pytest.approx(1.0)
    assert firsts[5] == pytest.approx(0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * 5 / 11)))
    assert all(a >= b for a, b in zip(firsts, firsts[1:], strict=False))


def test_warm_restarts_per_iteration_restart_every_period() -> None:
    c = ScheduleConfig(name="cosine-restarts", per_iteration=True, restart_period=50)
    flat = [lr for epoch in _curve(c, epochs=5, steps=40) for lr in epoch]
    assert flat[0] == pytest.approx(1.0)
    assert flat[50] == pytest.approx(1.0) and flat[100] == pytest.approx(1.0)
    assert flat[49] < 0.01


def test_warm_restarts_per_epoch_with_multiplier() -> None:
    c = ScheduleConfig(name="cosine-restarts", restart_period=2, restart_mult=2)
    firsts = [e[0] for e in _curve(c, epochs=8)]
    assert [i for i, v in enumerate(firsts) if v == pytest.approx(1.0)] == [0, 2, 6]


def test_onecycle_peaks_after_pct_start() -> None:
    flat = [lr for e in _curve(ScheduleConfig(name="onecycle", pct_start=0.3)) for lr in e]
    peak = max(range(len(flat)), key=flat.__getitem__)
    assert flat[0] == pytest.approx(1 / 25, rel=0.2)
    assert abs(peak / len(flat) - 0.3) < 0.05
    assert flat[-1] < 0.01


def test_linear_warmup_then_schedule() -> None:
    c = ScheduleConfig(name="constant", warmup_epochs=2)
    flat = [lr for e in _curve(c, steps=4) for lr in e]
    assert flat[:8] == pytest.approx([k / 8 for k in range(1, 9)])
    assert flat[8:] == pytest.approx([1.0] * 32)


def test_plateau_reduces_after_patience_and_survives_a_checkpoint() -> None:
    model, _, _ = _toy()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = LRSchedule(
        opt, ScheduleConfig(name="plateau", plateau_patience=2, gamma=0.5), 1.0, 10, 1
    )
    for loss in (1.0, 0.9, 0.9, 0.9):
        sched.end_epoch(loss)
    assert sched.apply(4, 0) == 1.0
    sched.end_epoch(0.95)
    assert sched.apply(5, 0) == 0.5
    again = LRSchedule(opt, ScheduleConfig(name="plateau"), 1.0, 10, 1)
    again.load_state_dict(sched.state_dict())
    assert again.apply(5, 0) == 0.5


def test_every_registered_schedule_runs() -> None:
    for info in list_schedules():
        curve = _curve(ScheduleConfig(name=info.name))
        assert all(0 < lr <= 1.0 + 1e-9 for e in curve for lr in e), info.name


def test_unknown_schedule() -> None:
    with pytest.raises(ConfigError, match="schedule.name: unknown schedule 'cosin'"):
        _curve(ScheduleConfig(name="cosin"))


# ---------------------------------------------------------------- the registry's curves


def _oracle_factor(
    c: ScheduleConfig, base_lr: float, epochs: int, steps: int, plateau_scale: float, e: int, s: int
) -> float:
    """The if-chain over schedule names that LRSchedule.factor was before each registry entry
    carried its own curve, kept verbatim as the oracle of the entries."""
    t = e + s / steps
    if c.warmup_epochs > 0 and t < c.warmup_epochs:
        return (t + 1 / steps) / c.warmup_epochs
    floor = c.min_lr / base_lr
    if c.name == "constant":
        return 1.0
    if c.name == "step":
        return float(c.gamma ** (e // c.step_size))
    if c.name == "multistep":
        return float(c.gamma ** sum(e >= m for m in c.milestones))
    if c.name == "plateau":
        return max(plateau_scale, floor)
    span = max(epochs - c.warmup_epochs, 1e-9)
    u = (
        (t - c.warmup_epochs)
        if c.per_iteration or c.name in ("onecycle", "triangle")
        else e - c.warmup_epochs
    )
    if c.name == "cosine":
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(u / span, 1.0)))
    if c.name == "cosine-restarts":
        pos = (u * steps) if c.per_iteration else u
        period = float(c.restart_period)
        while pos >= period:
            pos -= period
            period *= c.restart_mult
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * pos / period))
    frac = min(u / span, 1.0)
    if c.name == "triangle":
        if frac < c.pct_start:
            return 0.2 + 0.8 * frac / c.pct_start
        return 1.0 + (floor - 1.0) * (frac - c.pct_start) / max(1 - c.pct_start, 1e-9)
    start, end = 1 / 25, 1 / 25 / 1e4
    if frac < c.pct_start:
        return start + (1 - start) * 0.5 * (1 - math.cos(math.pi * frac / c.pct_start))
    rest = (frac - c.pct_start) / max(1 - c.pct_start, 1e-9)
    return end + (1 - end) * 0.5 * (1 + math.cos(math.pi * rest))


@pytest.mark.parametrize("name", [s.name for s in list_schedules()])
def test_every_schedule_entry_is_bit_identical_to_the_old_if_chain(name: str) -> None:
    model, _, _ = _toy()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    variants = [
        ScheduleConfig(name=name, warmup_epochs=warmup, per_iteration=per_iteration, **extra)
        for warmup in (0.0, 0.5, 2.0, 3.25)
        for per_iteration in (False, True)
        for extra in (
            {},
            {"min_lr": 0.003, "gamma": 0.5, "step_size": 2, "milestones": [1, 4, 7]},
            {"restart_period": 3, "restart_mult": 2, "pct_start": 0.45, "min_lr": 0.01},
        )
    ]
    compared = 0
    for c in variants:
        for base_lr, epochs, steps in ((0.1, 9, 7), (0.05, 12, 1), (1.0, 5, 50)):
            sched = LRSchedule(opt, c, base_lr, epochs, steps)
            for plateau_scale in (1.0, 0.25, 0.001):
                sched.plateau_scale = plateau_scale
                for e in range(epochs + 2):  # past the end too: a resumed, longer run
                    for s in range(steps):
                        want = _oracle_factor(c, base_lr, epochs, steps, plateau_scale, e, s)
                        assert sched.factor(e, s) == want, (c, base_lr, epochs, steps, e, s)
                        compared += 1
    assert compared > 10_000


def test_schedule_and_optimizer_entries_declare_the_keys_forms_show() -> None:
    from engine.config import field_info

    for info in list_optimizers():
        assert info.always[0] == "name" and {"grad_clip", "decay_norm_and_bias"} <= set(info.always)
        for key in info.shown_keys:
            assert field_info(f"optim.{key}").section == "optim"
    for sched in list_schedules():
        assert sched.always == ("name", "warmup_epochs")
        for key in sched.shown_keys:
            assert field_info(f"schedule.{key}").section == "schedule"
        assert sched.reads_val_loss == (sched.name == "plateau")
