"""The vocabulary of config field metadata, and the typed view of one field.

Every config field declares its help text, range and choices once, on the dataclass field:
``field(default=0.1, metadata=meta("...", min=0, min_exclusive=True))``. ``FieldInfo`` reads
that back as a typed record, and everything that needs to know about a key (validation, the
CLI's help, ``presets show``, the console's form, the catalog) asks it, never the source text.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any

from engine.errors import nearest

# The metadata keys ``meta`` writes; anything else on a field's metadata is refused at import.
META_KEYS = frozenset(
    {"help", "min", "min_exclusive", "max", "max_exclusive", "choices", "noun", "registry"}
)


def meta(
    help: str = "",
    *,
    min: float | None = None,
    min_exclusive: bool = False,
    max: float | None = None,
    max_exclusive: bool = False,
    choices: tuple[str, ...] | None = None,
    noun: str | None = None,
    registry: str | None = None,
) -> dict[str, Any]:
    """A field's metadata: its help text and what values it accepts.

    ``min``/``max`` bound a number (each entry of a list of numbers), inclusive unless the
    ``*_exclusive`` flag says otherwise; ``noun`` names a two-sided range in messages
    ("a ratio"); ``choices`` are the accepted strings; ``registry`` names the catalog list
    that holds the accepted names ("models"), for keys whose choices a registry decides.
    """
    out: dict[str, Any] = {"help": help}
    extra = {
        "min": min,
        "min_exclusive": min_exclusive or None,
        "max": max,
        "max_exclusive": max_exclusive or None,
        "choices": tuple(choices) if choices is not None else None,
        "noun": noun,
        "registry": registry,
    }
    out.update({k: v for k, v in extra.items() if v is not None})
    return out


def describe_type(tp: Any) -> str:
    """'an integer', 'a list of integers', 'a number (or unset)': the annotation in words."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(describe_type(a) for a in args) + " (or unset)"
    if origin is list:
        item = typing.get_args(tp)[0]
        plural = {int: "integers", float: "numbers", bool: "true/false values", str: "strings"}
        return f"a list of {plural.get(item, describe_type(item))}"
    return {int: "an integer", float: "a number", bool: "true/false", str: "a string"}.get(
        tp, str(tp)
    )


def type_name(tp: Any) -> str:
    """The annotation as short text for JSON: 'float', 'list[int]', 'int | None'."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in typing.get_args(tp))
    if origin is list:
        return f"list[{type_name(typing.get_args(tp)[0])}]"
    return "None" if tp is type(None) else getattr(tp, "__name__", str(tp))


def _num(x: float) -> str:
    """1.0 -> '1' in messages about bounds (bounds are written as the user would)."""
    return str(int(x)) if float(x).is_integer() else repr(x)


@dataclass(frozen=True)
class FieldInfo:
    """One config key, its annotation and default, and what its metadata declares."""

    key: str  # "optim.lr"
    section: str
    name: str
    type: Any  # the annotation (float, list[int] | None, ...)
    default: Any
    help: str = ""
    min: float | None = None
    min_exclusive: bool = False
    max: float | None = None
    max_exclusive: bool = False
    choices: tuple[str, ...] | None = None
    noun: str | None = None
    registry: str | None = None

    @classmethod
    def of(cls, section: str, f: dataclasses.Field[Any], tp: Any) -> FieldInfo:
        unknown = set(f.metadata) - META_KEYS
        if unknown:
            raise TypeError(f"{section}.{f.name}: unknown metadata {sorted(unknown)}")
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        return cls(f"{section}.{f.name}", section, f.name, tp, default, **dict(f.metadata))

    @property
    def optional(self) -> bool:
        return typing.get_origin(self.type) in (typing.Union, types.UnionType)

    @property
    def base(self) -> Any:
        """The annotation without its None."""
        if self.optional:
            (inner,) = [a for a in typing.get_args(self.type) if a is not type(None)]
            return inner
        return self.type

    @property
    def is_list(self) -> bool:
        return typing.get_origin(self.base) is list

    @property
    def scalar(self) -> Any:
        """The type of one value: the entries' type for a list."""
        return typing.get_args(self.base)[0] if self.is_list else self.base

    @property
    def has_range(self) -> bool:
        return self.min is not None or self.max is not None

    def range_text(self) -> str:
        """'> 0', 'in [0, 1]', 'in 0..30', '>= 1', or '' when unbounded."""
        lo, hi = self.min, self.max
        if lo is not None and hi is not None:
            if self.scalar is int and not (self.min_exclusive or self.max_exclusive):
                return f"in {_num(lo)}..{_num(hi)}"
            left = "(" if self.min_exclusive else "["
            right = ")" if self.max_exclusive else "]"
            return f"in {left}{_num(lo)}, {_num(hi)}{right}"
        if lo is not None:
            return f"{'>' if self.min_exclusive else '>='} {_num(lo)}"
        if hi is not None:
            return f"{'<' if self.max_exclusive else '<='} {_num(hi)}"
        return ""

    def describe(self) -> str:
        """What the key accepts, in words: 'a number > 0', 'one of relu, none',
        'a list of integers, each >= 1 (or unset)'. The CLI, the form and the catalog show it."""
        if self.choices:
            text = f"one of {', '.join(self.choices)}"
        else:
            text = describe_type(self.base)
            bounds = self.range_text()
            if bounds:
                text += f", each {bounds}" if self.is_list else f" {bounds}"
        return text + (" (or unset)" if self.optional else "")

    def help_line(self) -> str:
        """'optim.lr (a number > 0): the base learning rate': the key, what it accepts, its
        help (the form's hint line, the CLI's help)."""
        text = f"{self.key} ({self.describe()})"
        return f"{text}: {self.help}" if self.help else text

    def show(self, value: Any) -> str:
        """A value as a user types it: ``true``, ``3, 3, 2, 3``, ``0.1``, "" for unset."""
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list | tuple):
            return ", ".join(self.show(v) for v in value)
        if isinstance(value, float):
            return repr(value)
        return str(value)

    def problem(self, value: Any) -> str | None:
        """Why a (well-typed) value is refused by this field's choices or range, or None."""
        if value is None:
            return None
        if self.choices is not None:
            if value in self.choices:
                return None
            one_of = ", ".join(self.choices)
            return f"'{value}' is not one of {one_of}{nearest(str(value), self.choices)}"
        if not self.has_range:
            return None
        if self.is_list:
            bad = next((v for v in value if self._out_of_range(v)), None)
            if bad is None:
                return None
            return f"entries {self._range_words(bad)}, got {value}"
        if not self._out_of_range(value):
            return None
        return f"{self._range_words(value)}, got {value}"

    def _out_of_range(self, v: float) -> bool:
        lo, hi = self.min, self.max
        low = lo is not None and (v <= lo if self.min_exclusive else v < lo)
        high = hi is not None and (v >= hi if self.max_exclusive else v > hi)
        return low or high

    def _range_words(self, v: float) -> str:
        """The rule ``v`` breaks: 'must be greater than 0', 'is a ratio in [0, 1]'."""
        lo, hi = self.min, self.max
        if lo is not None and hi is not None and not (self.min_exclusive or self.max_exclusive):
            if self.scalar is int:
                return f"must be in {_num(lo)}..{_num(hi)}"
            return f"is {self.noun or 'a number'} in [{_num(lo)}, {_num(hi)}]"
        if lo is not None and (v <= lo if self.min_exclusive else v < lo):
            if self.min_exclusive:
                return f"must be greater than {_num(lo)}"
            return "must be 0 or more" if lo == 0 else f"must be at least {_num(lo)}"
        assert hi is not None
        return f"must be below {_num(hi)}" if self.max_exclusive else f"must be at most {_num(hi)}"
