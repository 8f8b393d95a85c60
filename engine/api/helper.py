"""The engine API over JSON lines: ``python -m engine.api.helper`` answers the questions that need
torch for a process that must not import it (the console).

Importing torch costs seconds and hundreds of MB, which the console must not pay (first paint
under 1 s). So it starts this helper once and sends it one JSON request per line::

    {"id": 7, "op": "check_run", "args": {"request": {...}, "store": "runs"}}

and reads one answer per line: ``{"id": 7, "ok": <result as JSON>}``, or ``{"id": 7,
"error": {...}}`` for a refusal (``engine.api.remote`` raises it again as the same UserError,
with the same words, so the console and the CLI refuse alike). Every op is a verb of
``engine.api.compute``; the helper ends when its stdin closes.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

import torch

import engine.checks  # noqa: F401  (torch and the registries load once, at start: not on a call)
from engine.api import compute
from engine.api.runs import open_store
from engine.api.types import AblationRequest, RunRequest, SweepRequest
from engine.errors import PlanError, UserError


def _store(args: dict[str, Any]) -> Any:
    return open_store(args.get("store"))


def _check_run(args: dict[str, Any]) -> Any:
    request = RunRequest.from_json(args["request"])
    return compute.check_run(request, args.get("store")).to_json()


def _model_summary(args: dict[str, Any]) -> Any:
    request = RunRequest.from_json(args["request"])
    return compute.model_summary(request, bool(args.get("layers", True))).to_json()


def _check_sweep(args: dict[str, Any]) -> Any:
    return compute.check_sweep(_store(args), SweepRequest.from_json(args["request"])).to_dict()


def _start_sweep(args: dict[str, Any]) -> Any:
    sweep, launched = compute.start_sweep(_store(args), SweepRequest.from_json(args["request"]))
    return {"sweep": sweep.to_json(), "launched": launched.to_json()}


def _plan_ablation(args: dict[str, Any]) -> Any:
    plan = compute.plan_ablation(AblationRequest.from_json(args["request"]))
    return {"removed": plan.removed, "preset": plan.preset, "name": plan.name}


def _start_ablation(args: dict[str, Any]) -> Any:
    request = AblationRequest.from_json(args["request"])
    return compute.start_ablation(_store(args), request).to_json()


def _inspect_request(args: dict[str, Any]) -> Any:
    return compute.inspect_request(RunRequest.from_json(args["request"]))


def _preview(args: dict[str, Any]) -> Any:
    request = RunRequest.from_json(args["request"])
    grid = compute.preview(
        request,
        augmented=bool(args.get("augmented")),
        seed=int(args.get("seed") or 0),
        per_class=int(args.get("per_class") or 6),
    )
    return grid.to_json()


def _sample_images(args: dict[str, Any]) -> Any:
    tiles = compute.sample_images(
        _store(args), str(args["run"]), str(args.get("split") or "test"), args["indices"]
    )
    return [tile.to_json() for tile in tiles]


OPS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "inspect_request": _inspect_request,
    "catalog": lambda _args: compute.catalog().to_json(),
    "check_run": _check_run,
    "model_summary": _model_summary,
    "check_sweep": _check_sweep,
    "start_sweep": _start_sweep,
    "study_trials": lambda args: compute.study_trials(_store(args), args["name"]),
    "sweep_importance": lambda args: compute.sweep_importance(_store(args), args["name"]).to_json(),
    "plan_ablation": _plan_ablation,
    "start_ablation": _start_ablation,
    "preview": _preview,
    "sample_images": _sample_images,
}


def error_json(exc: BaseException) -> dict[str, Any]:
    """A refusal as JSON: its kind, its message and, for several problems, each with its key."""
    if isinstance(exc, PlanError):
        problems = [{"message": str(p), "key": p.key} for p in exc.problems]
        return {"kind": "PlanError", "message": str(exc), "problems": problems}
    if isinstance(exc, UserError):
        return {"kind": type(exc).__name__, "message": str(exc), "key": getattr(exc, "key", None)}
    # An architecture the builder cannot make (a shape error deep in torch) is still the
    # user's request: say what it was, in one line, without a traceback.
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return {"kind": "internal", "message": f"{type(exc).__name__}: {first}", "key": None}


def answer(request: dict[str, Any]) -> dict[str, Any]:
    op = OPS.get(str(request.get("op")))
    if op is None:
        return {"error": {"kind": "internal", "message": f"unknown op {request.get('op')!r}"}}
    try:
        return {"ok": op(dict(request.get("args") or {}))}
    except Exception as exc:
        return {"error": error_json(exc)}


def serve() -> None:
    """Answer one JSON request per stdin line with one JSON line, until stdin closes."""
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout = sys.stderr  # whatever the engine prints must not corrupt the answers
    torch.set_num_threads(1)  # never compete with a trainer for cores
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
        except ValueError:
            continue
        if not isinstance(request, dict):
            continue
        reply: dict[str, Any] = {**answer(request), "id": request.get("id")}
        out.write(json.dumps(reply, default=str) + "\n")
        out.flush()


if __name__ == "__main__":
    serve()
