"""The user's settings: a small TOML file, ``~/.config/resnet-tui/settings.toml``.

Unlike a run's config (``engine.config``), settings belong to the user, not to a run: they say
how the console and the trainers tell the user about runs (the alerts). The engine reads them
(a trainer runs the user's alert command when its run ends) and so does the console, through
``engine.api``; ``resnet-tui settings show/set`` edits them. ``RESNET_TUI_CONFIG`` points at
another file (tests, a second profile). A missing file means every default; a file that does
not parse or holds an unknown key or a wrong type is a ``SettingsError`` naming the file, the
key and what to do (never a traceback, and the file is never rewritten behind the user's back).

Torch-free.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import UserError
from engine.fsio import atomic_write

CONFIG_ENV = "RESNET_TUI_CONFIG"
FILE_NAME = "settings.toml"


class SettingsError(UserError):
    """The settings file, or a value given for a setting, is not usable."""


@dataclass(frozen=True)
class Setting:
    """One setting: its dotted key, type, default and a line of help."""

    key: str
    kind: type
    default: bool | str | int
    help: str
    low: int | None = None  # ints: the smallest and largest allowed
    high: int | None = None

    def describe(self) -> str:
        if self.kind is bool:
            return "true or false"
        if self.kind is int:
            return f"a whole number from {self.low} to {self.high}"
        return "text"


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "alerts.bell", bool, True, "ring the terminal bell when a run ends (not when you stop it)"
    ),
    Setting("alerts.toast", bool, True, "show a notification in the console when a run ends"),
    Setting(
        "alerts.command",
        str,
        "",
        "a shell command run when a run ends (its id, name, status and accuracy in "
        "RESNET_TUI_* variables); empty: none",
    ),
    Setting("alerts.timeout_s", int, 30, "seconds the alert command may take", 1, 3600),
)
BY_KEY = {s.key: s for s in SETTINGS}


@dataclass(frozen=True)
class AlertSettings:
    bell: bool = True
    toast: bool = True
    command: str = ""
    timeout_s: int = 30


@dataclass(frozen=True)
class Settings:
    """Every setting, at its default unless the file says otherwise."""

    alerts: AlertSettings = AlertSettings()
    path: Path | None = None  # the file they were read from (None: no file)

    def value(self, key: str) -> Any:
        section, name = key.split(".")
        return getattr(getattr(self, section), name)

    def values(self) -> dict[str, Any]:
        return {s.key: self.value(s.key) for s in SETTINGS}


def settings_path() -> Path:
    """``$RESNET_TUI_CONFIG``, else ``$XDG_CONFIG_HOME/resnet-tui/settings.toml``, else
    ``~/.config/resnet-tui/settings.toml``."""
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "resnet-tui" / FILE_NAME


def load_settings(path: Path | None = None) -> Settings:
    """The settings in ``path`` (default ``settings_path()``); every default when it does not
    exist. Raises SettingsError naming the file and the problem."""
    path = path or settings_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings()
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"cannot read the settings file {path}: {_reason(exc)}") from exc
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(
            f"the settings file {path} is not valid TOML ({exc}); fix it or remove it "
            "(`resnet-tui settings show` lists the keys)"
        ) from exc
    sections: dict[str, dict[str, Any]] = {}
    for section, body in raw.items():
        if not isinstance(body, dict):
            raise SettingsError(
                f"the settings file {path}: '{section}' must be a [section]; "
                f"known keys: {', '.join(BY_KEY)}"
            )
        for name, value in body.items():
            setting = _known(f"{section}.{name}", where=f"the settings file {path}: ")
            sections.setdefault(section, {})[name] = _checked(
                setting, value, where=f"the settings file {path}: "
            )
    alerts = AlertSettings(**sections.get("alerts", {}))
    return Settings(alerts=alerts, path=path)


def parse_value(key: str, text: str) -> bool | str | int:
    """``text`` as typed on a command line, as the value of setting ``key``."""
    setting = _known(key)
    value: Any = text
    if setting.kind is bool:
        lowered = text.strip().lower()
        if lowered in ("true", "yes", "on", "1"):
            value = True
        elif lowered in ("false", "no", "off", "0"):
            value = False
    elif setting.kind is int:
        try:
            value = int(text.strip())
        except ValueError:
            pass
    return _checked(setting, value)


def set_setting(key: str, text: str, path: Path | None = None) -> Settings:
    """Set ``key`` to ``text`` (parsed for its type) in the settings file and return the new
    settings. A settings file that cannot be read is refused, never overwritten."""
    path = path or settings_path()
    current = load_settings(path)
    value = parse_value(key, text)
    section, name = key.split(".")
    changes: dict[str, Any] = {name: value}
    changed = dataclasses.replace(
        current, **{section: dataclasses.replace(getattr(current, section), **changes)}
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingsError(f"cannot create {path.parent}: {_reason(exc)}") from exc
    try:
        atomic_write(path, settings_toml(changed).encode("utf-8"))
    except UserError as exc:
        raise SettingsError(str(exc)) from exc
    return dataclasses.replace(changed, path=path)


def settings_toml(settings: Settings) -> str:
    """The settings file's text: every key with its value and help."""
    lines = ["# resnet-tui settings (`resnet-tui settings set KEY VALUE` edits this file)"]
    section = ""
    for s in SETTINGS:
        head, name = s.key.split(".")
        if head != section:
            section = head
            lines += ["", f"[{head}]"]
        lines += [f"# {s.help} ({s.describe()})", f"{name} = {_toml_value(settings.value(s.key))}"]
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def _known(key: str, where: str = "") -> Setting:
    setting = BY_KEY.get(key)
    if setting is None:
        near = difflib.get_close_matches(key, list(BY_KEY), n=1)
        hint = f"; did you mean {near[0]}?" if near else f"; known keys: {', '.join(BY_KEY)}"
        raise SettingsError(f"{where}unknown setting '{key}'{hint}")
    return setting


def _checked(setting: Setting, value: Any, where: str = "") -> bool | str | int:
    ok = isinstance(value, setting.kind) and not (setting.kind is int and isinstance(value, bool))
    if ok and setting.kind is int and not (setting.low or 0) <= value <= (setting.high or 0):
        ok = False
    if ok and setting.kind is str and any(ord(c) < 32 and c != "\t" for c in value):
        ok = False  # one line: a newline in a command is a paste accident
    if not ok:
        raise SettingsError(
            f"{where}{setting.key} must be {setting.describe()}, not {str(value)!r}"
        )
    result: bool | str | int = value
    return result


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)
