"""What a front-end asks the engine for and what it gets back, as plain frozen dataclasses that
travel as JSON.

A request says what the user typed or chose (a preset, ``--set`` overrides, a form's config,
a name); ``engine.api`` turns it into a checked plan, refusing it with every problem at once.
The CLI builds requests from its options, the console from its forms; the console's helper
process receives them as JSON (``to_json`` / ``from_json``), so both ask the same question.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

R = TypeVar("R")


def _to_json(request: Any) -> dict[str, Any]:
    out = dataclasses.asdict(request)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def _from_json(cls: type[R], data: Mapping[str, Any]) -> R:
    """``cls`` from its JSON: unknown keys are ignored, lists become the tuples fields hold."""
    names = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs = {}
    for key, value in data.items():
        if key in names:
            kwargs[key] = tuple(value) if isinstance(value, list) else value
    return cls(**kwargs)


@dataclass(frozen=True)
class RunRequest:
    """One run: a preset (a name or a TOML file; None: the default preset) with ``--set``
    overrides, or a whole config from a form (``config``, nested ``{section: {key: value}}``,
    with ``preset`` naming where it came from)."""

    preset: str | None = None
    sets: tuple[str, ...] = ()
    config: Mapping[str, Any] | None = None
    name: str = ""
    nproc: int | None = None  # processes per machine (sets train.devices)
    nnodes: int = 1  # machines
    rdzv_endpoint: str = ""  # HOST:PORT where the machines meet

    def to_json(self) -> dict[str, Any]:
        return _to_json(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunRequest:
        request = _from_json(cls, data)
        config = data.get("config")
        return dataclasses.replace(request, config=dict(config) if config is not None else None)


@dataclass(frozen=True)
class SweepRequest:
    """A sweep (seed 004's grid search): ``grid`` texts ``KEY=V1,V2``, or ``search`` trials
    over ``ranges`` (``KEY=LOW:HIGH[:log][:int]``) and ``choices`` (``KEY=A,B``)."""

    preset: str | None = None
    sets: tuple[str, ...] = ()
    grid: tuple[str, ...] = ()
    ranges: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    search: int | None = None
    name: str = ""
    prune: bool = True
    prune_startup: int = 3
    seed: int = 0
    parallel: int | None = None  # trials at once
    storage: str = ""  # where the Optuna study lives ("": a journal beside the store)

    def to_json(self) -> dict[str, Any]:
        return _to_json(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SweepRequest:
        return _from_json(cls, data)


@dataclass(frozen=True)
class AblationRequest:
    """An ablation (seed 002): the preset's run and one run per removed component."""

    preset: str | None = None
    remove: tuple[str, ...] = ()  # relu | bn | skip
    sets: tuple[str, ...] = ()
    name: str = ""

    def to_json(self) -> dict[str, Any]:
        return _to_json(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AblationRequest:
        return _from_json(cls, data)


@dataclass(frozen=True)
class StackRequest:
    """A stacked ensemble (seed 000) of finished runs (ids, id prefixes or names)."""

    members: tuple[str, ...] = ()
    name: str = ""
    sets: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return _to_json(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StackRequest:
        return _from_json(cls, data)


@dataclass(frozen=True)
class Launched:
    """A process the engine started: what it trains and its pid."""

    what: str  # a run id, a sweep name, an ablation group
    pid: int
    run_ids: tuple[str, ...] = field(default_factory=tuple)
    log: str = ""  # the file its output goes to ("": not said)

    def to_json(self) -> dict[str, Any]:
        return _to_json(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Launched:
        return _from_json(cls, data)
