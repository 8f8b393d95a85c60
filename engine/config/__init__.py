"""Typed, frozen run configuration: its sections, field metadata, checks and TOML round trip.

A run is fully described by a ``RunConfig``: six sections of plain values. Presets and
``--set section.key=value`` overrides are partial dictionaries laid over the defaults;
anything unknown, mistyped or out of range is refused with a ``ConfigError`` that names the
key and, for unknown keys, the nearest valid one.

- ``sections``: the dataclasses; each field declares its help, range and choices once, as
  metadata, read back through ``field_infos()`` / ``field_info(key)``.
- ``run``: ``RunConfig``, ``check_dict`` (the config or every problem at once),
  ``from_dict`` (the first problem raised), ``validate_all``, ``same_config``.
- ``dicts``: overrides, nesting, merging, TOML out.
- ``augmentations``: what each augmentation switches on (torch-free, for forms).
"""

from engine.config.dicts import deep_merge, nest, parse_override, parse_value, to_toml
from engine.config.meta import FieldInfo, describe_type, meta, type_name
from engine.config.run import (
    RULES,
    ConfigCheck,
    Rule,
    RunConfig,
    base_key,
    check_dict,
    coerce,
    diff,
    from_dict,
    read_field,
    same_config,
    validate,
    validate_all,
)
from engine.config.sections import (
    CHOICES,
    OWN_DATASETS,
    SECTIONS,
    AugmentConfig,
    DataConfig,
    ModelConfig,
    OptimConfig,
    ScheduleConfig,
    TrainConfig,
    all_keys,
    field_info,
    field_infos,
    section_fields,
    suggest_key,
)
from engine.errors import ConfigError

__all__ = [
    "OWN_DATASETS",
    "CHOICES",
    "RULES",
    "SECTIONS",
    "AugmentConfig",
    "ConfigCheck",
    "ConfigError",
    "DataConfig",
    "FieldInfo",
    "ModelConfig",
    "OptimConfig",
    "Rule",
    "RunConfig",
    "ScheduleConfig",
    "TrainConfig",
    "all_keys",
    "base_key",
    "check_dict",
    "coerce",
    "deep_merge",
    "describe_type",
    "diff",
    "field_info",
    "field_infos",
    "from_dict",
    "meta",
    "nest",
    "parse_override",
    "parse_value",
    "read_field",
    "same_config",
    "section_fields",
    "suggest_key",
    "to_toml",
    "type_name",
    "validate",
    "validate_all",
]
