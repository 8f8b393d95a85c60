"""One ``field op value`` made into a test of a run, and everything that cannot compare
refused at parse time: a word for a number, ~ on a number, an order on true/false, an
accuracy written as 90 instead of 0.9 or 90%, a status or a choice that does not exist."""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from engine.errors import nearest
from engine.query.fields import Field
from engine.query.lexer import QueryError, Token
from engine.records import RunRecord

Test = Callable[[RunRecord], bool]
WILDCARDS = frozenset("*?[")
_NUMBER = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)([%kKmMgG]?)")
_SCALE = {"": 1.0, "%": 0.01, "k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6, "g": 1e9, "G": 1e9}
TRUE, FALSE = ("true", "yes"), ("false", "no")


def parse_number(text: str) -> tuple[float, bool] | None:
    """(value, written as a percentage), or None: 0.9, 1e-3, 90% (0.9), 5M, 20k."""
    match = _NUMBER.fullmatch(text.strip())
    if match is None:
        return None
    number, unit = match.group(1), match.group(2)
    if unit == "%":  # divided, not multiplied by 0.01: 57% is exactly 0.57
        return float(number) / 100, True
    return float(number) * _SCALE[unit], False


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _glob(pattern: str) -> Callable[[str], bool]:
    """Case-insensitive glob; without a wildcard, 'contains'."""
    pattern = pattern.lower()
    if not WILDCARDS & set(pattern):
        return lambda s: pattern in s.lower()
    return lambda s: fnmatch.fnmatchcase(s.lower(), pattern)


def tag_test(pattern: str) -> Test:
    """A run with a tag equal to ``pattern`` (any case), or matching it as a glob."""
    pattern = pattern.lower()
    if WILDCARDS & set(pattern):
        return lambda r: any(fnmatch.fnmatchcase(t.lower(), pattern) for t in r.tags)
    return lambda r: any(t.lower() == pattern for t in r.tags)


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


_DATE = re.compile(r"\d{4}(-\d{2}(-\d{2}(T\d{2}(:\d{2}(:\d{2})?)?)?)?)?")


def _valid_date(text: str) -> bool:
    """A real calendar moment at the precision given (no month 13, no 31 February)."""
    parts = re.split(r"[-T:]", text)
    filled = [*parts, *["01", "01", "00", "00", "00"][len(parts) - 1 :]][:6]
    try:
        year, month, day, hour, minute, second = (int(p) for p in filled)
        datetime(year, month, day, hour, minute, second)
    except ValueError:
        return False
    return True


def _text_of(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class Comparisons:
    """Turns one ``field op value`` into a test, refusing what cannot compare."""

    def __init__(self, text: str) -> None:
        self.text = text

    def error(self, problem: str, token: Token, hint: str = "") -> QueryError:
        return QueryError(problem, token.column, self.text, hint)

    def compare(self, field: Field, op: Token, value: Token) -> Test:
        negated = op.text in ("!=", "!~")
        base = {"!=": "=", "!~": "~"}.get(op.text, op.text)
        test = self._positive(field, base, op, value)
        if negated:  # exactly `not =`: a run without the value passes
            return lambda r: not test(r)
        return test

    def _positive(self, field: Field, op: str, op_token: Token, value: Token) -> Test:
        kind, get = field.kind, field.get
        if op == "~":
            if kind in ("number", "bool"):
                what = "a number" if kind == "number" else "true or false"
                raise self.error(
                    f"'~' matches text, and {field.name} is {what}",
                    op_token,
                    "; compare it with = != < <= > >=" if kind == "number" else "; use = or !=",
                )
            match = _glob(value.text)
            if kind == "tags":
                return lambda r: any(match(t) for t in get(r))
            if kind == "list":
                return lambda r: (v := get(r)) is not None and match(",".join(map(str, v)))
            return lambda r: (v := _text_of(get(r))) is not None and match(v)
        if op in _ORDER and kind in ("bool", "tags", "list"):
            what = {"bool": "true or false", "tags": "a set of tags", "list": "a list"}[kind]
            raise self.error(
                f"'{op}' needs an order, and {field.name} is {what}",
                op_token,
                "; use = or !=" if kind == "bool" else "; use = != ~ or !~",
            )
        if kind == "number":
            return self._number(field, op, value)
        if kind == "time":
            return self._time(field, op, value)
        if kind == "bool":
            flag = self._bool(field, value)
            return lambda r: isinstance(v := get(r), bool) and v == flag
        if kind == "tags":
            return tag_test(value.text)
        if kind == "list":
            wanted = self._list(field, value)
            return lambda r: isinstance(v := get(r), list) and v == wanted
        return self._text(field, op, value)

    def _number(self, field: Field, op: str, value: Token) -> Test:
        parsed = parse_number(value.text)
        if parsed is None:
            raise self.error(f"expected a number for {field.name}", value, f", not {value.shown()}")
        number, percent = parsed
        if field.fraction and number > 1 and not percent:
            raise self.error(
                f"{field.name} is a fraction (0.9 is 90%)",
                value,
                f": write {_text_of(number / 100)} or {value.text}%",
            )
        get = field.get
        if op == "=":
            return lambda r: (
                (v := _as_number(get(r))) is not None
                and math.isclose(v, number, rel_tol=1e-9, abs_tol=1e-12)
            )
        order = _ORDER[op]
        return lambda r: (v := _as_number(get(r))) is not None and order(v, number)

    def _time(self, field: Field, op: str, value: Token) -> Test:
        """A timestamp against a date or a moment (``2026-12``, ``2026-12-02``,
        ``2026-12-02T13:05``): compared at the precision given, so ``created=2026-12-02`` is
        the whole day and ``created>2026-12-02`` the days after it."""
        when = value.text
        if not _DATE.fullmatch(when) or not _valid_date(when):
            raise self.error(
                f"expected a date for {field.name}",
                value,
                f", not {value.shown()}: write YYYY-MM-DD (or YYYY-MM, or YYYY-MM-DDTHH:MM)",
            )
        get, n = field.get, len(when)
        if op == "=":
            return lambda r: isinstance(v := get(r), str) and v[:n] == when
        order = _ORDER[op]
        return lambda r: isinstance(v := get(r), str) and order(v[:n], when)

    def _bool(self, field: Field, value: Token) -> bool:
        word = value.text.lower()
        if word not in TRUE + FALSE:
            raise self.error(
                f"expected true or false for {field.name}", value, f", not {value.shown()}"
            )
        return word in TRUE

    def _list(self, field: Field, value: Token) -> list[Any]:
        out: list[Any] = []
        for part in value.text.split(","):
            if field.element == "number":
                parsed = parse_number(part)
                if parsed is None:
                    raise self.error(
                        f"expected numbers for {field.name} (like 3,3,2,3)",
                        value,
                        f", not {value.shown()}",
                    )
                out.append(parsed[0])
            elif field.element == "bool":
                if part.strip().lower() not in TRUE + FALSE:
                    raise self.error(
                        f"expected true/false entries for {field.name}",
                        value,
                        f", not {value.shown()}",
                    )
                out.append(part.strip().lower() in TRUE)
            else:
                out.append(part.strip())
        return out

    def _text(self, field: Field, op: str, value: Token) -> Test:
        wanted = value.text.lower()
        if op == "=" and field.choices and wanted not in field.choices:
            raise self.error(
                f"{value.shown()} is not a {field.noun}",
                value,
                f"{nearest(wanted, field.choices)}; one of {', '.join(field.choices)}",
            )
        get = field.get
        if op == "=":
            return lambda r: (v := _text_of(get(r))) is not None and v.lower() == wanted
        order = _ORDER[op]
        return lambda r: (v := _text_of(get(r))) is not None and order(v.lower(), wanted)
