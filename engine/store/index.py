"""The layout of index.json, and how a whole index is parsed and written.

index.json is a TinyDB database (``TinyDB("runs/index.json")`` opens it with TinyDB's own
JSONStorage) laid out so that one run's document can be rewritten in place::

    {"runs":{
    "1":{"id":"20250101-120000-resnet-digits-1a2b",...}          ,
    "2":{"id":"20250101-120500-digits-quick-9f3c",...}
    }}

- one document per line, ``"<doc id>":`` then the document, its ``id`` first;
- each line padded with spaces (JSON whitespace) to a *slot* with headroom, so that the
  per-epoch updates of a run fit in its slot and are written over it (``engine.store.slots``);
  a comma, when one follows, ends the line after the padding;
- document ids increase down the file, so the next id is the last line's plus one;
- the runs table last: with any other table in the file, the file does not start with
  ``HEAD`` and the store goes through TinyDB for every write.

Parsing line by line (``parse_lines``) reuses the documents of lines that did not change since
the previous parse (a cache keyed by the line's bytes), which is what lets the console re-list
10,000 runs every time one of them finishes an epoch. Anything unexpected falls back to
``json.loads`` of the whole file, which decides whether the index is readable at all.
"""

from __future__ import annotations

import contextlib
import gc
import json
import re
from collections.abc import Iterator
from typing import Any, NamedTuple

from engine.fsio import to_json
from engine.store.schema import sort_time

TABLE = "runs"
HEAD = b'{"' + TABLE.encode() + b'":{\n'
TAIL = b"\n}}\n"
EMPTY = HEAD + b"}}\n"  # an index with no runs: the head's newline is the tail's
KEY_RE = re.compile(rb'"[0-9]+"')
# Slots: a document may grow by this much before its line has to be moved (a rewrite of the
# whole file). A run that will train again grows by its pid, times, metrics and messages;
# a finished run only rarely (a rename).
HEADROOM = 1024
HEADROOM_DONE = 256
_SLOT_ALIGN = 64


class IndexUnreadable(Exception):
    """index.json exists but does not hold a valid runs index (internal: triggers a rebuild)."""


class Entry(NamedTuple):
    """One parsed line: the document, its TinyDB id (``"N"`` as bytes, and N), its sort time,
    and whether a comma ends its line (every line but the last)."""

    key: bytes
    doc: dict[str, Any]
    time: float
    number: int = 0
    comma: bool = False


def slot_size(used: int, doc: dict[str, Any]) -> int:
    """The slot for a line of ``used`` bytes: the bytes plus headroom, rounded up."""
    room = HEADROOM_DONE if doc.get("status") in ("finished", "diverged") else HEADROOM
    return -(-(used + room) // _SLOT_ALIGN) * _SLOT_ALIGN


def id_first(doc: dict[str, Any]) -> dict[str, Any]:
    """The document with ``id`` as its first key (how lines are found)."""
    if next(iter(doc), None) == "id" or "id" not in doc:
        return doc
    return {"id": doc["id"], **doc}


def doc_line(key: bytes, doc: dict[str, Any], slot: int | None = None) -> bytes:
    """``"<id>":{...}`` padded with spaces to ``slot`` (default: a fresh slot for it)."""
    line = key + b":" + to_json(id_first(doc))
    size = slot_size(len(line), doc) if slot is None else slot
    return line.ljust(size)


def check_index(data: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(data, dict):
        raise IndexUnreadable(f"expected a JSON object, found {type(data).__name__}")
    table = data.get(TABLE, {})
    if not isinstance(table, dict):
        raise IndexUnreadable(f"'{TABLE}' is not a table")
    for key, doc in table.items():
        if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
            raise IndexUnreadable(f"document {key} has no run id")
    return data


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a big index is decoded: the collector would run
    hundreds of times over the objects being built (a third of the time), and none of them
    can be garbage yet."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parse_whole(raw: bytes) -> dict[str, dict[str, Any]] | None:
    """The index's tables from its bytes (any layout TinyDB writes); None when empty."""
    if len(raw) < 64 and not raw.strip():  # empty (no copy of a big file to check)
        return None
    try:
        with gc_paused():
            data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
        raise IndexUnreadable(str(e)) from e
    return check_index(data)


def dump_index(data: dict[str, dict[str, Any]]) -> bytes:
    """The whole index in the slot layout (module docstring); documents in id order."""
    # The runs table goes last: with any other table the file does not start with HEAD, and
    # the in-place writers leave it to TinyDB.
    tables = sorted(data.items(), key=lambda item: item[0] == TABLE)
    out = [b"{"]
    for i, (name, table) in enumerate(tables):
        out.append((b"," if i else b"") + to_json(name) + b":{")
        if name == TABLE:
            items = sorted(table.items(), key=lambda item: _key_order(item[0]))
            lines = [doc_line(to_json(str(key)), doc) for key, doc in items]
        else:
            lines = [to_json(str(key)) + b":" + to_json(doc) for key, doc in table.items()]
        if lines:
            out.append(b"\n" + b",\n".join(lines))
        out.append(b"\n}")
    out.append(b"}\n")
    return b"".join(out)


def _key_order(key: Any) -> tuple[int, str]:
    text = str(key)
    return (int(text), "") if text.isdigit() else (-1, text)


def split_line(line: bytes) -> tuple[bytes, bool]:
    """A line of the runs table without its padding: (``"<id>":{...}``, followed by a comma)."""
    content = line.rstrip(b" ")
    comma = content.endswith(b",")
    if comma:
        content = content[:-1].rstrip(b" ")
    return content, comma


def parse_line(content: bytes, comma: bool = False) -> Entry | None:
    """``"<id>":{...}`` as an Entry; None when it is not a document line."""
    colon = content.find(b":")
    if colon < 0 or not KEY_RE.fullmatch(content[:colon]):
        return None
    try:
        doc = json.loads(content[colon + 1 :])
    except (ValueError, UnicodeDecodeError):
        return None
    return _entry(content[:colon], doc, comma)


def _entry(key: bytes, doc: Any, comma: bool) -> Entry | None:
    if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
        return None
    return Entry(key, doc, sort_time(doc), int(key[1:-1]), comma)


def _parse_many(lines: list[bytes]) -> list[Entry | None]:
    """``parse_line`` for many lines, with one ``json.loads`` over all of them when they are
    well formed: the decoder then shares the key strings between documents (a fresh list of
    10,000 runs builds far fewer objects)."""
    # split_line, spelled out over the whole list (this is the cold path of a big store)
    contents = [line.rstrip(b" ,") for line in lines]  # a document ends with "}"
    commas = [line.rstrip(b" ").endswith(b",") for line in lines]
    colons = [content.find(b":") for content in contents]
    keys = [content[:colon] for content, colon in zip(contents, colons, strict=True)]
    try:
        if not all(KEY_RE.fullmatch(key) for key in keys):
            raise ValueError("not a document line")
        values = [content[colon + 1 :] for content, colon in zip(contents, colons, strict=True)]
        with gc_paused():
            docs = json.loads(b"[" + b",".join(values) + b"]")
        if len(docs) != len(lines):
            raise ValueError("a line holds more than one value")
    except (ValueError, UnicodeDecodeError):
        return [parse_line(*split_line(line)) for line in lines]  # one by one: which is bad
    return [_entry(*item) for item in zip(keys, docs, commas, strict=True)]


def parse_tail(raw: bytes, n: int) -> tuple[list[Entry], int] | None:
    """The last ``n`` lines of an index in the slot layout, parsed, and how many lines it has
    (without parsing the others); None when it is not in that layout or one of them does not
    parse."""
    if not raw.startswith(HEAD) or not raw.endswith(TAIL):
        return None
    if raw == EMPTY:
        return [], 0
    lines = raw[len(HEAD) : -len(TAIL)].split(b"\n")
    tail = _parse_many(lines[-n:]) if n > 0 else []
    if any(entry is None for entry in tail):
        return None
    return [entry for entry in tail if entry is not None], len(lines)


def parse_lines(raw: bytes, cache: dict[bytes, Entry]) -> list[Entry] | None:
    """The runs of an index in the slot layout, line by line, reusing ``cache`` (a line's bytes
    to its Entry) for lines that did not change; ``cache`` is replaced by this file's lines.
    None when ``raw`` is not in that layout or a line does not parse: ``parse_whole`` then
    decides."""
    if not raw.startswith(HEAD) or not raw.endswith(TAIL):
        return None
    if raw == EMPTY:
        cache.clear()
        return []
    lines = raw[len(HEAD) : -len(TAIL)].split(b"\n")
    found = [cache.get(line) for line in lines]  # the lines that did not change
    missing = [i for i, entry in enumerate(found) if entry is None]
    for i, entry in zip(missing, _parse_many([lines[i] for i in missing]), strict=True):
        if entry is None:
            return None
        found[i] = entry
    entries: list[Entry] = []
    last, previous = len(lines) - 1, -1
    for i, entry in enumerate(found):
        assert entry is not None
        # every line but the last ends with a comma; ids increase (json.loads would keep only
        # the last of two equal ones)
        if entry.comma != (i < last) or entry.number <= previous:
            return None
        previous = entry.number
        entries.append(entry)
    cache.clear()
    cache.update(zip(lines, entries, strict=True))
    return entries
