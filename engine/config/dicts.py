"""Config data as the outside world writes it: ``section.key=value`` overrides, nested
dictionaries, and TOML.

Presets and ``--set`` overrides are partial ``{section: {key: value}}`` dictionaries laid over
the defaults; these helpers parse, nest, merge and write them. Checking them is
``engine.config.run``'s job.
"""

from __future__ import annotations

import tomllib
from typing import Any

from engine.config.sections import SECTIONS, _by_key
from engine.errors import ConfigError


def nest(flat: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"optim.lr": 0.1}`` -> ``{"optim": {"lr": 0.1}}``; nested input passes through."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in flat.items():
        if isinstance(value, dict):
            out.setdefault(key, {}).update(value)
            continue
        section, dot, name = key.partition(".")
        if not dot or not name:
            raise ConfigError(
                f"'{key}' is not of the form section.key (for example optim.lr); "
                f"sections: {', '.join(SECTIONS)}",
                key,
            )
        out.setdefault(section, {})[name] = value
    return out


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``section.key=value`` from the command line.

    The value is read as a TOML value (``0.1``, ``true``, ``[3, 3, 2, 3]``, ``"adam"``); bare
    words are strings and comma-separated items are lists (``model.layers=3,3,2,3``).
    """
    key, eq, raw = text.partition("=")
    key, raw = key.strip(), raw.strip()
    if not eq or not key:
        raise ConfigError(f"--set '{text}': expected section.key=value, e.g. optim.lr=0.05", text)
    return key, parse_value(raw)


def parse_value(raw: str) -> Any:
    if "," in raw and not raw.startswith(("[", '"', "'")):
        return [parse_value(part.strip()) for part in raw.split(",") if part.strip()]
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def to_toml(
    data: dict[str, Any], header: dict[str, Any] | None = None, *, comments: bool = False
) -> str:
    """Write ``{section: {key: value}}`` as TOML; None values are left out (they mean default).

    ``comments``: follow each key with its help and what it accepts, from the field metadata
    (``presets show`` and docs; a config saved with a run stays bare).
    """
    lines = [f"{k} = {_toml_value(v)}" for k, v in (header or {}).items() if v is not None]
    for section, values in data.items():
        body = [
            f"{k} = {_toml_value(v)}" + (_comment(f"{section}.{k}") if comments else "")
            for k, v in values.items()
            if v is not None
        ]
        if body:
            lines += ["", f"[{section}]", *body]
    return "\n".join(lines).lstrip("\n") + "\n"


def _comment(key: str) -> str:
    info = _by_key().get(key)
    if info is None:
        return ""
    return f"  # {info.help} ({info.describe()})" if info.help else f"  # {info.describe()}"
