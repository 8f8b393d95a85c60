"""Shared fixtures. Tests never touch the network or the user's real run store."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from engine import faults
from engine.presets import resolve
from engine.store import RunStore

REPO = Path(__file__).resolve().parent.parent

# The suite's claims are CPU claims (exact resume, pinned devices in documents, timings of a
# CPU box): on a GPU machine it hides the GPUs, so `make test` means the same there. GPU
# nondeterminism would otherwise break the exact comparisons (seen on an H100: two
# uninterrupted CUDA runs differ unless train.deterministic). tests/test_cuda.py runs the
# CUDA paths, in subprocesses that see the GPUs again.
# (kept in an environment variable of its own: xdist's workers inherit the hidden value)
os.environ.setdefault("RESNET_TUI_TEST_GPUS", os.environ.get("CUDA_VISIBLE_DEVICES", "all"))
CUDA_VISIBLE = os.environ["RESNET_TUI_TEST_GPUS"]  # "all": CUDA_VISIBLE_DEVICES was unset
os.environ["CUDA_VISIBLE_DEVICES"] = ""


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own run store and user preset folder, and counts injected faults
    (RESNET_TUI_FAULT) from zero: an xdist worker runs many tests in one process."""
    faults.reset()
    monkeypatch.setenv("RESNET_TUI_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("RESNET_TUI_PRESETS", str(tmp_path / "user-presets"))
    monkeypatch.setenv("RESNET_TUI_CACHE", str(tmp_path / "cache"))  # decoded image folders
    monkeypatch.setenv("RESNET_TUI_CONFIG", str(tmp_path / "settings.toml"))  # no user alerts
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    return tmp_path / "runs"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--soak",
        action="store_true",
        help="run the random fault-injection tests longer (as RESNET_TUI_SOAK=1; "
        "RESNET_TUI_SOAK=N multiplies their counts by N)",
    )


@pytest.fixture(scope="session")
def soak(request: pytest.FixtureRequest) -> int:
    """How many times longer the random fault tests run: 1 normally, 5 with --soak or
    RESNET_TUI_SOAK=1, N with RESNET_TUI_SOAK=N."""
    env = os.environ.get("RESNET_TUI_SOAK", "").strip()
    if env.isdigit() and int(env) > 1:
        return int(env)
    if (env and env != "0") or request.config.getoption("--soak"):
        return 5
    return 1


# ---------------------------------------------------------------- the bad-input catalogue's store


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Runs in every state, made without training: their documents are what matters here."""
    runs = tmp_path_factory.mktemp("populated") / "runs"
    store = RunStore(runs)
    config = resolve("digits-quick", ["train.epochs=3"])[0].to_dict()

    def run(name: str, status: str, **fields: Any) -> str:
        run_id = str(store.create_run(config, name=name, preset="digits-quick")["id"])
        store.set_status(run_id, status, f"{status} for the catalogue", **fields)
        store.append_metrics(run_id, {"kind": "epoch", "epoch": 1, "val_acc": 0.5})
        return run_id

    run("finished", "finished", epoch=3, best={"val_acc": 0.9, "best_epoch": 3})
    run("diverged", "diverged", epoch=2)
    run("stopped", "stopped", epoch=1)
    run("alive", "running", pid=os.getpid())  # this test process: alive while we test
    run("elsewhere", "running", pid=4242, host="another-box")
    return runs


@pytest.fixture
def store_copy(populated: Path, tmp_path: Path) -> Path:
    runs = tmp_path / "runs"
    shutil.copytree(populated, runs)
    return runs
