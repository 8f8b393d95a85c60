"""Everything a front-end may offer, as one typed, JSON-serialisable description.

``engine.api.compute.catalog()`` describes every registry (models with their family, fields
and defaults; datasets with their shape; optimizers and schedules with the keys they read and
the keys shown for all of them; augmentations with their switches) and every config key's
metadata
(help, range, choices, and which optimizers or schedules read it). The console cannot import
torch, so its helper process answers the catalog's ``to_json()`` and the form rebuilds it with
``Catalog.from_json``; a CLI or a docs page can print the same thing.

This module holds the catalog's types and imports no torch (building one needs the registries,
so ``catalog()`` lives with the torch verbs of the API); its entries are plain frozen
dataclasses of strings, numbers, tuples and dicts.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

SCHEMA = 1  # bumped when an entry changes shape


@dataclass(frozen=True)
class ModelEntry:
    name: str
    description: str
    family: str
    fields: tuple[str, ...]  # the model.* keys it accepts (name excluded)
    defaults: dict[str, Any]  # its own value of each architecture key (None: derived)


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    description: str
    channels: int
    image_size: int
    num_classes: int  # 0 when only known after looking at the files (image folders)
    classes: tuple[str, ...] | None
    has_test_split: bool
    in_memory: bool
    train_images: int = 0  # the published train split, before val/test are carved (0: unknown)


@dataclass(frozen=True)
class OptimizerEntry:
    name: str
    description: str
    keys: tuple[str, ...]  # the optim.* keys it reads
    always: tuple[str, ...]  # the optim.* keys that matter whatever the optimizer


@dataclass(frozen=True)
class ScheduleEntry:
    name: str
    description: str
    keys: tuple[str, ...]  # the schedule.* keys it reads
    always: tuple[str, ...]  # the schedule.* keys that matter whatever the schedule


@dataclass(frozen=True)
class AugmentationEntry:
    name: str
    title: str  # the switch's label
    description: str
    keys: tuple[str, ...]  # the augment.* keys it reads
    switches: dict[str, Any]  # key -> value that turns it on (off: the key's default)
    params: tuple[str, ...]  # keys that only matter while it is on


@dataclass(frozen=True)
class FieldEntry:
    """One config key's metadata (``engine.config.FieldInfo`` in JSON terms)."""

    key: str
    section: str
    name: str
    type: str  # "float", "list[int] | None", ...
    accepts: str  # in words: "a number > 0", "one of relu, none"
    default: Any
    help: str
    min: float | None
    min_exclusive: bool
    max: float | None
    max_exclusive: bool
    choices: tuple[str, ...] | None
    registry: str | None  # the catalog list holding its accepted names ("models")
    # optim.* / schedule.* keys: the optimizers or schedules that read it; None elsewhere
    # (which model takes a model.* key is ModelEntry.fields).
    used_by: tuple[str, ...] | None


def shown(entry: OptimizerEntry | ScheduleEntry) -> tuple[str, ...]:
    return (*entry.always, *(k for k in entry.keys if k not in entry.always))


@dataclass(frozen=True)
class Catalog:
    models: tuple[ModelEntry, ...] = ()
    datasets: tuple[DatasetEntry, ...] = ()
    optimizers: tuple[OptimizerEntry, ...] = ()
    schedules: tuple[ScheduleEntry, ...] = ()
    augmentations: tuple[AugmentationEntry, ...] = ()
    fields: tuple[FieldEntry, ...] = ()
    schema: int = SCHEMA

    def model(self, name: object) -> ModelEntry | None:
        return next((m for m in self.models if m.name == name), None)

    def dataset(self, name: object) -> DatasetEntry | None:
        return next((d for d in self.datasets if d.name == name), None)

    def optimizer(self, name: object) -> OptimizerEntry | None:
        return next((o for o in self.optimizers if o.name == name), None)

    def schedule(self, name: object) -> ScheduleEntry | None:
        return next((s for s in self.schedules if s.name == name), None)

    def field(self, key: str) -> FieldEntry | None:
        return next((f for f in self.fields if f.key == key), None)

    def names(self, registry: str) -> list[str]:
        """The names in one list ("models", "datasets", "optimizers", "schedules", ...)."""
        entries: tuple[Any, ...] = getattr(self, registry)
        return [e.name for e in entries]

    def shown_keys(self, section: str, name: object) -> tuple[str, ...] | None:
        """The optim.* or schedule.* keys that matter with the named optimizer or schedule
        (None: not known here, so show them all)."""
        entry = self.optimizer(name) if section == "optim" else self.schedule(name)
        return shown(entry) if entry is not None else None

    def to_json(self) -> dict[str, Any]:
        """A JSON object (lists, dicts, strings, numbers, booleans and nulls only)."""
        out: dict[str, Any] = _jsonable(dataclasses.asdict(self))
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Catalog:
        """The catalog ``to_json`` wrote; keys it does not know (a request id) are ignored."""
        kinds: dict[str, type] = {
            "models": ModelEntry,
            "datasets": DatasetEntry,
            "optimizers": OptimizerEntry,
            "schedules": ScheduleEntry,
            "augmentations": AugmentationEntry,
            "fields": FieldEntry,
        }
        lists: dict[str, tuple[Any, ...]] = {
            k: tuple(_entry(t, item) for item in data.get(k) or ()) for k, t in kinds.items()
        }
        return cls(**lists, schema=int(data.get("schema", SCHEMA)))


E = TypeVar("E")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _tuple_typed(hint: Any) -> bool:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_tuple_typed(a) for a in typing.get_args(hint))
    return typing.get_origin(hint) is tuple


_TUPLE_FIELDS: dict[type, tuple[tuple[str, bool], ...]] = {}


def _tuple_fields(cls: type) -> tuple[tuple[str, bool], ...]:
    """(name, typed as a tuple) for each field of an entry class, resolved once."""
    found = _TUPLE_FIELDS.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls)
        found = tuple((f.name, _tuple_typed(hints[f.name])) for f in dataclasses.fields(cls))
        _TUPLE_FIELDS[cls] = found
    return found


def _entry(cls: type[E], item: Mapping[str, Any]) -> E:
    """An entry dataclass from its JSON object: lists back to tuples where typed so."""
    values = {}
    for name, as_tuple in _tuple_fields(cls):
        if name not in item:
            continue  # a field added since (its default), or a TypeError naming it
        value = item[name]
        values[name] = tuple(value) if as_tuple and isinstance(value, list) else value
    return cls(**values)
