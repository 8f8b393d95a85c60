"""``RunConfig``, building it from a dictionary, and every rule a config must satisfy.

``check_dict(data)`` is the one checker: it returns the config, or *every* problem at once
(unknown keys, wrong types, values out of range, inconsistent keys), each a ``ConfigError``
carrying its dotted key, so a form can mark every field and a preset can list every mistake.
``from_dict`` is its strict sibling: it raises the first of those errors.

Per-key rules (range, choices) are the fields' metadata (``engine.config.sections``); the
rules that involve several keys, or a list's shape, are the ``RULES`` below, each naming the
key its message belongs to and the keys it reads (it is skipped while one of those is
already wrong, so one mistake is reported once).
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from engine.config.dicts import deep_merge, nest, parse_value
from engine.config.meta import FieldInfo, describe_type
from engine.config.sections import (
    CHOICES,
    SECTIONS,
    AugmentConfig,
    DataConfig,
    ModelConfig,
    OptimConfig,
    ScheduleConfig,
    TrainConfig,
    field_infos,
    suggest_key,
)
from engine.errors import ConfigError, nearest


@dataclass(frozen=True)
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}

    def replace(self, overrides: dict[str, Any]) -> RunConfig:
        """A new config with ``{"section.key": value}`` or nested overrides applied and checked."""
        return from_dict(deep_merge(self.to_dict(), nest(overrides)))


# ---------------------------------------------------------------- types


_DECIMAL = re.compile(r"[+-]?[0-9]+")


def coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp``; ints widen to floats, nothing else."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return coerce(value, inner, key)
    if origin is list:
        (item,) = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            value = [value] if not isinstance(value, dict) else value
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected {describe_type(tp)}, got {value!r}", key)
        return [coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp in (int, float) and isinstance(value, str) and _DECIMAL.fullmatch(value):
        value = int(value)  # "03": TOML has no leading zeros, a person typing a number does
    ok = (
        (tp is bool and isinstance(value, bool))
        or (tp is int and isinstance(value, int) and not isinstance(value, bool))
        or (tp is float and isinstance(value, int | float) and not isinstance(value, bool))
        or (tp is str and isinstance(value, str))
    )
    if not ok:
        choices = CHOICES.get(key)
        one_of = f"; one of {', '.join(map(str, choices))}" if choices else ""
        raise ConfigError(
            f"{key}: expected {describe_type(tp)}, got {value!r} ({type(value).__name__})" + one_of,
            key,
        )
    if tp is float:
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{key}: expected a finite number, got {value}", key)
    return value


def read_field(info: FieldInfo, text: str) -> tuple[Any, str | None]:
    """The typed value of what a user typed for key ``info``, or (None, what to type): the form
    reads its inputs with this (``--set`` values go through ``parse_override``)."""
    text = text.strip()
    if not text:
        if info.optional:
            return None, None
        if info.is_list:
            return [], None
        if info.base is str:
            return "", None
        return None, f"{info.key}: needs {describe_type(info.base)}"
    if info.base is str:
        return text, None
    if info.is_list and "," not in text and not text.startswith("["):
        text = ",".join(text.split()) + ("," if len(text.split()) == 1 else "")
    try:
        return coerce(parse_value(text), info.type, info.key), None
    except ConfigError as exc:
        return None, str(exc)


# ---------------------------------------------------------------- checking


@dataclass(frozen=True)
class ConfigCheck:
    """What ``check_dict`` found: the config when nothing is wrong, else every problem."""

    config: RunConfig | None
    errors: tuple[ConfigError, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors

    def by_key(self) -> dict[str | None, str]:
        """Each key's first message (a form shows one per row); None for sectionless ones."""
        out: dict[str | None, str] = {}
        for error in self.errors:
            out.setdefault(base_key(error.key), str(error))
        return out

    def unwrap(self) -> RunConfig:
        """The config, or the first error raised (what ``from_dict`` does)."""
        if self.errors or self.config is None:
            raise self.errors[0]
        return self.config


@cache
def _hints(cls: type) -> dict[str, Any]:
    """A section's annotations, resolved once (``get_type_hints`` costs ~0.3 ms a call)."""
    return typing.get_type_hints(cls)


def base_key(key: str | None) -> str | None:
    """'model.layers[2]' -> 'model.layers': the field a list entry's error belongs to."""
    return key.split("[", 1)[0] if key else key


def check_dict(data: Mapping[str, Any]) -> ConfigCheck:
    """Build a RunConfig from nested ``{section: {key: value}}`` data (missing keys take their
    defaults) and report every problem at once, in the order found: unknown sections and keys
    and wrong types as the data lists them, then the values' rules."""
    errors: list[ConfigError] = []
    sections: dict[str, Any] = {}
    for section, values in data.items():
        if section not in SECTIONS:
            errors.append(
                ConfigError(
                    f"unknown section [{section}]{nearest(section, SECTIONS)}; "
                    f"valid sections: {', '.join(SECTIONS)}",
                    section,
                )
            )
            continue
        if not isinstance(values, dict):
            errors.append(ConfigError(f"[{section}] must be a table of key = value lines", section))
            continue
        cls = SECTIONS[section]
        hints = _hints(cls)
        kwargs = {}
        for key, value in values.items():
            dotted = f"{section}.{key}"
            if key not in hints:
                errors.append(
                    ConfigError(f"unknown key '{dotted}'{suggest_key(section, key)}", dotted)
                )
                continue
            try:
                kwargs[key] = coerce(value, hints[key], dotted)
            except ConfigError as exc:
                errors.append(exc)  # the key keeps its default, so the rest is still checked
        sections[section] = cls(**kwargs)
    config = RunConfig(**sections)
    errors += validate_all(config, skip={base_key(e.key) or "" for e in errors})
    return ConfigCheck(None if errors else config, tuple(errors))


def from_dict(data: Mapping[str, Any]) -> RunConfig:
    """Build and validate a RunConfig from nested ``{section: {key: value}}`` data; raises the
    first ConfigError (``check_dict`` returns them all)."""
    return check_dict(data).unwrap()


def validate_all(c: RunConfig, skip: Collection[str] = ()) -> list[ConfigError]:
    """Every rule ``c`` breaks, at most one per key: each field's range and choices, then the
    rules across keys. Keys in ``skip`` (already known to be wrong) are not checked again, nor
    are the rules that read them. Registry names are checked by the registries."""
    flagged = set(skip)
    errors: list[ConfigError] = []

    def report(key: str, message: str) -> None:
        errors.append(ConfigError(f"{key}: {message}", key))
        flagged.add(key)

    for info in field_infos():
        if info.key not in flagged:
            problem = info.problem(getattr(getattr(c, info.section), info.name))
            if problem:
                report(info.key, problem)
    for rule in RULES:
        if flagged.isdisjoint(rule.reads):
            found = rule.check(c)
            if found and found[0] not in flagged:
                report(*found)
    return errors


def validate(c: RunConfig) -> None:
    """Raise the first rule ``c`` breaks (``validate_all`` lists them all)."""
    errors = validate_all(c)
    if errors:
        raise errors[0]


# ---------------------------------------------------------------- rules across keys


@dataclass(frozen=True)
class Rule:
    """A check over several keys (or a list's shape): ``check`` returns (key, message)."""

    reads: tuple[str, ...]
    check: Callable[[RunConfig], tuple[str, str] | None]


def _if(cond: bool, key: str, message: str) -> tuple[str, str] | None:
    return (key, message) if cond else None


STAGE_LISTS = ("layers", "channels", "kernel_sizes", "skip_kernel_sizes")  # B, C, F, K


def _stage_lengths(c: RunConfig) -> tuple[str, str] | None:
    given = {k: v for k in STAGE_LISTS if (v := getattr(c.model, k)) is not None}
    if len({len(v) for v in given.values()}) <= 1:
        return None
    return (
        "model." + next(iter(given)),
        "model.layers/channels/kernel_sizes/skip_kernel_sizes (B/C/F/K) must have one entry "
        "per stage, got lengths " + ", ".join(f"{k}={len(v)}" for k, v in given.items()),
    )


def _non_empty(name: str) -> Rule:
    def check(c: RunConfig) -> tuple[str, str] | None:
        return _if(getattr(c.model, name) == [], f"model.{name}", "needs at least one stage")

    return Rule((f"model.{name}",), check)


def _odd_kernels(name: str) -> Rule:
    def check(c: RunConfig) -> tuple[str, str] | None:
        values = getattr(c.model, name) or []
        return _if(
            any(v % 2 == 0 for v in values),
            f"model.{name}",
            f"kernel sizes must be odd so the feature map keeps its size, got {values}",
        )

    return Rule((f"model.{name}",), check)


def _stage_rules() -> list[Rule]:
    return [
        Rule(tuple(f"model.{k}" for k in STAGE_LISTS), _stage_lengths),
        *(_non_empty(name) for name in STAGE_LISTS),
        *(_odd_kernels(name) for name in ("kernel_sizes", "skip_kernel_sizes")),
    ]


RULES: tuple[Rule, ...] = (
    Rule(
        ("data.val_fraction",),
        lambda c: _if(
            c.data.val_fraction >= 1, "data.val_fraction", "must leave some training data (< 1)"
        ),
    ),
    Rule(
        ("data.val_fraction", "data.test_fraction"),
        lambda c: _if(
            c.data.val_fraction + c.data.test_fraction >= 1,
            "data.test_fraction",
            "val_fraction + test_fraction must be below 1",
        ),
    ),
    Rule(
        ("optim.nesterov", "optim.momentum"),
        lambda c: _if(
            c.optim.nesterov and c.optim.momentum <= 0,
            "optim.nesterov",
            "Nesterov momentum needs optim.momentum > 0",
        ),
    ),
    Rule(
        ("augment.cutout_holes", "augment.cutout_length"),
        lambda c: _if(
            c.augment.cutout_holes != 0 and c.augment.cutout_length == 0,
            "augment.cutout_length",
            "cutout needs both cutout_holes and cutout_length above 0",
        ),
    ),
    Rule(
        ("schedule.warmup_epochs", "train.epochs"),
        lambda c: _if(
            c.schedule.warmup_epochs >= c.train.epochs,
            "schedule.warmup_epochs",
            f"must be shorter than train.epochs ({c.train.epochs})",
        ),
    ),
    Rule(
        ("schedule.milestones",),
        lambda c: _if(
            list(c.schedule.milestones) != sorted(set(c.schedule.milestones)),
            "schedule.milestones",
            "must be strictly increasing epochs",
        ),
    ),
    *_stage_rules(),
)


# ---------------------------------------------------------------- comparing


def diff(base: RunConfig, other: RunConfig) -> dict[str, dict[str, Any]]:
    """The keys of ``other`` that differ from ``base``, nested by section."""
    a, b = base.to_dict(), other.to_dict()
    out: dict[str, dict[str, Any]] = {}
    for section in SECTIONS:
        for key, value in b[section].items():
            if a[section][key] != value:
                out.setdefault(section, {})[key] = value
    return out


def same_config(saved: Mapping[str, Any], config: RunConfig | Mapping[str, Any]) -> bool:
    """Whether a saved config dict (a checkpoint's, an older run's) describes ``config``,
    after filling the keys it lacks with their defaults.

    A key added to a section after a run was saved is absent from its dict; with its default
    the run is the same run and may resume. Nothing is validated here: an old config that a
    newer rule would refuse still matches itself.
    """
    defaults = RunConfig().to_dict()
    want = config.to_dict() if isinstance(config, RunConfig) else dict(config)
    if not isinstance(saved, Mapping) or not all(isinstance(v, Mapping) for v in saved.values()):
        return False
    return deep_merge(defaults, dict(saved)) == deep_merge(defaults, want)
