"""The run query language: one filter for the console's Runs view (``/``) and the CLI's
``runs list|best --where EXPR``. Pure Python, torch-free; a hand-written tokenizer and a
recursive-descent parser compile the text into a test of a ``RunRecord`` (nothing is eval'd).

The language, by example::

    resnet24 digits                     plain words: each in the id, name, model, dataset,
                                        status, preset, ablation group or sweep (as before)
    model=resnet24                      a run field: = != < <= > >= (text: any case)
    best.val_acc>90%  test.acc>=0.9     90% is 0.9: accuracies are stored as fractions
    optim.lr<=1e-3  data.batch_size=128 any config key, section.key
    status!=failed  pinned=true         true/false for yes/no fields
    name~lr0*  name~mixup               ~ glob (* ? [..]), any case; without a wildcard: contains
    name!~digits*                       !~ the opposite of ~
    tag:baseline  tag:ablate-*          a tag (glob allowed); tags~best any tag containing best
    params<5M  created>=2025-03-13      k/M/G on numbers; dates compare as ISO text
    model=resnet24 and (optim.lr<0.01 or not tag:slow)
                                        and, or, not (any case), parentheses; a space between
                                        two terms means and; not binds tighter than and, and
                                        tighter than or
    name="my run"                       quotes for values with spaces or operators

Fields: the run's ``id name status preset model dataset device host created started finished
note message params epoch epochs elapsed_s tags archived pinned sweep ablation``, its best
epoch's ``best.epoch best.train_loss best.train_acc best.val_loss best.val_acc``, its test
result's ``test.acc test.loss``, and every config key (``optim.lr``, ``model.name``...; a
run saved before a key existed has that key's default, as everywhere else).

**A run without the value** (no best epoch yet, no test result, a field the run never had)
fails every comparison but ``!=`` and ``!~``, which are exactly ``not =`` and ``not ~``:
``best.val_acc<0.5`` leaves out the runs that have no best yet, ``best.val_acc!=0.5`` keeps
them, and so does ``status!=failed`` every run that is not failed. That is what "is not"
means to someone filtering a list (SQL's NULL, where both are false, surprises everyone).

Errors are ``QueryError`` (a ``UserError``): the message names the column (1-based) and
what was expected, and ``caret()`` gives the text with a ``^`` under that column. Comparing
a number field with a word, ``~`` on a number, ``<`` on a yes/no field, an accuracy above 1
written as a plain number (``best.val_acc>90``: write 0.9 or 90%) and an unknown status or
choice are refused at parse time, before any run is read. An unknown field names the
nearest known ones.
"""

from __future__ import annotations

import difflib
import fnmatch
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from engine.config import CHOICES, field_infos
from engine.errors import UserError, nearest
from engine.records import RunRecord
from engine.store.schema import STATUSES

Test = Callable[[RunRecord], bool]
OPERATORS = ("!=", "!~", "<=", ">=", "==", "=", "<", ">", "~")
KEYWORDS = ("and", "or", "not")
WILDCARDS = frozenset("*?[")
_OPERATOR_CHARS = frozenset("=!<>~")
_STOP = frozenset(" \t\r\n()\"'") | _OPERATOR_CHARS
_NUMBER = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)([%kKmMgG]?)")
_SCALE = {"": 1.0, "%": 0.01, "k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6, "g": 1e9, "G": 1e9}
TRUE, FALSE = ("true", "yes"), ("false", "no")


class QueryError(UserError):
    """A query that cannot be read: ``str()`` is one line naming the column and what was
    expected; ``column`` (1-based, ``len(text) + 1`` for the end) and ``caret()`` place it."""

    def __init__(self, problem: str, column: int, text: str, hint: str = "") -> None:
        at_end = column > len(text)
        super().__init__(f"{problem} at column {column}{' (the end)' if at_end else ''}{hint}")
        self.problem = problem
        self.column = column
        self.text = text

    def caret(self) -> str:
        """The query and, under it, a ``^`` at the column: two lines."""
        return f"{self.text}\n{' ' * (self.column - 1)}^"


# ---------------------------------------------------------------- fields


@dataclass(frozen=True)
class Field:
    """What a name in a query reads from a run, and how it compares.

    ``kind``: text, number, bool, tags (a run's tags: any of them), list (a list-valued config
    key, written 3,3,2,3); ``element``: a list's entries' kind; ``choices``: the only values
    ``=`` accepts (``noun`` names them in the error); ``fraction``: an accuracy (0..1)."""

    name: str
    kind: str
    get: Callable[[RunRecord], Any]
    element: str = ""
    choices: tuple[str, ...] = ()
    noun: str = ""
    fraction: bool = False


def _text_field(name: str, **kw: Any) -> Field:
    return Field(name, "text", lambda r: getattr(r, name), **kw)


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
        fraction=key == "acc",
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
        *(_text_field(n) for n in ("host", "created", "started", "finished", "note", "message")),
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
    section first, then up to three close names; '' when nothing is close."""
    known = fields()
    by_key = [k for k in known if "." in k and k.split(".", 1)[1] == name]
    close = by_key or difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    if not close:
        return ""
    quoted = [f"'{c}'" for c in close]
    listed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
    return f" (did you mean {listed}?)"


# ---------------------------------------------------------------- tokens


@dataclass(frozen=True)
class Token:
    kind: str  # word, string, op, (, ), end
    text: str  # a string's text without its quotes
    column: int  # 1-based, where it starts

    def keyword(self, *words: str) -> bool:
        return self.kind == "word" and self.text.lower() in words

    def shown(self) -> str:
        return {"end": "the end", "string": f'"{self.text}"'}.get(self.kind, f"'{self.text}'")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "()":
            tokens.append(Token(c, c, i + 1))
            i += 1
        elif c in "\"'":
            end = text.find(c, i + 1)
            if end < 0:
                raise QueryError(f"unclosed quote {c}", i + 1, text, f": close it with {c}")
            tokens.append(Token("string", text[i + 1 : end], i + 1))
            i = end + 1
        elif c in _OPERATOR_CHARS:
            op = next((o for o in OPERATORS if text.startswith(o, i)), None)
            if op is None:  # a lone '!'
                raise QueryError("unexpected '!'", i + 1, text, " (did you mean '!=' or '!~'?)")
            tokens.append(Token("op", "=" if op == "==" else op, i + 1))
            i += len(op)
        else:
            start = i
            while i < len(text) and text[i] not in _STOP and not text[i].isspace():
                i += 1
            tokens.append(Token("word", text[start:i], start + 1))
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


# ---------------------------------------------------------------- values and comparisons


def parse_number(text: str) -> tuple[float, bool] | None:
    """(value, written as a percentage), or None: 0.9, 1e-3, 90% (0.9), 5M, 20k."""
    match = _NUMBER.fullmatch(text.strip())
    if match is None:
        return None
    return float(match.group(1)) * _SCALE[match.group(2)], match.group(2) == "%"


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


def _tag_test(pattern: str) -> Test:
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


def _text_of(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class _Compiler:
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
        if kind == "bool":
            flag = self._bool(field, value)
            return lambda r: isinstance(v := get(r), bool) and v == flag
        if kind == "tags":
            return _tag_test(value.text)
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


# ---------------------------------------------------------------- the parser


def _words_test(word: str) -> Test:
    """A plain word or quoted phrase: in the run's id, name, model, dataset, status, preset,
    ablation group or sweep (what the Runs view's filter searched before the language)."""
    word = word.lower()

    def test(run: RunRecord) -> bool:
        group = run.ablation.group if run.ablation else ""
        sweep = run.sweep.name if run.sweep else ""
        fields = (run.id, run.name, run.model, run.dataset, run.status, run.preset, group, sweep)
        return word in " ".join(str(v or "") for v in fields).lower()

    return test


def _all(tests: list[Test]) -> Test:
    if len(tests) == 1:
        return tests[0]
    return lambda r: all(t(r) for t in tests)


def _any(tests: list[Test]) -> Test:
    if len(tests) == 1:
        return tests[0]
    return lambda r: any(t(r) for t in tests)


class _Parser:
    """query := or; or := and ('or' and)*; and := not (['and'] not)*;
    not := 'not' not | term; term := '(' or ')' | tag:NAME | FIELD OP VALUE | WORD | "PHRASE"
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.compiler = _Compiler(text)

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        token = self.peek()
        self.i += 1
        return token

    def error(self, problem: str, token: Token, hint: str = "") -> QueryError:
        return QueryError(problem, token.column, self.text, hint)

    def parse(self) -> Test:
        if self.peek().kind == "end":
            return lambda r: True
        test = self.or_()
        token = self.peek()
        if token.kind != "end":  # only a ')' stops the terms before the end
            raise self.error("unexpected ')'", token, ": no '(' opens it")
        return test

    def or_(self, after: Token | None = None) -> Test:
        tests = [self.and_(after)]
        while self.peek().keyword("or"):
            tests.append(self.and_(self.take()))
        return _any(tests)

    def and_(self, after: Token | None) -> Test:
        tests = [self.not_(after)]
        while True:
            token = self.peek()
            if token.keyword("and"):
                tests.append(self.not_(self.take()))
            elif token.kind in ("word", "string", "(") and not token.keyword("or"):
                tests.append(self.not_(None))  # a space between terms: and
            else:
                return _all(tests)

    def not_(self, after: Token | None) -> Test:
        if self.peek().keyword("not"):
            token = self.take()
            test = self.not_(token)
            return lambda r: not test(r)
        return self.term(after)

    def term(self, after: Token | None) -> Test:
        token = self.peek()
        if token.kind == "(":
            self.take()
            test = self.or_(token)
            close = self.peek()
            if close.kind != ")":
                raise self.error(
                    "expected ')'", close, f" to close the '(' at column {token.column}"
                )
            self.take()
            return test
        if token.kind == "word" and not token.keyword(*KEYWORDS):
            if self.peek(1).kind == "op":
                return self.comparison()
            self.take()
            return self.word(token)
        if token.kind == "string":
            if self.peek(1).kind == "op":
                raise self.error("a field name is not quoted", token, f": write {token.text}")
            self.take()
            return _words_test(token.text)
        if token.kind == "op":
            raise self.error(f"expected a field before '{token.text}'", token)
        where = f" after {after.shown()}" if after is not None else ""
        found = "" if token.kind == "end" else f", found {token.shown()}"
        raise self.error(f"expected a field, a word or '('{where}", token, found)

    def word(self, token: Token) -> Test:
        head, colon, rest = token.text.partition(":")
        if colon and head.lower() == "tag":
            if rest:
                return _tag_test(rest)
            name = self.peek()
            if name.kind not in ("word", "string") or name.keyword(*KEYWORDS):
                raise self.error("expected a tag name after 'tag:'", name)
            self.take()
            return _tag_test(name.text)
        if colon and head.lower() in fields():
            raise self.error(
                f"':' is only for tag:NAME; '{head}' is a field", token, f": write {head}={rest}"
            )
        return _words_test(token.text)

    def comparison(self) -> Test:
        name, op = self.take(), self.take()
        field = fields().get(name.text.lower())
        if field is None:
            raise self.error(f"unknown field '{name.text}'", name, suggest_field(name.text))
        value = self.peek()
        if value.kind not in ("word", "string") or value.keyword(*KEYWORDS):
            found = "" if value.kind == "end" else f", found {value.shown()}"
            raise self.error(f"expected a value after '{op.text}'", value, found)
        self.take()
        return self.compiler.compare(field, op, value)


# ---------------------------------------------------------------- the query


@dataclass(frozen=True)
class Query:
    """A parsed query: ``matches(record)``. The empty text matches every run."""

    text: str
    test: Test

    def matches(self, record: RunRecord) -> bool:
        return self.test(record)

    @property
    def empty(self) -> bool:
        return not self.text.strip()


def parse(text: str) -> Query:
    """The query ``text`` (see the module docstring), or a ``QueryError`` naming the column."""
    return Query(text, _Parser(text).parse())
