"""What the config form knows about its fields, without Textual: their widgets' kind, the text
an input shows for a value and the value it reads back, and the form's validation.

Everything about a field comes from the engine's field metadata (``api.field_infos``: help,
range, choices, the registry that names its values), how a typed value reads and shows
(``api.read_field``, ``FieldInfo.show``) included; every rule is checked by the engine's
``check_dict``, which reports all problems at once, each on its key's row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from engine.api import FieldInfo, RunConfig, base_key, check_dict, field_infos, read_field

SECTION_TITLES = {
    "model": "Model",
    "data": "Data",
    "augment": "Augment",
    "optim": "Optimizer",
    "schedule": "Schedule",
    "train": "Training",
}


@cache
def infos_by_key() -> dict[str, FieldInfo]:
    return {info.key: info for info in field_infos()}


@cache
def registry_keys() -> dict[str, str]:
    """Keys whose choices a registry decides -> the catalog list of names ("models")."""
    return {info.key: info.registry for info in field_infos() if info.registry}


@cache
def arch_fields() -> tuple[str, ...]:
    """Model fields left at None mean "the model's own default"."""
    return tuple(
        info.name
        for info in field_infos()
        if info.section == "model" and info.name != "name" and info.default is None
    )


def widget_id(info: FieldInfo) -> str:
    return f"f-{info.section}-{info.name}"


def key_of_widget_id(wid: str | None) -> str | None:
    if not wid or not wid.startswith("f-"):
        return None
    section, _, name = wid[2:].partition("-")
    return f"{section}.{name}"


def uses_input(info: FieldInfo) -> bool:
    """Typed into an Input (held as text); the others are Selects and Toggles (held typed)."""
    return not (info.registry or info.choices or info.base is bool)


def format_value(value: Any) -> str:
    """A value as the user types it (the same for every field)."""
    return field_infos()[0].show(value)


def parse_text(info: FieldInfo, text: str) -> tuple[Any, str | None]:
    """A typed value from an input's text, or an error that says what to type."""
    return read_field(info, text)


def strip_key(message: str, key: str) -> str:
    """The message without its leading 'key: ' (the row already names the key)."""
    return message[len(key) + 2 :] if message.startswith(key + ": ") else message


def help_text(info: FieldInfo) -> str:
    """'optim.lr (a number > 0): the base learning rate': the key, what it accepts, its help."""
    return info.help_line()


@dataclass
class FormResult:
    config: RunConfig | None
    errors: dict[str, str] = field(default_factory=dict)  # field key -> message
    general: str = ""  # an error no row can show

    @property
    def ok(self) -> bool:
        return self.config is not None and not self.errors and not self.general

    def first_error(self) -> tuple[str | None, str]:
        if self.errors:
            key = next(iter(self.errors))
            return key, self.errors[key]
        return None, self.general


def check_form(values: dict[str, dict[str, Any]], parse_errors: dict[str, str]) -> FormResult:
    """Validate the form's typed values in one pass: every problem on its field's row (the
    first per row), in the order of the fields; one no row can show becomes ``general``.

    A field whose text did not parse is given here with a value that did (its previous one),
    and already has its message in ``parse_errors``.
    """
    check = check_dict(values)
    found = dict(parse_errors)
    general = ""
    for error in check.errors:
        key = base_key(error.key)
        if key in infos_by_key():
            found.setdefault(key, str(error))
        elif not general:
            general = str(error)
    errors = {key: found[key] for key in infos_by_key() if key in found}
    config = check.config if not errors and not general else None
    return FormResult(config, errors, general)


def flat_values(config: RunConfig) -> dict[str, Any]:
    return {f"{s}.{k}": v for s, d in config.to_dict().items() for k, v in d.items()}


def empty_sections() -> dict[str, dict[str, Any]]:
    return {info.section: {} for info in field_infos()}
