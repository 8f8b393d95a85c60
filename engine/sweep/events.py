"""What a sweep process reports while it runs: plain dataclass events (the CLI prints them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TrialStarted:
    trial: int
    run_id: str
    params: dict[str, Any]
    resumed: bool
    adopted: bool = False  # still running from an earlier sweep process


@dataclass(frozen=True)
class TrialEpoch:
    trial: int
    run_id: str
    epoch: int
    val_acc: float


@dataclass(frozen=True)
class TrialPruned:
    trial: int
    run_id: str
    epoch: int
    message: str


@dataclass(frozen=True)
class TrialEnded:
    trial: int
    run_id: str
    status: str  # the run's status, or "pruned"
    value: float | None
    message: str


@dataclass(frozen=True)
class SweepEnded:
    status: str  # "finished" | "incomplete" | "stopped"
    message: str


SweepEvent = TrialStarted | TrialEpoch | TrialPruned | TrialEnded | SweepEnded
