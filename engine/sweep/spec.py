"""What a sweep is: the swept keys (``Param``), the whole definition (``SweepSpec``) and
``plan_sweep``, which parses and checks a request without writing anything.

Torch- and optuna-free: the console previews a sweep as it is typed with ``plan_sweep``. The
registry names a sweep sweeps (models, optimizers...) are checked by ``engine.sweep.study``
``check_names``, which needs torch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import re
import typing
from dataclasses import dataclass, field
from typing import Any

from engine.config import (
    SECTIONS,
    all_keys,
    deep_merge,
    from_dict,
    nest,
    parse_value,
    suggest_key,
)
from engine.errors import ConfigError
from engine.presets import DEFAULT_PRESET, resolve
from engine.store import slugify

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MAX_GRID = 10_000
PRUNE_STARTUP = 3  # trials that must finish before the MedianPruner prunes anything
REGISTRY_KEYS = ("model.name", "optim.name", "schedule.name", "data.name")


@dataclass(frozen=True)
class Param:
    """One swept key: a list of values (grid, choice) or a numeric range (float, int)."""

    key: str
    kind: str  # "grid" | "choice" | "float" | "int"
    values: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 0.0
    log: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "kind": self.kind}
        if self.kind in ("grid", "choice"):
            out["values"] = list(self.values)
        else:
            out.update(low=self.low, high=self.high, log=self.log)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Param:
        return cls(
            key=data["key"],
            kind=data["kind"],
            values=tuple(data.get("values", ())),
            low=data.get("low", 0.0),
            high=data.get("high", 0.0),
            log=bool(data.get("log", False)),
        )

    def argument(self) -> str:
        """The text its option parses back into it: ``optim.lr=0.01,0.1`` or
        ``optim.lr=0.0001:0.1:log``."""
        if self.kind in ("grid", "choice"):
            shown = [str(v).lower() if isinstance(v, bool) else str(v) for v in self.values]
            return f"{self.key}={','.join(shown)}"
        flags = (":log" if self.log else "") + (":int" if self.kind == "int" else "")
        low, high = (int(self.low), int(self.high)) if self.kind == "int" else (self.low, self.high)
        return f"{self.key}={low}:{high}{flags}"

    def describe(self) -> str:
        if self.kind in ("grid", "choice"):
            return f"{self.key} in {{{', '.join(_show(v) for v in self.values)}}}"
        scale = ", log" if self.log else ""
        return f"{self.key} in [{_show(self.low)}, {_show(self.high)}] ({self.kind}{scale})"


def _show(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _key_type(key: str) -> Any:
    section, _, name = key.partition(".")
    return typing.get_type_hints(SECTIONS[section])[name]


def _check_key(key: str, option: str) -> None:
    section, dot, name = key.partition(".")
    if not dot or not name or section not in SECTIONS:
        raise ConfigError(
            f"{option} '{key}': expected section.key (for example optim.lr); sections: "
            f"{', '.join(SECTIONS)}",
            key,
        )
    if key not in all_keys():
        raise ConfigError(f"{option}: unknown key '{key}'{suggest_key(section, name)}", key)


def _split_assignment(text: str, option: str, example: str) -> tuple[str, str]:
    key, eq, raw = text.partition("=")
    key, raw = key.strip(), raw.strip()
    if not eq or not key:
        raise ConfigError(f"{option} '{text}': expected KEY=..., e.g. {option} {example}")
    _check_key(key, option)
    return key, raw


def _parse_values(text: str, option: str, example: str) -> tuple[str, tuple[Any, ...]]:
    key, raw = _split_assignment(text, option, example)
    items = [item.strip() for item in raw.split(",")]
    if not raw or not all(items):
        raise ConfigError(
            f"{option} '{text}': give one or more comma-separated values, e.g. {option} {example}",
            key,
        )
    values = tuple(parse_value(item) for item in items)
    for value in values:
        if not isinstance(value, str | int | float | bool):
            raise ConfigError(
                f"{option} {key}: {value!r} is not a single value (lists cannot be swept)", key
            )
    if len({json.dumps(v) for v in values}) < len(values):
        raise ConfigError(f"{option} '{text}': a value is given twice", key)
    return key, values


def parse_grid(text: str) -> Param:
    """``optim.name=sgd,adam,adadelta``: every value, in every combination with the others."""
    key, raw = _split_assignment(text, "--grid", "optim.lr=0.001,0.01,0.1")
    if re.fullmatch(r"[^,:]+:[^,:]+(:(log|int))*", raw):
        raise ConfigError(
            f"--grid {key}={raw}: LOW:HIGH is a range, and ranges are searched, not gridded: "
            f"use --search N --range {key}={raw} (in the console: mode search), or list the "
            f"grid's values: --grid {key}=V1,V2,...",
            key,
        )
    key, values = _parse_values(text, "--grid", "optim.lr=0.001,0.01,0.1")
    return Param(key, "grid", values)


def parse_choice(text: str) -> Param:
    """``optim.name=sgd,adam``: a categorical parameter of a search."""
    key, values = _parse_values(text, "--choice", "optim.name=sgd,adam")
    return Param(key, "choice", values)


def parse_range(text: str) -> Param:
    """``optim.lr=1e-4:1e-1:log`` or ``train.epochs=5:20:int``: a numeric range of a search."""
    example = "optim.lr=1e-4:1e-1:log"
    key, raw = _split_assignment(text, "--range", example)
    parts = [p.strip() for p in raw.split(":")]
    if len(parts) < 2:
        raise ConfigError(
            f"--range '{text}': expected KEY=LOW:HIGH[:log][:int], e.g. --range {example}", key
        )
    flags = parts[2:]
    for flag in flags:
        if flag not in ("log", "int"):
            raise ConfigError(
                f"--range '{text}': unknown flag '{flag}'; flags are log and int", key
            )
    tp = _key_type(key)
    inner = [a for a in typing.get_args(tp) if a is not type(None)] or [tp]
    if inner[0] not in (int, float):
        raise ConfigError(
            f"--range {key}: ranges are for numbers and {key} is not one; use --choice {key}=A,B",
            key,
        )
    integer = "int" in flags or inner[0] is int
    bounds: list[float] = []
    for part in parts[:2]:
        try:
            number = int(part) if integer else float(part)
        except ValueError:
            kind = "an integer" if integer else "a number"
            raise ConfigError(f"--range '{text}': '{part}' is not {kind}", key) from None
        if not math.isfinite(number):
            raise ConfigError(f"--range '{text}': '{part}' is not finite", key)
        bounds.append(number)
    low, high = bounds
    if low >= high:
        raise ConfigError(f"--range '{text}': LOW must be below HIGH", key)
    log = "log" in flags
    if log and low <= 0:
        raise ConfigError(f"--range '{text}': a log range needs LOW > 0", key)
    return Param(key, "int" if integer else "float", (), low, high, log)


# ---------------------------------------------------------------- the sweep's definition


@dataclass(frozen=True)
class SweepSpec:
    """Everything that defines a sweep (the ``sweep`` attribute of its Optuna study)."""

    name: str
    preset: str
    sets: tuple[str, ...]
    mode: str  # "grid" | "search"
    params: tuple[Param, ...]
    trials: int  # grid: its size; search: how many trials to sample
    prune: bool  # search only: stop hopeless trials (MedianPruner on per-epoch val_acc)
    prune_startup: int
    seed: int
    base: dict[str, Any] = field(default_factory=dict)  # the resolved config before params

    def request(self) -> dict[str, Any]:
        """What a user asked for: two commands with the same request are the same sweep."""
        return {
            "preset": self.preset,
            "sets": list(self.sets),
            "mode": self.mode,
            "params": [p.to_dict() for p in self.params],
            "trials": self.trials,
            "prune": self.prune,
            "prune_startup": self.prune_startup,
            "seed": self.seed,
        }

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.request(), "base": self.base}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepSpec:
        return cls(
            name=data["name"],
            preset=data.get("preset", ""),
            sets=tuple(data.get("sets", ())),
            mode=data["mode"],
            params=tuple(Param.from_dict(p) for p in data["params"]),
            trials=int(data["trials"]),
            prune=bool(data.get("prune", False)),
            prune_startup=int(data.get("prune_startup", PRUNE_STARTUP)),
            seed=int(data.get("seed", 0)),
            base=dict(data.get("base", {})),
        )

    @property
    def keys(self) -> list[str]:
        return [p.key for p in self.params]

    def grid_points(self) -> list[dict[str, Any]]:
        keys = self.keys
        return [
            dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(p.values for p in self.params))
        ]

    def config_dict(self, params: dict[str, Any]) -> dict[str, Any]:
        """The trial's config, unvalidated (a trial whose config is refused is recorded)."""
        return deep_merge(self.base, nest(dict(params)))


def plan_sweep(
    preset: str | None,
    sets: list[str] | None = None,
    *,
    grid: list[str] | None = None,
    ranges: list[str] | None = None,
    choices: list[str] | None = None,
    search: int | None = None,
    name: str = "",
    prune: bool = True,
    prune_startup: int = PRUNE_STARTUP,
    seed: int = 0,
) -> SweepSpec:
    """Parse and check a sweep request; writes nothing. Every problem is a ConfigError."""
    grid, ranges, choices = list(grid or []), list(ranges or []), list(choices or [])
    if search is None:
        if ranges or choices:
            raise ConfigError("--range and --choice define a search: add --search N (trials)")
        if not grid:
            raise ConfigError(
                "nothing to sweep: give --grid KEY=V1,V2 (every combination) or --search N "
                "with --range/--choice"
            )
        params = tuple(parse_grid(g) for g in grid)
        mode = "grid"
    else:
        if grid:
            raise ConfigError(
                "--grid runs every combination and --search samples N trials; "
                "with --search use --choice KEY=V1,V2"
            )
        if search < 1:
            raise ConfigError(f"--search: the number of trials must be at least 1, got {search}")
        if not ranges and not choices:
            raise ConfigError("--search N needs what to search: --range KEY=LOW:HIGH or --choice")
        params = tuple(parse_range(r) for r in ranges) + tuple(parse_choice(c) for c in choices)
        mode = "search"
    seen: set[str] = set()
    for p in params:
        if p.key in seen:
            raise ConfigError(f"{p.key} is swept twice; give it once", p.key)
        seen.add(p.key)
    for fixed in sets or []:
        key = fixed.partition("=")[0].strip()
        if key in seen:
            raise ConfigError(
                f"{key} is swept and also fixed (--set {fixed.strip()}); the sweep would "
                "override the fixed value: drop one of them",
                key,
            )
    if prune_startup < 0:
        raise ConfigError(f"--prune-startup: must be 0 or more, got {prune_startup}")
    base_config, preset_name = resolve(preset, sets)
    base = base_config.to_dict()
    size = math.prod(len(p.values) for p in params) if mode == "grid" else int(search or 0)
    if mode == "grid" and size > MAX_GRID:
        raise ConfigError(f"the grid has {size:,} combinations; at most {MAX_GRID:,} please")
    spec = SweepSpec(
        name="",
        preset=preset_name or preset or DEFAULT_PRESET,
        sets=tuple(sets or ()),
        mode=mode,
        params=params,
        trials=size,
        prune=prune and mode == "search",
        prune_startup=prune_startup,
        seed=seed,
        base=base,
    )
    _check_values(spec)
    if name:
        if not NAME_RE.match(name):
            raise ConfigError(
                f"--name '{name}': use lower-case letters, digits, '-', '_' and '.' "
                "(at most 64, starting with a letter or digit)"
            )
    else:
        digest = hashlib.sha1(json.dumps(spec.request(), sort_keys=True).encode()).hexdigest()
        name = f"{slugify(spec.preset, 40) or 'sweep'}-{mode}-{digest[:6]}"
    return dataclasses.replace(spec, name=name)


def _check_values(spec: SweepSpec) -> None:
    """Every grid point (or every choice and both ends of every range) makes a valid config."""
    option = "--grid" if spec.mode == "grid" else None

    def check(params: dict[str, Any], what: str) -> None:
        try:
            from_dict(spec.config_dict(params))
        except ConfigError as exc:
            raise ConfigError(f"{what}: {exc}", exc.key) from exc

    if option:
        for point in spec.grid_points():
            shown = ", ".join(f"{k}={_show(v)}" for k, v in point.items())
            check(point, f"--grid point {shown}")
        return
    for p in spec.params:
        ends = p.values if p.kind == "choice" else (p.low, p.high)
        flag = "--choice" if p.kind == "choice" else "--range"
        for value in ends:
            check({p.key: int(value) if p.kind == "int" else value}, f"{flag} {p.key}={value}")
