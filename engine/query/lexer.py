"""The query language's words: its tokens, and the error every part of it raises."""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import UserError

OPERATORS = ("!=", "!~", "<=", ">=", "==", "=", "<", ">", "~")
KEYWORDS = ("and", "or", "not")
_OPERATOR_CHARS = frozenset("=!<>~")
_STOP = frozenset(" \t\r\n()\"'") | _OPERATOR_CHARS


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
