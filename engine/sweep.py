"""Sweeps: many runs of one preset over a grid or an Optuna search, queued over the devices.

A sweep is a document ``runs/sweeps/<name>.json`` plus an Optuna study of the same name,
kept in any Optuna storage (default: the journal file ``runs/sweeps/<name>.journal``).
Every trial is an ordinary run of the store, with ``sweep``, ``trial`` and ``sweep_params``
fields, trained by its own ``resnet-tui train --resume RUN`` process
(``engine.runner.launch_detached``): a trial outlives the sweep process like any detached
run. ``run_sweep`` keeps ``parallel`` trials going (one per GPU by default, each with its
``CUDA_VISIBLE_DEVICES``), follows their metrics.jsonl, reports each epoch's val_acc to the
study and, in a search, stops trials the study's MedianPruner finds hopeless.

The study is the queue, not a scheduler of ours: a trial is ``ask``-ed from it and ``tell``-ed
when its run ends (finished: its best val_acc; failed: FAIL; pruned: PRUNED). A trial whose
run is stopped or crashed stays RUNNING in the study, owned by this machine's run store, and
is resumed when the sweep starts again; runs still alive are adopted, not started twice.
Several machines share one study through a shared storage URL (``--join``; docs/SCALE.md).

The functions the TUI needs return plain data: ``list_sweeps``, ``sweep_summary``,
``resolve_sweep``; ``plan_sweep`` + ``create_sweep`` + ``launch_sweep_detached`` start one.
Optuna and torch are imported only where a sweep runs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import itertools
import json
import math
import os
import random
import re
import signal
import socket
import threading
import time
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.config import (
    SECTIONS,
    all_keys,
    deep_merge,
    from_dict,
    nest,
    parse_value,
    suggest_key,
)
from engine.errors import ConfigError, StoreError
from engine.store import RunStore, atomic_write, slugify

if TYPE_CHECKING:
    import optuna

SWEEPS_DIR = "sweeps"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
OBJECTIVE = "val_acc"  # the best checkpoint's val_acc (the run's ``best``), maximised
MAX_GRID = 10_000
PRUNE_STARTUP = 3  # trials that must finish before the MedianPruner prunes anything
ABANDON_S = 60.0  # a trial with no owner this long after ask() was orphaned by a kill
POLL_S = 0.5
FINAL = ("finished", "diverged", "failed")  # run statuses that end a trial for good
REGISTRY_KEYS = ("model.name", "optim.name", "schedule.name", "data.name")


def now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


# ---------------------------------------------------------------- what is swept


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

    def distribution(self) -> optuna.distributions.BaseDistribution:
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        if self.kind in ("grid", "choice"):
            return CategoricalDistribution(list(self.values))
        if self.kind == "int":
            return IntDistribution(int(self.low), int(self.high), log=self.log)
        return FloatDistribution(float(self.low), float(self.high), log=self.log)


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

    def distributions(self) -> dict[str, Any]:
        return {p.key: p.distribution() for p in self.params}


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
    from engine.presets import DEFAULT_PRESET, resolve

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


def check_names(spec: SweepSpec) -> None:
    """Refuse swept names the registries do not know (an unknown optimizer, model, ...)."""
    from engine.config import DataConfig

    for p in spec.params:
        if p.key not in REGISTRY_KEYS:
            continue
        for value in p.values:
            try:
                _check_registry(p.key, value, DataConfig(**{**spec.base["data"], "name": value}))
            except ConfigError as exc:
                flag = "--grid" if p.kind == "grid" else "--choice"
                raise ConfigError(f"{flag} {p.key}={value}: {exc}", p.key) from exc


def _check_registry(key: str, value: Any, data: Any) -> None:
    if key == "optim.name":
        from engine.optim import optimizer_info

        optimizer_info(value)
    elif key == "schedule.name":
        from engine.optim import schedule_info

        schedule_info(value)
    elif key == "model.name":
        from engine.models.registry import model_info

        model_info(value)
    elif key == "data.name":
        from engine.data import dataset_info

        dataset_info(data)


# ---------------------------------------------------------------- sweep documents


def sweeps_dir(store: RunStore) -> Path:
    return store.root / SWEEPS_DIR


def _path(store: RunStore, name: str, suffix: str = ".json") -> Path:
    if not NAME_RE.match(name):
        raise StoreError(f"'{name}' is not a sweep name; see `resnet-tui sweeps list`")
    return sweeps_dir(store) / f"{name}{suffix}"


def default_storage(store: RunStore, name: str) -> str:
    """The journal file next to the sweep's document (absolute: workers may run elsewhere)."""
    return str(_path(store, name, ".journal").resolve())


def _read(store: RunStore, name: str) -> dict[str, Any]:
    path = _path(store, name)
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise StoreError(
            f"no sweep '{name}' in {store.root}; see `resnet-tui sweeps list`"
        ) from None
    except (OSError, ValueError) as exc:
        raise StoreError(f"sweep file {path} is unreadable ({exc})") from exc
    if not isinstance(doc, dict) or "name" not in doc:
        raise StoreError(f"sweep file {path} is not a sweep document")
    return doc


def _write(store: RunStore, doc: dict[str, Any]) -> dict[str, Any]:
    folder = sweeps_dir(store)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create {folder}: {exc.strerror or exc}") from exc
    atomic_write(_path(store, doc["name"]), json.dumps(doc, indent=1).encode())
    return doc


def _update(store: RunStore, name: str, **fields: Any) -> dict[str, Any]:
    """Only the sweep's own process writes its document (it holds the sweep's lock)."""
    doc = _read(store, name)
    if "pid" in fields and fields["pid"] is not None:
        fields.setdefault("host", socket.gethostname())
        fields.setdefault("pid_start", store.process_identity(fields["pid"])["pid_start"])
    doc.update(fields)
    return _write(store, doc)


def _derive(store: RunStore, doc: dict[str, Any]) -> dict[str, Any]:
    if doc.get("status") == "running" and not store.is_alive(doc):
        return {**doc, "status": "crashed", "message": _resume_message(doc["name"], "crashed")}
    return doc


def _resume_message(name: str, what: str) -> str:
    return f"the sweep process {what}; continue it with `resnet-tui sweep --resume {name}`"


def get_sweep(store: RunStore, name: str) -> dict[str, Any]:
    """A sweep's document; a sweep marked running whose process is gone shows as crashed."""
    return _derive(store, _read(store, name))


def resolve_sweep(store: RunStore, ref: str) -> str:
    """A sweep name from an exact name or a unique prefix."""
    names = _names(store)
    if ref in names:
        return ref
    matches = [n for n in names if ref and n.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise StoreError(f"no sweep '{ref}' in {store.root}; see `resnet-tui sweeps list`")
    raise StoreError(f"'{ref}' matches {len(matches)} sweeps: {', '.join(matches)}")


def _names(store: RunStore) -> list[str]:
    try:
        return sorted(p.stem for p in sweeps_dir(store).glob("*.json") if NAME_RE.match(p.stem))
    except OSError:
        return []


def existing_sweep(store: RunStore, spec: SweepSpec, storage: str = "") -> dict[str, Any] | None:
    """The sweep ``spec`` names when it was recorded already with the same request (None when
    there is none); a sweep of that name with another request is refused (StoreError)."""
    if not _path(store, spec.name).exists():
        return None
    doc = _read(store, spec.name)
    if SweepSpec.from_dict(doc["spec"]).request() != spec.request():
        raise StoreError(
            f"sweep '{spec.name}' exists with a different definition; give another "
            f"--name, or continue it with `resnet-tui sweep --resume {spec.name}`"
        )
    if storage and storage != doc["storage"]:
        raise StoreError(f"sweep '{spec.name}' keeps its study in {doc['storage']}, not {storage}")
    return doc


def create_sweep(store: RunStore, spec: SweepSpec, storage: str = "") -> dict[str, Any]:
    """Record the sweep and create its study; the same request again finds the same sweep
    (``existing_sweep``)."""
    doc = existing_sweep(store, spec, storage)
    if doc is not None:
        return doc
    storage = storage or default_storage(store, spec.name)
    doc = {
        "id": spec.name,
        "name": spec.name,
        "kind": "sweep",
        "mode": spec.mode,
        "preset": spec.preset,
        "spec": spec.to_dict(),
        "storage": storage,
        "status": "queued",
        "pid": None,
        "host": None,
        "created": now(),
        "started": None,
        "finished": None,
        "message": "",
    }
    _write(store, doc)
    try:
        open_study(spec, storage)  # create it now: --join and the TUI find it
    except BaseException:
        _path(store, spec.name).unlink(missing_ok=True)
        raise
    return doc


def join_sweep(store: RunStore, name: str, storage: str) -> dict[str, Any]:
    """This run store as one more worker of the study ``name`` in ``storage``."""
    study = _load_study(name, storage)
    data = study.user_attrs.get("sweep")
    if not isinstance(data, dict):
        raise StoreError(f"study '{name}' in {storage} was not made by `resnet-tui sweep`")
    spec = SweepSpec.from_dict(data)
    return create_sweep(store, spec, storage)


# ---------------------------------------------------------------- the study


def open_storage(url: str) -> Any:
    """An Optuna storage: a journal file (a path), ``redis://`` (journal) or an RDB URL."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalRedisBackend

    if url.startswith(("redis://", "rediss://")):
        return JournalStorage(JournalRedisBackend(url))
    if "://" in url:
        try:
            return optuna.storages.RDBStorage(url)
        except Exception as exc:  # a driver missing, a server unreachable
            raise StoreError(f"--storage {url}: {str(exc).splitlines()[0]}") from exc
    path = Path(url)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"--storage {url}: cannot create its folder ({exc})") from exc
    return JournalStorage(JournalFileBackend(str(path)))


def _quiet_optuna() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


def _load_study(name: str, storage: str) -> optuna.Study:
    import optuna

    _quiet_optuna()
    try:
        return optuna.load_study(study_name=name, storage=open_storage(storage))
    except KeyError:
        raise StoreError(f"no study '{name}' in {storage}") from None


def open_study(spec: SweepSpec, storage: str) -> optuna.Study:
    """Create or load the study; refuse one that another request made."""
    import optuna

    _quiet_optuna()
    backend = open_storage(storage)
    # A grid's trials all come from the study's queue (enqueue_trial), so its sampler never
    # picks a value; a search samples with TPE.
    sampler: optuna.samplers.BaseSampler = (
        optuna.samplers.RandomSampler(seed=spec.seed)
        if spec.mode == "grid"
        else optuna.samplers.TPESampler(seed=spec.seed)
    )
    pruner: optuna.pruners.BasePruner = (
        optuna.pruners.MedianPruner(n_startup_trials=spec.prune_startup, n_warmup_steps=0)
        if spec.prune
        else optuna.pruners.NopPruner()
    )
    study = optuna.create_study(
        storage=backend,
        study_name=spec.name,
        direction="maximize",
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )
    stored = study.user_attrs.get("sweep")
    if stored is None:
        study.set_user_attr("sweep", spec.to_dict())
    elif SweepSpec.from_dict(stored).request() != spec.request():
        raise StoreError(
            f"the study '{spec.name}' in {storage} belongs to another sweep definition"
        )
    if spec.mode == "search":
        # A restarted TPE must not replay the random draws of the previous process.
        study.sampler = optuna.samplers.TPESampler(seed=spec.seed + len(study.trials))
    return study


# ---------------------------------------------------------------- devices


def visible_gpus() -> list[str]:
    """The GPUs trials may use: CUDA_VISIBLE_DEVICES when set, else every CUDA device."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d.strip() for d in env.split(",") if d.strip() and d.strip() != "-1"]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except Exception:
        return []


def device_slots(spec: SweepSpec, parallel: int | None) -> list[dict[str, str] | None]:
    """One environment per concurrent trial: on GPUs each slot gets its own device(s) through
    CUDA_VISIBLE_DEVICES (``train.devices`` of them); on the CPU one slot unless asked."""
    train = spec.base.get("train", {})
    device = str(train.get("device", "auto"))
    per_trial = max(1, int(train.get("devices", 1)))
    gpus = visible_gpus() if device == "auto" or device.startswith("cuda") else []
    if not gpus:
        return [None] * max(1, parallel or 1)
    groups = [gpus[i : i + per_trial] for i in range(0, len(gpus) - per_trial + 1, per_trial)]
    groups = groups or [gpus]
    count = parallel or len(groups)
    return [
        dict(os.environ, CUDA_VISIBLE_DEVICES=",".join(groups[i % len(groups)]))
        for i in range(count)
    ]


# ---------------------------------------------------------------- events


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


# ---------------------------------------------------------------- the driver


class SweepStop:
    """SIGINT/SIGTERM: the first stops the trials gracefully and waits for their checkpoints;
    a second leaves at once (the trials, already signalled, stop by themselves)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> bool:
        return self.count > 0

    def request(self, *_: Any) -> None:
        self.count += 1

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self.request)
        if hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, signal.SIG_IGN)


@dataclass
class _Active:
    trial: int
    run_id: str
    pid: int
    child: bool  # started by this process (reaped with waitpid) or adopted
    slot: int | None
    reader: Any
    pruned: bool = False
    epochs: set[int] = field(default_factory=set)  # reported (a resume rewrites the file)


class _Driver:
    def __init__(
        self,
        store: RunStore,
        spec: SweepSpec,
        study: optuna.Study,
        slots: list[dict[str, str] | None],
        emit: Callable[[SweepEvent], None],
    ) -> None:
        self.store, self.spec, self.study, self.slots, self.emit = store, spec, study, slots, emit
        self.worker = f"{socket.gethostname()}:{store.root.resolve()}"
        self.active: dict[str, _Active] = {}
        self.pending: list[str] = []  # runs to resume, in trial order
        self.attempted: set[str] = set()  # runs started by this process: never twice
        self.distributions = spec.distributions()
        self.rng = random.Random()

    # ------------------------------------------------------------ study views

    def _trials(self) -> list[optuna.trial.FrozenTrial]:
        return self.study.get_trials(deepcopy=False)

    def _runs(self) -> dict[int, dict[str, Any]]:
        return {
            int(doc["trial"]): doc
            for doc in self.store.list_runs()
            if doc.get("sweep") == self.spec.name and isinstance(doc.get("trial"), int)
        }

    @staticmethod
    def _counts(t: optuna.trial.FrozenTrial) -> bool:
        """A trial that takes a place in the sweep (an abandoned orphan does not)."""
        return not t.user_attrs.get("abandoned")

    def _orphans(self, trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
        from optuna.trial import TrialState

        return [
            t
            for t in trials
            if t.state == TrialState.RUNNING and "worker" not in t.user_attrs and self._counts(t)
        ]

    def _more_trials(self, trials: list[optuna.trial.FrozenTrial]) -> bool:
        from optuna.trial import TrialState

        if any(t.state == TrialState.WAITING for t in trials):
            return True
        if self.spec.mode == "search":
            return sum(1 for t in trials if self._counts(t)) < self.spec.trials
        return bool(self._remaining_points(trials))

    def _remaining_points(self, trials: list[optuna.trial.FrozenTrial]) -> list[dict[str, Any]]:
        covered = {_point_key(t.params) for t in trials if self._counts(t) and t.params}
        return [p for p in self.spec.grid_points() if _point_key(p) not in covered]

    # ------------------------------------------------------------ start-up

    def reconcile(self) -> None:
        """Bring the study and the store into agreement after an earlier process was killed:
        tell the study how ended runs ended, create the run of a trial asked but never
        recorded, give up trials orphaned between ask() and the owner mark; queue stopped or
        crashed trials for resuming and adopt those still training."""
        from optuna.trial import TrialState

        runs = self._runs()
        for t in self._trials():
            if t.state != TrialState.RUNNING:
                continue
            owner = t.user_attrs.get("worker")
            if owner is None:
                self._abandon_if_stale(t)
                continue
            if owner != self.worker:
                continue
            doc = runs.get(t.number)
            if doc is None:
                if "run_id" in t.user_attrs:
                    self._tell(t.number, "fail", f"its run {t.user_attrs['run_id']} was deleted")
                    continue
                doc = self._create_run(t.number, dict(t.params))
                if doc is None:
                    continue
            doc = self.store.get(doc["id"])
            if doc["status"] in ("queued", "running") and self.store.is_alive(doc):
                self._adopt(t.number, doc)
            elif self._is_final(doc):
                self._conclude(t.number, doc)
            else:
                self.pending.append(doc["id"])

    def _abandon_if_stale(self, t: optuna.trial.FrozenTrial) -> None:
        started = t.datetime_start
        if started is None or (dt.datetime.now() - started).total_seconds() < ABANDON_S:
            return
        self.study._storage.set_trial_user_attr(t._trial_id, "abandoned", True)
        self._tell(t.number, "fail", "abandoned: its sweep process was killed before it began")

    def _adopt(self, number: int, doc: dict[str, Any]) -> None:
        self.active[doc["id"]] = _Active(
            number, doc["id"], int(doc["pid"]), False, None, self.store.metrics_reader(doc["id"])
        )
        self.emit(
            TrialStarted(number, doc["id"], doc.get("sweep_params") or {}, True, adopted=True)
        )

    # ------------------------------------------------------------ trials

    def _free_slot(self) -> int | None:
        if len(self.active) >= len(self.slots):
            return None
        used = {a.slot for a in self.active.values()}
        return next(i for i in range(len(self.slots)) if i not in used)

    def _ask(self) -> optuna.trial.Trial | None:
        """The next trial from the study (None: the grid ran out meanwhile)."""
        from optuna.trial import TrialState

        if self.spec.mode == "search":
            trial = self.study.ask(self.distributions)
            trial.set_user_attr("worker", self.worker)
            return trial
        while True:
            trials = self._trials()
            if not any(t.state == TrialState.WAITING for t in trials):
                remaining = self._remaining_points(trials)
                if not remaining:
                    return None
                # A random point: workers sharing the study rarely pick the same one. It is
                # enqueued with its owner, so a kill right after ask() leaves nothing unowned.
                point = self.rng.choice(remaining)
                self.study.enqueue_trial(point, user_attrs={"worker": self.worker, "queued": True})
            trial = self.study.ask(self.distributions)
            trial.set_user_attr("worker", self.worker)
            if trial.user_attrs.get("queued"):
                return trial
            # another worker took the queued point: this one would be a random draw
            trial.set_user_attr("abandoned", True)
            self.study.tell(trial, state=TrialState.FAIL)

    def _create_run(self, number: int, params: dict[str, Any]) -> dict[str, Any] | None:
        """The run of trial ``number``; a config the trial makes invalid is recorded as a
        failed run (the sweep goes on)."""
        config = self.spec.config_dict(params)
        error = ""
        try:
            config = from_dict(config).to_dict()
        except ConfigError as exc:
            error = str(exc)
        doc = self.store.create_run(
            config,
            name=f"{self.spec.name}-{number}",
            preset=self.spec.preset,
            extra={"sweep": self.spec.name, "trial": number, "sweep_params": params},
        )
        self.study._storage.set_trial_user_attr(self._trial_id(number), "run_id", doc["id"])
        if error:
            doc = self.store.set_status(doc["id"], "failed", f"the trial's config: {error}")
            self._conclude(number, doc)
            return None
        return doc

    def _trial_id(self, number: int) -> int:
        for t in self._trials():
            if t.number == number:
                return int(t._trial_id)
        raise StoreError(f"trial {number} is not in study {self.spec.name}")

    def _start(self, run_id: str, slot: int, resumed: bool) -> None:
        from engine.runner import launch_detached

        doc = self.store.get(run_id)
        number = int(doc["trial"])
        self.attempted.add(run_id)
        try:
            pid = launch_detached(self.store, run_id, env=self.slots[slot])
        except (OSError, StoreError) as exc:
            doc = self.store.set_status(run_id, "failed", f"could not start the trial: {exc}")
            self._conclude(number, doc)
            return
        reader = self.store.metrics_reader(run_id)
        self.active[run_id] = _Active(number, run_id, pid, True, slot, reader)
        self.emit(TrialStarted(number, run_id, doc.get("sweep_params") or {}, resumed))

    def _new_trial(self, slot: int) -> None:
        trial = self._ask()
        if trial is None:
            return
        doc = self._create_run(trial.number, dict(trial.params))
        if doc is not None:
            self._start(doc["id"], slot, resumed=False)

    # ------------------------------------------------------------ following trials

    def _alive(self, a: _Active) -> bool:
        if a.child:
            try:
                pid, _ = os.waitpid(a.pid, os.WNOHANG)
            except ChildProcessError:  # reaped already (subprocess reaps orphaned Popens)
                return False
            return pid == 0
        return self.store.is_alive(self.store.get(a.run_id))

    def poll(self) -> None:
        for run_id, a in list(self.active.items()):
            batch = a.reader.poll()
            epochs = [m for m in batch.records if m.get("kind") == "epoch"]
            for m in epochs:
                self._report(a, m)
            if not self._alive(a):
                del self.active[run_id]
                self._finish(a)

    def _report(self, a: _Active, m: dict[str, Any]) -> None:
        """Report an epoch's val_acc to the trial (once per epoch, also after a resume)."""
        import optuna

        epoch, value = int(m["epoch"]), m.get(OBJECTIVE)
        if epoch in a.epochs or not isinstance(value, int | float) or not math.isfinite(value):
            return
        a.epochs.add(epoch)
        self.emit(TrialEpoch(a.trial, a.run_id, epoch, float(value)))
        try:
            trial_id = self._trial_id(a.trial)
        except StoreError:
            return
        frozen = self.study._storage.get_trial(trial_id)
        if frozen.state != optuna.trial.TrialState.RUNNING:
            return
        trial = optuna.trial.Trial(self.study, trial_id)
        if epoch not in frozen.intermediate_values:
            trial.report(float(value), epoch)
        if self.spec.prune and not a.pruned and trial.should_prune():
            self._prune(a, epoch, float(value))

    def _prune(self, a: _Active, epoch: int, value: float) -> None:
        median = _median_at(self._trials(), epoch, a.trial)
        message = (
            f"pruned by sweep {self.spec.name} after epoch {epoch}: val_acc {value:.4f} "
            + (f"below the median {median:.4f} of earlier trials" if median is not None else "")
        ).strip()
        a.pruned = True
        self.store.update(a.run_id, pruned=True, pruned_message=message)  # first: survives a kill
        self._signal(a)
        self.emit(TrialPruned(a.trial, a.run_id, epoch, message))

    def _signal(self, a: _Active) -> None:
        try:
            os.kill(a.pid, signal.SIGTERM)  # the trainer finishes the step and checkpoints
        except ProcessLookupError:
            pass

    def _finish(self, a: _Active) -> None:
        doc = self.store.get(a.run_id)
        if doc["status"] in ("queued", "running"):
            doc = self.store.mark_crashed(a.run_id)
            doc = self.store.get(a.run_id)
        self._conclude(a.trial, doc)

    def _is_final(self, doc: dict[str, Any]) -> bool:
        return doc["status"] in FINAL or _was_pruned(doc)

    def _conclude(self, number: int, doc: dict[str, Any]) -> None:
        """Tell the study how trial ``number``'s run ended; stopped and crashed runs stay
        open (resumed when the sweep starts again)."""
        status = doc["status"]
        value = _objective(doc)
        if status == "finished" and doc.get("pruned"):
            self.store.update(doc["id"], pruned=False)  # it ended before the stop arrived
        if status in ("finished", "diverged"):
            self._tell(number, "complete", value=value if value is not None else 0.0)
        elif status == "failed":
            self._tell(number, "fail", doc.get("message", ""))
        elif _was_pruned(doc):
            message = doc.get("pruned_message") or f"pruned by sweep {self.spec.name}"
            if doc.get("message") != message:
                self.store.update(doc["id"], message=message)
            self._tell(number, "pruned")
            status = "pruned"
            doc = {**doc, "message": message}
        self.emit(TrialEnded(number, doc["id"], status, value, doc.get("message", "")))

    def _tell(self, number: int, how: str, note: str = "", value: float = 0.0) -> None:
        from optuna.trial import TrialState

        if note:
            try:
                self.study._storage.set_trial_user_attr(self._trial_id(number), "note", note)
            except Exception:  # the trial is finished already
                pass
        if how == "complete":
            self.study.tell(number, value, skip_if_finished=True)
        else:
            state = TrialState.FAIL if how == "fail" else TrialState.PRUNED
            self.study.tell(number, state=state, skip_if_finished=True)

    # ------------------------------------------------------------ the loop

    def run(self, stop: Callable[[], bool], poll_s: float = POLL_S) -> None:
        self.reconcile()
        stopping = False
        while True:
            if stop() and not stopping:
                stopping = True
                for a in self.active.values():
                    self._signal(a)
            self.poll()
            if stopping:
                if not self.active or getattr(stop, "count", 1) > 1:
                    return
                time.sleep(poll_s)
                continue
            trials = self._trials()
            self._abandon_orphans(trials)
            while (slot := self._free_slot()) is not None:
                if self.pending:
                    run_id = self.pending.pop(0)
                    if run_id not in self.attempted:
                        self._start(run_id, slot, resumed=True)
                    continue
                if not self._more_trials(self._trials()):
                    break
                self._new_trial(slot)
            if not self.active and not self.pending:
                trials = self._trials()
                if not self._more_trials(trials) and not self._orphans(trials):
                    return
            time.sleep(poll_s)

    def _abandon_orphans(self, trials: list[optuna.trial.FrozenTrial]) -> None:
        for t in self._orphans(trials):
            self._abandon_if_stale(t)

    def outstanding(self) -> list[int]:
        """Trials of this worker still open in the study (stopped or crashed runs)."""
        from optuna.trial import TrialState

        return [
            t.number
            for t in self._trials()
            if t.state == TrialState.RUNNING and t.user_attrs.get("worker") == self.worker
        ]


def _point_key(params: dict[str, Any]) -> str:
    return json.dumps(sorted(params.items()), default=str)


def _was_pruned(doc: dict[str, Any]) -> bool:
    return trial_status(doc) == "pruned"


def _objective(doc: dict[str, Any]) -> float | None:
    value = (doc.get("best") or {}).get(OBJECTIVE)
    return float(value) if isinstance(value, int | float) else None


def _median_at(trials: list[Any], epoch: int, exclude: int) -> float | None:
    values = sorted(
        t.intermediate_values[epoch]
        for t in trials
        if t.number != exclude and epoch in t.intermediate_values
    )
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def run_sweep(
    store: RunStore,
    name: str,
    *,
    parallel: int | None = None,
    on_event: Callable[[SweepEvent], None] | None = None,
    stop: SweepStop | None = None,
    poll_s: float = POLL_S,
) -> dict[str, Any]:
    """Run (or continue) sweep ``name`` until every trial has ended or a stop is requested;
    returns its final document. One sweep process per run store at a time (a lock)."""
    from filelock import FileLock, Timeout

    doc = get_sweep(store, name)
    spec = SweepSpec.from_dict(doc["spec"])
    if parallel is not None and parallel < 1:
        raise StoreError(f"--parallel: must be at least 1, got {parallel}")
    lock = FileLock(str(_path(store, name, ".lock")))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise StoreError(
            f"sweep {name} is already running from this run store (pid {doc.get('pid')}); "
            "use --parallel for more trials at once, or stop it with "
            f"`resnet-tui sweeps stop {name}`"
        ) from None
    emit = on_event or (lambda _e: None)
    stop = stop or SweepStop()
    stop.install()
    try:
        study = open_study(spec, doc["storage"])
        slots = device_slots(spec, parallel)
        _update(
            store,
            name,
            status="running",
            pid=os.getpid(),
            started=doc.get("started") or now(),
            finished=None,
            message="",
            parallel=len(slots),
        )
        driver = _Driver(store, spec, study, slots, emit)
        try:
            driver.run(stop, poll_s)
        except BaseException as exc:
            if not isinstance(exc, KeyboardInterrupt | SystemExit):
                _update(store, name, status="crashed", message=f"the sweep failed: {exc!r}")
            raise
        left = driver.outstanding()
        if stop():
            status = "stopped"
            message = _resume_message(name, "was stopped") + (
                f" ({len(left)} trial{'s' if len(left) > 1 else ''} to resume)" if left else ""
            )
        elif left:
            status = "incomplete"
            message = (
                f"trials {', '.join(map(str, left))} stopped or crashed; "
                f"resume them with `resnet-tui sweep --resume {name}`"
            )
        else:
            status, message = "finished", f"{spec.trials} trials"
        emit(SweepEnded(status, message))
        return _update(store, name, status=status, message=message, finished=now())
    finally:
        lock.release()


def launch_sweep_detached(store: RunStore, name: str, parallel: int | None = None) -> int:
    """``resnet-tui sweep --resume NAME`` in its own session, output to sweeps/NAME.log."""
    from engine.runner import cli_command, spawn_detached

    command = cli_command(store.root, "sweep", "--resume", name, "--quiet")
    if parallel:
        command += ["--parallel", str(parallel)]
    return spawn_detached(command, _path(store, name, ".log")).pid


def request_sweep_stop(store: RunStore, name: str) -> None:
    """SIGTERM the sweep process: its trials stop at a checkpoint, the sweep is stopped."""
    doc = get_sweep(store, name)
    if doc["status"] != "running" or not doc.get("pid"):
        raise StoreError(f"sweep {name} is {doc['status']}, not running")
    if doc.get("host") != socket.gethostname():
        raise StoreError(f"sweep {name} runs on {doc.get('host')}; stop it there")
    try:
        os.kill(int(doc["pid"]), signal.SIGTERM)
    except ProcessLookupError:
        raise StoreError(f"sweep {name}: its process is gone") from None


def delete_sweep(store: RunStore, name: str, with_runs: bool = False) -> list[str]:
    """Remove a sweep: its document, log, lock and (when it is the default journal file in
    the store) its Optuna study. Its trials stay as ordinary runs (``former_sweep`` says
    whose, with their ``trial`` and ``sweep_params``) unless ``with_runs``; then they are
    deleted too. Returns the deleted run ids. Refused while the sweep runs or, with
    ``with_runs``, while one of its trials trains (nothing is removed then)."""
    doc = get_sweep(store, name)
    if doc.get("status") == "running":
        raise StoreError(f"sweep {name} is running; stop it first (x, or `sweeps stop {name}`)")
    trials = [d for d in store.list_runs() if d.get("sweep") == name]
    if with_runs:
        busy = [d["id"] for d in trials if d.get("status") in ("queued", "running")]
        busy = [i for i in busy if store.is_alive(store.get(i))]
        if busy:
            raise StoreError(f"sweep {name}: trial run {busy[0]} is training; stop it first")
    deleted = []
    for d in trials:
        if with_runs:
            store.delete(d["id"])
            deleted.append(str(d["id"]))
        else:  # an ordinary run now: the same request again makes a sweep of the same name,
            # which must not count these as its trials
            store.update(d["id"], sweep=None, former_sweep=name)
    journal = _path(store, name, ".journal").resolve()
    paths = [_path(store, name, suffix) for suffix in (".json", ".log", ".lock")]
    if doc.get("storage") == str(journal):
        paths.append(journal)
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot remove {path}: {exc.strerror or exc}") from exc
    return deleted


# ---------------------------------------------------------------- tables (plain data)


def trial_status(doc: dict[str, Any]) -> str:
    """A trial the sweep stopped as hopeless reads "pruned"."""
    status = str(doc.get("status") or "?")
    return "pruned" if doc.get("pruned") and status in ("stopped", "crashed") else status


def _trial_number(doc: dict[str, Any]) -> int:
    value = doc.get("trial")
    return value if isinstance(value, int) and not isinstance(value, bool) else 1 << 30


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def rows_from_runs(runs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """One row per trial run of sweep ``name`` among the run documents ``runs``, in trial
    order (the console calls this on the documents it already holds)."""
    docs = [d for d in runs if d.get("sweep") == name]
    docs.sort(key=lambda d: (_trial_number(d), str(d.get("id"))))
    return [
        {
            "trial": d.get("trial"),
            "run": d["id"],
            "name": d.get("name", ""),
            "status": trial_status(d),
            "params": dict(d.get("sweep_params") or {}),
            "val_acc": _number((d.get("best") or {}).get(OBJECTIVE)),
            "test_acc": _number((d.get("test") or {}).get("test_acc")),
            "best_epoch": (d.get("best") or {}).get("best_epoch"),
            "epoch": d.get("epoch") or 0,
            "epochs": d.get("epochs"),
            "message": d.get("message", ""),
        }
        for d in docs
    ]


def trial_rows(store: RunStore, name: str) -> list[dict[str, Any]]:
    """One row per trial run of sweep ``name`` (this run store), in trial order."""
    return rows_from_runs(store.list_runs(), name)


def best_trial(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The finished trial with the best val accuracy (then test accuracy)."""
    done = [r for r in rows if r["status"] == "finished" and r["val_acc"] is not None]
    if not done:
        return None
    return max(done, key=lambda r: (r["val_acc"], r["test_acc"] or 0.0))


def by_param(rows: list[dict[str, Any]], keys: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Accuracy against each swept key (seed 003's "optimizer vs accuracy", "learning rate vs
    accuracy"): per value, the best val_acc over the other keys, the mean, and the test_acc of
    that best trial. Values are sorted (numbers ascending)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for key in keys:
        groups: dict[str, list[dict[str, Any]]] = {}
        values: dict[str, Any] = {}
        for r in rows:
            if key not in r["params"]:
                continue
            k = json.dumps(r["params"][key], default=str)
            groups.setdefault(k, []).append(r)
            values[k] = r["params"][key]
        table = []
        for k, members in groups.items():
            scored = [m for m in members if m["val_acc"] is not None]
            best = max(scored, key=lambda m: m["val_acc"]) if scored else None
            table.append(
                {
                    "value": values[k],
                    "trials": len(members),
                    "finished": sum(1 for m in members if m["status"] == "finished"),
                    "best_val_acc": best["val_acc"] if best else None,
                    "mean_val_acc": (
                        sum(m["val_acc"] for m in scored) / len(scored) if scored else None
                    ),
                    "test_acc": best["test_acc"] if best else None,
                    "best_trial": best["trial"] if best else None,
                }
            )
        table.sort(key=lambda row: _sort_value(row["value"]))
        out[key] = table
    return out


def _sort_value(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, int | float):
        return (1, value)
    return (2, str(value))


def status_counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return counts


def sweep_summary(store: RunStore, name: str) -> dict[str, Any]:
    """Everything a sweep view shows, as plain data::

    {"sweep": {...document...}, "keys": ["optim.name", ...], "planned": 9,
     "counts": {"finished": 7, "pruned": 1, ...}, "trials": [row, ...],
     "best": row | None, "by_param": {"optim.name": [{"value", "trials", "finished",
     "best_val_acc", "mean_val_acc", "test_acc", "best_trial"}, ...], ...}}
    """
    doc = get_sweep(store, name)
    spec = SweepSpec.from_dict(doc["spec"])
    rows = trial_rows(store, name)
    return {
        "sweep": {k: v for k, v in doc.items() if k != "spec"},
        "spec": [p.describe() for p in spec.params],
        "keys": spec.keys,
        "planned": spec.trials,
        "counts": status_counts(rows),
        "trials": rows,
        "best": best_trial(rows),
        "by_param": by_param(rows, spec.keys),
    }


def study_trials(store: RunStore, name: str) -> list[dict[str, Any]]:
    """Every trial of the sweep's study, from every machine that works on it (the tables
    above list this run store's trials only)."""
    doc = get_sweep(store, name)
    study = _load_study(name, doc["storage"])
    return [
        {
            "trial": t.number,
            "state": t.state.name.lower(),
            "params": dict(t.params),
            "value": t.value,
            "worker": t.user_attrs.get("worker"),
            "run": t.user_attrs.get("run_id"),
        }
        for t in study.get_trials(deepcopy=False)
        if not t.user_attrs.get("abandoned")
    ]


def read_sweeps(store: RunStore) -> tuple[list[dict[str, Any]], list[str]]:
    """(every sweep document of the store, newest first; why unreadable files were skipped).
    A sweep marked running whose process is gone shows as crashed, as ``get_sweep`` says."""
    docs, problems = [], []
    for name in _names(store):
        try:
            doc = get_sweep(store, name)
        except StoreError as exc:
            problems.append(str(exc))
            continue
        if not isinstance(doc.get("spec"), dict):
            problems.append(f"sweep file {_path(store, name)} is not a sweep document")
            continue
        docs.append({**doc, "name": name})
    docs.sort(key=lambda d: str(d.get("created") or ""), reverse=True)
    return docs, problems


def planned_trials(doc: dict[str, Any]) -> int | None:
    value = (doc.get("spec") or {}).get("trials")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def list_sweeps(store: RunStore, runs: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One row per sweep of the store, newest first (``runs``: the run documents, when the
    caller holds them already)."""
    runs = store.list_runs() if runs is None else runs
    docs, problems = read_sweeps(store)
    store.warnings.extend(problems)
    rows = []
    for doc in docs:
        trials = rows_from_runs(runs, doc["name"])
        counts = status_counts(trials)
        best = best_trial(trials)
        rows.append(
            {
                "name": doc["name"],
                "mode": doc.get("mode"),
                "preset": doc.get("preset"),
                "status": doc.get("status"),
                "planned": planned_trials(doc),
                "trials": len(trials),
                "finished": counts.get("finished", 0),
                "running": counts.get("queued", 0) + counts.get("running", 0),
                "best_val_acc": best["val_acc"] if best else None,
                "created": doc.get("created"),
                "message": doc.get("message", ""),
            }
        )
    return rows
