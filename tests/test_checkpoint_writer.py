"""Checkpoints written in the background (engine.checkpoint_writer): in order, from a copy
the training cannot change, errors raised at the next wait, and a whole run equal to one
written synchronously."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from engine.checkpoint import load_checkpoint
from engine.checkpoint_writer import CheckpointWriter, host_copy
from engine.errors import CheckpointError


def _state(value: float) -> dict[str, Any]:
    weight = torch.full((4,), value)
    return {"format_version": 1, "epoch": int(value), "model": {"w": weight}, "history": [{}]}


def test_a_background_write_reads_a_copy_the_training_cannot_change(tmp_path: Path) -> None:
    writer = CheckpointWriter(background=True)
    state = _state(1.0)
    writer.write(state, [tmp_path / "best.pt", tmp_path / "last.pt"])
    state["model"]["w"].add_(100.0)  # the next epoch trains on
    state["history"].append({"epoch": 2})
    writer.wait()
    for name in ("best.pt", "last.pt"):
        saved = torch.load(tmp_path / name, weights_only=False)
        assert saved["model"]["w"].tolist() == [1.0] * 4 and saved["history"] == [{}]


def test_writes_land_in_order_and_a_failure_is_raised_at_the_next_wait(tmp_path: Path) -> None:
    writer = CheckpointWriter(background=True)
    for epoch in (1, 2, 3):
        writer.write(_state(float(epoch)), [tmp_path / "last.pt"])
    writer.wait()
    assert torch.load(tmp_path / "last.pt", weights_only=False)["epoch"] == 3
    writer.write(_state(4.0), [tmp_path / "gone" / "last.pt"])  # a folder that is not there
    with pytest.raises(CheckpointError):
        writer.wait()
    writer.wait()  # raised once
    writer.write(_state(5.0), [tmp_path / "gone" / "x.pt"])
    writer.close()  # a caller already failing hears nothing more


def test_host_copy_copies_tensors_and_containers() -> None:
    t = torch.ones(2)
    copied = host_copy({"a": [t, (t, 3)], "b": "x"})
    assert copied["a"][0] is not t and copied["a"][1][0] is not t and copied["a"][1][1] == 3
    t.zero_()
    assert copied["a"][0].tolist() == [1.0, 1.0] and copied["b"] == "x"


def test_synchronous_writes_are_done_when_write_returns(tmp_path: Path) -> None:
    writer = CheckpointWriter(background=False)
    writer.write(_state(7.0), [tmp_path / "last.pt"])
    assert (tmp_path / "last.pt").exists()  # no wait needed
    with pytest.raises(CheckpointError):
        writer.write(_state(8.0), [tmp_path / "gone" / "last.pt"])


@pytest.mark.slow  # two real tiny runs
def test_a_run_with_background_checkpoints_equals_one_without(runs_dir: Path) -> None:
    from engine.presets import resolve
    from engine.records import EPOCH_TIMES
    from engine.runner import execute
    from engine.store import RunStore

    store = RunStore(runs_dir)
    finals = []
    for mode in ("off", "on"):
        sets = ["train.epochs=3", "data.batch_size=64", "model.channels=8,16,32"]
        config, preset = resolve("digits-quick", [*sets, f"train.checkpoint_async={mode}"])
        run_id = str(store.create_run(config.to_dict(), preset=preset)["id"])
        doc = execute(store, run_id, lambda _e: None)
        lines = [m for m in store.read_metrics(run_id)[0] if m.get("kind") == "epoch"]
        drop = {*EPOCH_TIMES, "time"}
        epochs = [{k: v for k, v in m.items() if k not in drop} for m in lines]
        last = load_checkpoint(store.run_dir(run_id) / "last.pt")
        finals.append((epochs, doc["best"], doc["test"], doc["status"], last["epoch"]))
    assert finals[0] == finals[1] and finals[1][3] == "finished" and finals[1][4] == 3
