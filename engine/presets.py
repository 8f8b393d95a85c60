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

from engine.config import RunConfig, check_dict, deep_merge, nest, parse_override, to_toml
from engine.errors import ConfigError, PlanError, nearest

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
                    builtin = folder == BUILTIN_DIR
                    seen[path.stem] = Preset(path.stem, f"(broken: {exc})", path, {}, builtin)
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
    # Refuse unknown keys, wrong types and bad ranges now, every one of them, naming the file.
    problems = check_dict(overrides).errors
    if problems:
        raise _all([ConfigError(f"{path}: {exc}", exc.key) for exc in problems])
    return Preset(path.stem, description, path, overrides, path.parent != user_dir())


def resolve(ref: str | None = None, sets: list[str] | None = None) -> tuple[RunConfig, str]:
    """The config of preset ``ref`` (default: the embedded default) with ``--set`` overrides."""
    preset = load_preset(ref or DEFAULT_PRESET)
    return with_overrides(preset.overrides, sets), preset.name


def with_overrides(base: dict[str, Any], sets: list[str] | None = None) -> RunConfig:
    """``base`` (nested overrides of the defaults) with ``--set section.key=value`` texts laid
    over it, checked; every problem at once (a PlanError of several, a ConfigError of one),
    those of a --set named as such."""
    flat: dict[str, Any] = {}
    problems: list[ConfigError] = []
    for text in sets or []:
        try:
            key, value = parse_override(text)
            nest({key: value})  # 'lr=0.1' is not section.key
        except ConfigError as exc:
            problems.append(exc)
            continue
        flat[key] = value
    check = check_dict(deep_merge(base, nest(flat)))
    for error in check.errors:
        named = error.key is not None and error.key.split("[")[0] in flat
        problems.append(ConfigError(f"--set {error}", error.key) if named else error)
    if problems:
        raise _all(problems)
    assert check.config is not None
    return check.config


def _all(problems: list[ConfigError]) -> ConfigError:
    """One problem as itself (its message unchanged), several as one PlanError."""
    return problems[0] if len(problems) == 1 else PlanError(problems)


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
