"""The client of the engine's helper process (``engine.api.helper``), torch-free.

``EngineHelper`` starts ``python -m engine.api.helper`` on first use and asks it the questions
that need torch, with the same typed requests and answers as ``engine.api.compute``: a
refusal comes back as the same UserError, with the same words and keys, that the CLI gets in
its own process. Calls block: make them from worker threads. The helper ends when its stdin
closes (``close``), or with the process that started it.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from engine import errors
from engine.answers import ModelSummary, RunCheck
from engine.api.types import (
    AblationRequest,
    Launched,
    RunRequest,
    SweepRequest,
)
from engine.catalog import Catalog
from engine.errors import ConfigError, PlanError, UserError
from engine.pictures import PictureGrid, Tile
from engine.records import SweepRecord
from engine.sweep.analysis import Importance


class HelperError(Exception):
    """The helper process could not answer (it failed to start, died, or timed out)."""


def raise_error(error: dict[str, Any]) -> None:
    """Raise the refusal the helper reported, as the UserError the engine raised."""
    kind, message = str(error.get("kind")), str(error.get("message") or "")
    if kind == "PlanError":
        problems = [ConfigError(p["message"], p.get("key")) for p in error.get("problems") or []]
        raise PlanError(problems) if problems else UserError(message)
    if kind == "ConfigError":
        raise ConfigError(message, error.get("key"))
    if kind == "DataError":
        raise errors.DataError(message, error.get("key"))
    cls = getattr(errors, kind, None)
    if isinstance(cls, type) and issubclass(cls, UserError) and cls is not ConfigError:
        try:
            raise cls(message)
        except TypeError:  # a subclass with another signature
            raise UserError(message) from None
    raise UserError(message)  # an internal error: its one line, as the CLI would show it


class EngineHelper:
    """A long-lived helper process, started on the first call."""

    def __init__(self, timeout_s: float = 120.0) -> None:
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._next_id = 0

    # ------------------------------------------------------------ typed verbs

    def catalog(self) -> Catalog:
        return Catalog.from_json(self.call("catalog"))

    def check_run(self, request: RunRequest, store: str | Path | None = None) -> RunCheck:
        """``engine.api.compute.check_run`` in the helper."""
        answer = self.call("check_run", request=request.to_json(), store=_path(store))
        return RunCheck.from_json(answer)

    def model_summary(self, request: RunRequest, layers: bool = True) -> ModelSummary:
        """The model's size (and, with ``layers``, its layer table); no data is read."""
        answer = self.call("model_summary", request=request.to_json(), layers=layers)
        return ModelSummary.from_json(answer)

    def inspect_request(self, request: RunRequest) -> dict[str, Any]:
        """``compute.inspect_request``: what a run would make of the request's image folder."""
        return dict(self.call("inspect_request", request=request.to_json()))

    def check_sweep(self, store: str | Path, request: SweepRequest) -> dict[str, Any]:
        """The sweep's definition (``SweepSpec.to_dict()``), checked as ``start_sweep`` would."""
        result: dict[str, Any] = self.call(
            "check_sweep", store=_path(store), request=request.to_json()
        )
        return result

    def start_sweep(self, store: str | Path, request: SweepRequest) -> tuple[SweepRecord, Launched]:
        answer = self.call("start_sweep", store=_path(store), request=request.to_json())
        return SweepRecord.from_json(answer["sweep"]), Launched.from_json(answer["launched"])

    def study_trials(self, store: str | Path, name: str) -> list[dict[str, Any]]:
        trials: list[dict[str, Any]] = self.call("study_trials", store=_path(store), name=name)
        return trials

    def sweep_importance(self, store: str | Path, name: str) -> Importance:
        """``compute.sweep_importance`` in the helper (Optuna stays out of the console)."""
        return Importance.from_json(self.call("sweep_importance", store=_path(store), name=name))

    def plan_ablation(self, request: AblationRequest) -> list[str]:
        """The runs the ablation would make ("base", then each removed component)."""
        return list(self.call("plan_ablation", request=request.to_json())["removed"])

    def start_ablation(self, store: str | Path, request: AblationRequest) -> Launched:
        return Launched.from_json(
            self.call("start_ablation", store=_path(store), request=request.to_json())
        )

    def preview(
        self, request: RunRequest, augmented: bool = False, seed: int = 0, per_class: int = 6
    ) -> PictureGrid:
        """``compute.preview`` in the helper: a grid of training images per class."""
        answer = self.call(
            "preview",
            request=request.to_json(),
            augmented=augmented,
            seed=seed,
            per_class=per_class,
        )
        return PictureGrid.from_json(answer)

    def sample_images(
        self, store: str | Path, run: str, indices: list[int], split: str = "test"
    ) -> list[Tile]:
        """``compute.sample_images`` in the helper: a run's images by index."""
        answer = self.call(
            "sample_images", store=_path(store), run=run, split=split, indices=list(indices)
        )
        return [Tile.from_json(t) for t in answer]

    # ------------------------------------------------------------ the process

    def _start(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", "1")  # never compete with a trainer for cores
        return subprocess.Popen(
            [sys.executable, "-m", "engine.api.helper"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=os.getcwd(),
            env=env,
            close_fds=True,
        )

    def call(self, op: str, **args: Any) -> Any:
        """One request; its result (JSON), or the engine's UserError raised again."""
        with self._lock:
            process = self._process
            if process is None or process.poll() is not None:
                try:
                    process = self._process = self._start()
                except OSError as exc:
                    raise HelperError(f"cannot start the engine helper: {exc}") from exc
            self._next_id += 1
            message = json.dumps({"id": self._next_id, "op": op, "args": args}) + "\n"
            assert process.stdin is not None and process.stdout is not None
            try:
                process.stdin.write(message.encode("utf-8"))
                process.stdin.flush()
            except OSError as exc:
                self._kill()
                raise HelperError(f"the engine helper is gone: {exc}") from exc
            ready, _, _ = select.select([process.stdout], [], [], self.timeout_s)
            if not ready:
                self._kill()
                raise HelperError(f"the engine helper did not answer in {self.timeout_s:.0f} s")
            line = process.stdout.readline()
            if not line:
                self._kill()
                raise HelperError("the engine helper ended unexpectedly")
            reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise_error(reply["error"])
        return reply.get("ok")

    def _kill(self) -> None:
        if self._process is not None:
            with contextlib.suppress(OSError):
                self._process.kill()
                self._process.wait(5)
            self._process = None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self._process is not None and self._process.stdin is not None:
                self._process.stdin.close()  # EOF: the helper exits by itself
        process = self._process
        self._process = None
        if process is not None:
            try:
                process.wait(2)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    process.kill()
                    process.wait(2)


def _path(store: str | Path | None) -> str | None:
    return str(store) if store is not None else None
