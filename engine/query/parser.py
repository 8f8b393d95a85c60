"""The recursive-descent parser: tokens into one test of a run, and ``Query``."""

from __future__ import annotations

from dataclasses import dataclass

from engine.query.compare import Comparisons, Test, tag_test
from engine.query.fields import fields, suggest_field
from engine.query.lexer import KEYWORDS, QueryError, Token, tokenize
from engine.records import RunRecord

MAX_DEPTH = 50


class _Haystack:
    """What plain words search: the run's id, name, model, dataset, status, preset, ablation
    group and sweep, in lower case (the Runs view's filter before the language). The last
    run's is kept (one tuple, replaced whole: safe across threads): the words of one query
    read each run once."""

    def __init__(self) -> None:
        self.last: tuple[RunRecord | None, str] = (None, "")

    def __call__(self, run: RunRecord) -> str:
        last = self.last
        if last[0] is run:
            return last[1]
        group = run.ablation.group if run.ablation else ""
        sweep = run.sweep.name if run.sweep else ""
        values = (run.id, run.name, run.model, run.dataset, run.status, run.preset)
        text = " ".join(str(v or "") for v in (*values, group, sweep)).lower()
        self.last = (run, text)
        return text


def _words_test(word: str, haystack: _Haystack) -> Test:
    """A plain word or quoted phrase, anywhere in the haystack."""
    word = word.lower()
    return lambda run: word in haystack(run)


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
        self.depth = 0  # nots and parentheses open: bounded, so no text reaches Python's limit
        self.compiler = Comparisons(text)
        self.haystack = _Haystack()
        self.named: set[str] = set()  # the fields the query compares

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

    def nest(self, token: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"more than {MAX_DEPTH} nested 'not's and '('s", token)

    def not_(self, after: Token | None) -> Test:
        if self.peek().keyword("not"):
            token = self.take()
            self.nest(token)
            test = self.not_(token)
            self.depth -= 1
            return lambda r: not test(r)
        return self.term(after)

    def term(self, after: Token | None) -> Test:
        token = self.peek()
        if token.kind == "(":
            self.take()
            self.nest(token)
            test = self.or_(token)
            self.depth -= 1
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
            return _words_test(token.text, self.haystack)
        if token.kind == "op":
            raise self.error(f"expected a field before '{token.text}'", token)
        where = f" after {after.shown()}" if after is not None else ""
        found = "" if token.kind == "end" else f", found {token.shown()}"
        raise self.error(f"expected a field, a word or '('{where}", token, found)

    def word(self, token: Token) -> Test:
        head, colon, rest = token.text.partition(":")
        if colon and head.lower() == "tag":
            if rest:
                return tag_test(rest)
            name = self.peek()
            if name.kind not in ("word", "string") or name.keyword(*KEYWORDS):
                raise self.error("expected a tag name after 'tag:'", name)
            self.take()
            return tag_test(name.text)
        if colon and head.lower() in fields():
            raise self.error(
                f"':' is only for tag:NAME; '{head}' is a field", token, f": write {head}={rest}"
            )
        return _words_test(token.text, self.haystack)

    def comparison(self) -> Test:
        name, op = self.take(), self.take()
        field = fields().get(name.text.lower())
        if field is None:
            raise self.error(f"unknown field '{name.text}'", name, suggest_field(name.text))
        self.named.add(field.name)
        value = self.peek()
        if value.kind not in ("word", "string") or value.keyword(*KEYWORDS):
            found = "" if value.kind == "end" else f", found {value.shown()}"
            raise self.error(f"expected a value after '{op.text}'", value, found)
        self.take()
        return self.compiler.compare(field, op, value)


@dataclass(frozen=True)
class Query:
    """A parsed query: ``matches(record)``. The empty text matches every run."""

    text: str
    test: Test
    fields: frozenset[str] = frozenset()  # the fields it compares (``archived``, ...)

    def matches(self, record: RunRecord) -> bool:
        return self.test(record)


def parse(text: str) -> Query:
    """The query ``text`` (see the module docstring), or a ``QueryError`` naming the column."""
    parser = _Parser(text)
    test = parser.parse()
    return Query(text, test, frozenset(parser.named))
