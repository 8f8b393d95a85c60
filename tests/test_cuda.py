"""The CUDA paths, run only where a GPU is (the rest of the suite hides it: tests/conftest.py).

Each test trains through the real CLI in a subprocess that sees the GPUs. Found on an H100:
an unindexed "cuda" device failed every batch; resuming is exact on CUDA only with
train.deterministic (cuDNN's autotuned kernels differ between runs otherwise), and the
peak-memory figure of an epoch is not part of what repeats.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import CUDA_VISIBLE, REPO

from engine.records import EPOCH_TIMES
from engine.store import RunStore

HAS_GPU = shutil.which("nvidia-smi") is not None and CUDA_VISIBLE != ""
pytestmark = pytest.mark.skipif(not HAS_GPU, reason="no NVIDIA GPU on this machine")
# a step line every 4 steps: 9 lines and the epoch line per epoch (39 steps of 32), so the
# fault hook's 14th metrics line falls at step 16 of epoch 2
DETERMINISTIC = [
    *("--set", "train.epochs=3", "--set", "train.deterministic=true"),
    *("--set", "data.batch_size=32", "--set", "train.log_every=4"),
]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    if CUDA_VISIBLE != "all":
        env["CUDA_VISIBLE_DEVICES"] = CUDA_VISIBLE
    path = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return {**env, "PYTHONPATH": path, **extra}


def _train(runs: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "resnet_tui", "--runs-dir", str(runs), "train", *args]
    return subprocess.run(
        command, cwd=REPO, env=_env(**env), capture_output=True, text=True, timeout=600
    )


def _final(store: RunStore, run_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    drop = {*EPOCH_TIMES, "time"}
    lines = [m for m in store.read_metrics(run_id)[0] if m.get("kind") == "epoch"]
    doc = store.get(run_id)
    epochs = [{k: v for k, v in m.items() if k not in drop} for m in lines]
    return epochs, {"best": doc["best"], "test": doc["test"], "status": doc["status"]}


MIXING = ["--set", "augment.mixup_alpha=0.4", "--set", "augment.cutmix_alpha=1.0"]


@pytest.mark.parametrize("extra", [[], ["--set", "train.amp=fp16"], MIXING])
def test_digits_train_on_the_gpu(runs_dir: Path, extra: list[str]) -> None:
    done = _train(runs_dir, "digits-quick", "--set", "train.epochs=4", *extra, "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    (doc,) = RunStore(runs_dir).list_runs()
    assert doc["device"].startswith("cuda:") and doc["status"] == "finished"
    assert doc["test"]["test_acc"] > 0.9


def test_a_deterministic_run_stopped_mid_epoch_resumes_exactly_on_the_gpu(
    runs_dir: Path,
) -> None:
    store = RunStore(runs_dir)
    whole = _train(runs_dir, "digits-quick", *DETERMINISTIC, "--name", "whole", "--quiet")
    assert whole.returncode == 0, whole.stderr
    cut = _train(
        runs_dir,
        "digits-quick",
        *DETERMINISTIC,
        "--name",
        "cut",
        "--quiet",
        RESNET_TUI_FAULT="sigterm:metrics:14",  # in epoch 2
    )
    assert cut.returncode == 0, cut.stderr  # a graceful stop
    run_id = store.resolve("cut")
    assert store.get(run_id)["status"] == "stopped" and store.get(run_id)["epoch"] == 1
    resumed = _train(runs_dir, "--resume", run_id, "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert _final(store, run_id) == _final(store, store.resolve("whole"))
    assert json.dumps(_final(store, run_id))  # plain data
