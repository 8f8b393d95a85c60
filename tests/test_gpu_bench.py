"""bench/gpu.sh --dry-run: the GPU bench runs end to end at tiny sizes on a CPU, so it cannot
rot between the rare runs on a GPU box (issue 15)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow  # trains four tiny runs and airbench94: about a minute


def test_gpu_bench_dry_run_prints_its_table(tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    done = subprocess.run(
        ["sh", str(REPO / "bench" / "gpu.sh"), "--dry-run", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    table = done.stdout
    for measure in (
        "digits-quick, whole process (s)",
        "cifar10-fast: steady-epoch img/s",
        "cifar10-resnet24-mixup: steady-epoch img/s",
        "cifar10-fast compiled",
        "airbench94 (its own loop): img/s",
        "cifar10-fast epoch / airbench94 epoch",
    ):
        assert measure in table, table
    figures = json.loads(out.read_text())
    assert figures["dry_run"] is True and figures["device"] in (
        "cpu",
        torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
    )
    fast = figures["cifar10-fast"]
    assert fast["images_per_s"] > 0 and 0 <= fast["split"]["fixed_share"] < 1
    split = fast["split"]
    parts = ("step_s", "eval_s", "data_s", "checkpoint_s", "store_s", "other_s")
    assert sum(split[k] for k in parts) == pytest.approx(split["wall_s"])
    assert (
        figures["digits"]["epochs"] == 2
        and figures["digits"]["process_s"] > figures["digits"]["train_s"]
    )
    assert (
        figures["airbench94"]["steady_epoch_s"] > 0 and len(figures["airbench94"]["epoch_s"]) == 2
    )
    assert figures["fast_over_airbench"] > 0
