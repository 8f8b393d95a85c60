"""The cifar10-fast (airbench) preset: whitening init, triangle schedule, TTA; it learns on CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from fixtures import write_cifar10

from engine.config import ModelConfig, ScheduleConfig
from engine.models import create_model
from engine.optim import LRSchedule
from engine.presets import resolve
from engine.runner import execute
from engine.store import RunStore

torch.set_num_threads(1)


def test_whitening_init_decorrelates_patches() -> None:
    torch.manual_seed(0)
    model = create_model(ModelConfig(name="airbench"), 3, 10, 32)
    base = torch.randn(64, 3, 32, 32)
    images = base + 0.8 * base.roll(1, dims=1)  # correlated channels
    model.init_from_data(images)  # type: ignore[operator]
    out = model.whiten(images)[:, :12]  # the + half of the +/- pairs, bias is zero
    flat = out.permute(1, 0, 2, 3).reshape(12, -1)
    cov = flat @ flat.T / flat.shape[1]
    assert torch.allclose(cov, torch.eye(12), atol=0.1)
    assert not model.whiten.weight.requires_grad


def test_triangle_schedule() -> None:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = LRSchedule(opt, ScheduleConfig(name="triangle", pct_start=0.25, min_lr=0.1), 1.0, 4, 10)
    flat = [sched.factor(e, s) for e in range(4) for s in range(10)]
    assert flat[0] == pytest.approx(0.2)
    assert max(flat) == pytest.approx(1.0) and flat.index(max(flat)) == 10
    assert flat[-1] == pytest.approx(0.1 + 0.9 / 30, abs=1e-6)


@pytest.mark.slow
def test_cifar10_fast_learns_in_one_epoch_on_cpu(tmp_path: Path) -> None:
    write_cifar10(tmp_path / "data", n_train_per_batch=200, n_test=100)
    config, preset = resolve(
        "cifar10-fast",
        [
            f"data.root={tmp_path / 'data'}",
            "data.download=false",
            "data.batch_size=50",
            "data.val_fraction=0.1",
            "train.epochs=1",
            "model.channels=16,32,32",
            "optim.lr=0.1",
            "schedule.pct_start=0.3",
        ],
    )
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run(config.to_dict(), preset=preset)["id"]
    doc = execute(store, run_id)
    assert doc["status"] == "finished", doc["message"]
    assert doc["test"]["test_acc"] > 0.2  # ten classes: chance is 0.1
