"""Shared fixtures. Tests never touch the network or the user's real run store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own run store and user preset folder."""
    monkeypatch.setenv("RESNET_TUI_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("RESNET_TUI_PRESETS", str(tmp_path / "user-presets"))
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
