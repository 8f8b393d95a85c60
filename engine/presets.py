"""Presets: TOML files of partial overrides over the defaults, with a one-line description.

A preset may ``extends = "other-preset"``. Built-in presets live in the repository's
``presets/``; the user's own (saved from the TUI form) in ``$RESNET_TUI_PRESETS`` or
``~/.config/resnet-tui/presets``. A user preset of the same name shadows a built-in one.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.config import RunConfig, deep_merge, from_dict, nest, parse_override, to_toml
from engine.errors import ConfigError, nearest

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "presets"
DEFAULT_PRESET = "digits-quick"
HEADER_KEYS = ("description", "extends")
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def user_dir() -> Path:
    env = os.environ.get("RESNET_TUI_PRESETS")
    return Path(env) if env else Path.home() / ".config" / "resnet-tui" / "presets"


def search_path() -> list[Path]:
    return [user_dir(), BUILTIN_DIR]


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    path: Path
    overrides: dict[str, Any]  # nested {section: {key: value}}, extends already applied
    builtin: bool


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read preset {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:  # a binary file (a pickle, a checkpoint) is not a preset
        raise ConfigError(
            f"{path}: not a TOML preset (not UTF-8 text: byte {exc.start} is invalid); "
            "presets are TOML files of [section] tables"
        ) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already says "(at line N, column M)"
        raise ConfigError(f"{path}: TOML syntax error: {exc}; fix that line and retry") from exc


def list_presets() -> list[Preset]:
    seen: dict[str, Preset] = {}
    for folder in search_path():
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            if path.stem not in seen:
                try:
                    seen[path.stem] = load_preset(str(path))
                except ConfigError as exc:
                    seen[path.stem] = Preset(path.stem, f"(broken: {exc})", path, {}, True)
    return sorted(seen.values(), key=lambda p: p.name)


def find_preset(ref: str) -> Path:
    """A preset name from the search path, or a path to a TOML file."""
    candidate = Path(ref)
    if ref.endswith(".toml") or os.sep in ref:
        if candidate.is_file():
            return candidate
        raise ConfigError(f"preset file '{ref}' does not exist")
    for folder in search_path():
        path = folder / f"{ref}.toml"
        if path.is_file():
            return path
    names = sorted(
        {p.stem for folder in search_path() if folder.is_dir() for p in folder.glob("*.toml")}
    )
    raise ConfigError(
        f"unknown preset '{ref}'{nearest(ref, names)}; see `resnet-tui presets list` "
        f"(available: {', '.join(names)})"
    )


def load_preset(ref: str, _chain: tuple[str, ...] = ()) -> Preset:
    path = find_preset(ref)
    if str(path) in _chain:
        raise ConfigError(f"{path}: 'extends' makes a cycle: {' -> '.join(_chain + (str(path),))}")
    raw = _read_toml(path)
    description = raw.pop("description", "")
    parent = raw.pop("extends", None)
    if not isinstance(description, str):
        raise ConfigError(f"{path}: 'description' must be a string")
    for key, value in raw.items():
        if not isinstance(value, dict):
            raise ConfigError(
                f"{path}: top-level key '{key}' is not a [section] table; only description and "
                f"extends may stand outside a section{nearest(key, HEADER_KEYS)}"
            )
    overrides = raw
    if parent is not None:
        if not isinstance(parent, str):
            raise ConfigError(f"{path}: 'extends' must be a preset name")
        try:
            base = load_preset(parent, _chain + (str(path),))
        except ConfigError as exc:
            if "cycle" in str(exc):
                raise
            raise ConfigError(f'{path}: extends = "{parent}": {exc}') from exc
        overrides = deep_merge(base.overrides, raw)
    try:
        from_dict(overrides)  # refuse unknown keys, wrong types and bad ranges now, naming the file
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}", exc.key) from exc
    return Preset(path.stem, description, path, overrides, path.parent != user_dir())


def resolve(ref: str | None = None, sets: list[str] | None = None) -> tuple[RunConfig, str]:
    """The config of preset ``ref`` (default: the embedded default) with ``--set`` overrides."""
    preset = load_preset(ref or DEFAULT_PRESET)
    flat: dict[str, Any] = {}
    for text in sets or []:
        key, value = parse_override(text)
        flat[key] = value
    merged = deep_merge(preset.overrides, nest(flat))
    try:
        return from_dict(merged), preset.name
    except ConfigError as exc:
        if exc.key and exc.key in flat:
            raise ConfigError(f"--set {exc}", exc.key) from exc
        raise


def save_preset(
    name: str, config: RunConfig, description: str, base: RunConfig | None = None
) -> Path:
    """Write the keys of ``config`` that differ from ``base`` (default: defaults) as a preset."""
    from engine.config import diff

    if not NAME_PATTERN.match(name):
        raise ConfigError(
            f"preset name '{name}': use lower-case letters, digits, '-', '_' and '.' only", "name"
        )
    folder = user_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    body = to_toml(diff(base or RunConfig(), config), {"description": description})
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(body, encoding="utf-8")
    os.replace(tmp, path)
    return path
