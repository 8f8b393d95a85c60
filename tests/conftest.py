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
