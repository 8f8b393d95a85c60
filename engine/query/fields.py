"""What a name in a query reads from a run: the run's fields, its best epoch's and test
result's numbers, and every config key (read from the run's config, with the key's default
where a section lacks it)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from engine.config import CHOICES, field_infos
from engine.records import RunRecord
from engine.store.schema import STATUSES


@dataclass(frozen=True)
class Field:
    """What a name in a query reads from a run, and how it compares.

    ``kind``: text, number, bool, time (an ISO timestamp, compared at the precision
    written), tags (a run's tags: any of them), list (a list-valued config key, written
    3,3,2,3); ``element``: a list's entries' kind; ``choices``: the only values ``=``
    accepts (``noun`` names them in the error); ``fraction``: an accuracy (0..1)."""

    name: str
    kind: str
    get: Callable[[RunRecord], Any]
    element: str = ""
    choices: tuple[str, ...] = ()
    noun: str = ""
    fraction: bool = False


def _text_field(name: str, **kw: Any) -> Field:
    return Field(name, "text", lambda r: getattr(r, name), **kw)


def _getter(name: str) -> Callable[[RunRecord], Any]:
    return lambda r: getattr(r, name)


def _number_field(name: str) -> Field:
    return Field(name, "number", lambda r: getattr(r, name))


def _best(key: str) -> Field:
    return Field(
        f"best.{key}",
        "number",
        lambda r: getattr(r.best, key) if r.best is not None else None,
        fraction=key.endswith("acc"),
    )


def _test(key: str) -> Field:
    return Field(
        f"test.{key}",
        "number",
        lambda r: getattr(r.test, key) if r.test is not None else None,
        fraction=key in ("acc", "ece"),
    )


def _config_field(
    section: str, name: str, default: Any, kind: str, element: str, choices: tuple[str, ...]
) -> Field:
    def get(record: RunRecord) -> Any:
        values = record.config.get(section)
        if not isinstance(values, Mapping):  # no config at all (an unreadable run)
            return None
        return values.get(name, default)  # a key added since the run: its default

    noun = f"{section}.{name} choice" if choices else ""
    return Field(f"{section}.{name}", kind, get, element, choices, noun)


def _kind(annotation: Any) -> str:
    if annotation is bool:
        return "bool"
    if annotation in (int, float):
        return "number"
    return "text"


def _fields() -> dict[str, Field]:
    fields = [
        *(_text_field(n) for n in ("id", "name", "preset", "model", "dataset", "device")),
        *(_text_field(n) for n in ("host", "note", "message")),
        *(Field(n, "time", _getter(n)) for n in ("created", "started", "finished")),
        _text_field("status", choices=STATUSES, noun="run status"),
        *(_number_field(n) for n in ("params", "epoch", "epochs", "elapsed_s")),
        Field("tags", "tags", lambda r: r.tags),
        Field("archived", "bool", lambda r: r.archived),
        Field("pinned", "bool", lambda r: r.pinned),
        Field("sweep", "text", lambda r: r.sweep.name if r.sweep else None),
        Field("ablation", "text", lambda r: r.ablation.group if r.ablation else None),
        Field("best.epoch", "number", lambda r: r.best.epoch if r.best else None),
        *(_best(k) for k in ("train_loss", "train_acc", "val_loss", "val_acc")),
        _test("acc"),
        _test("loss"),
        _test("ece"),
    ]
    for info in field_infos():
        kind = "list" if info.is_list else _kind(info.base)
        element = _kind(info.scalar) if info.is_list else ""
        choices = CHOICES.get(info.key, ())
        fields.append(_config_field(info.section, info.name, info.default, kind, element, choices))
    return {f.name: f for f in fields}


@cache
def fields() -> dict[str, Field]:
    """Every name a query can compare, by name (built once)."""
    return _fields()


def suggest_field(name: str) -> str:
    """' (did you mean 'optim.lr'?)' for an unknown field: a config key of that name in any
    section first, then up to three close names; what a field is when nothing is close."""
    known = fields()
    by_key = [k for k in known if "." in k and k.split(".", 1)[1] == name]
    close = by_key or difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    if not close:
        return (
            "; a field is a run's (name, status, model, params, tags...), best.val_acc and"
            " the like, test.acc, or a config key (optim.lr)"
        )
    quoted = [f"'{c}'" for c in close]
    listed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
    return f" (did you mean {listed}?)"
