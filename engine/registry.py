"""One generic registry of named entries: models, datasets, optimizers, schedules, augmentations.

Each kind of thing a config names (``model.name``, ``optim.name``, ...) is a ``Registry[T]``
whose entries carry their behaviour (a builder, a factor function, a loader), as timm's
optimizer registry and torchvision's ``models/_api.py`` do. The registry knows the dotted key
that names its entries, so an unknown name is refused the same way everywhere: a
``ConfigError`` with that key and the nearest registered name.

Imports neither torch nor anything that does: the console's torch-free modules use it too.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar, overload

from engine.errors import ConfigError, nearest

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries of one kind by name, in registration order.

    ``key`` is the config key that names an entry ("optim.name"), ``kind`` the word for one
    entry in messages ("optimizer"), ``hint`` what to tell a user who named none of them
    (default: the list of names).
    """

    def __init__(self, key: str, kind: str, hint: str | None = None) -> None:
        self.key = key
        self.kind = kind
        self.hint = hint
        self._entries: dict[str, T] = {}

    @overload
    def register(self, name: str, entry: T) -> T: ...

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...

    def register(self, name: str, entry: T | None = None) -> T | Callable[[T], T]:
        """Add ``entry`` under ``name``; without an entry, return a decorator that adds what it
        decorates. A name registered twice is a programming error (ValueError)."""

        def add(item: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = item
            return item

        return add if entry is None else add(entry)

    def unregister(self, name: str) -> None:
        """Remove an entry (tests that register a throwaway one)."""
        del self._entries[name]

    def get(self, name: str) -> T:
        """The entry named ``name``, or a ConfigError naming the key and the nearest name."""
        try:
            return self._entries[name]
        except KeyError:
            hint = self.hint or f"choices: {', '.join(self._entries)}"
            raise ConfigError(
                f"{self.key}: unknown {self.kind} '{name}'{nearest(name, self._entries)}; {hint}",
                self.key,
            ) from None

    def names(self) -> builtins.list[str]:
        return builtins.list(self._entries)

    def list(self) -> builtins.list[T]:
        return builtins.list(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.key!r}, {len(self)} {self.kind}s)"
