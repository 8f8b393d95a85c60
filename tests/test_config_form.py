"""The config form's engine side, without a screen: fields, help, switches and validation all
come from the engine's field metadata and registries (the pilot tests drive the widget)."""

from __future__ import annotations

import inspect
from typing import Any

from engine.config import RunConfig, field_info, field_infos
from engine.config.augmentations import list_augmentations
from resnet_tui.widgets import config_fields, config_form, config_rows
from resnet_tui.widgets.config_fields import (
    check_form,
    empty_sections,
    flat_values,
    help_text,
    parse_text,
    registry_keys,
    uses_input,
)


def _values(config: RunConfig, **changed: Any) -> dict[str, dict[str, Any]]:
    values = empty_sections()
    for key, value in {**flat_values(config), **changed}.items():
        section, name = key.split(".")
        values[section][name] = value
    return values


def test_no_source_text_is_parsed_and_no_private_widget_state_is_read() -> None:
    for module in (config_form, config_fields, config_rows):
        source = inspect.getsource(module)
        assert "getsource" not in source and "import re\n" not in source
        assert "._options" not in source  # the form builds a Select's options itself
    assert help_text(field_info("optim.lr")) == "optim.lr (a number > 0): the base learning rate"
    assert help_text(field_info("model.layers")).endswith(": B_i: blocks per stage (seed 003)")


def test_widget_kinds_follow_the_metadata() -> None:
    assert registry_keys() == {
        "model.name": "models",
        "data.name": "datasets",
        "optim.name": "optimizers",
        "schedule.name": "schedules",
    }
    selects = {i.key for i in field_infos() if not uses_input(i)}
    assert {"model.act", "train.amp", "augment.hflip", "model.avg_down"} <= selects
    assert not uses_input(field_info("model.name")) and uses_input(field_info("optim.lr"))
    assert parse_text(field_info("model.layers"), "3 3 2") == ([3, 3, 2], None)
    assert parse_text(field_info("model.layers"), "")[0] is None  # unset: the model's own
    value, error = parse_text(field_info("optim.lr"), "fast")
    assert value is None and error and error.startswith("optim.lr: expected a number")


def test_the_form_sees_every_problem_in_one_pass() -> None:
    base = RunConfig()
    values = _values(
        base,
        **{
            "optim.lr": -1.0,
            "train.amp": "fp8",
            "model.layers": [1, 2],
            "model.channels": [8, 16, 32],
            "data.val_fraction": 2.0,
        },
    )
    result = check_form(values, {"augment.rotation": "augment.rotation: expected a number"})
    assert result.config is None and not result.ok and result.general == ""
    assert list(result.errors) == [  # one per row, in the order of the fields
        "model.layers",
        "data.val_fraction",
        "augment.rotation",
        "optim.lr",
        "train.amp",
    ]
    assert "one entry per stage" in result.errors["model.layers"]
    assert result.first_error() == ("model.layers", result.errors["model.layers"])
    fine = check_form(_values(base), {})
    assert fine.ok and fine.config == base


def test_the_augment_switches_come_from_the_registry() -> None:
    augs = {a.name: a for a in list_augmentations()}
    assert augs["cutout"].switches == {"cutout_holes": 3, "cutout_length": 4}
    assert augs["cutout"].off_values() == {"cutout_holes": 0, "cutout_length": 0}
    assert augs["randaugment"].params == ("randaugment_magnitude",)
    assert augs["hflip"].label == "horizontal flip" and not augs["normalize"].switches
    for aug in augs.values():  # switching one on gives a valid config
        on = {f"augment.{k}": v for k, v in aug.switches.items()}
        assert RunConfig().replace(on).augment != RunConfig().augment or not on
        assert {k: field_info(f"augment.{k}").default for k in aug.switches} == aug.off_values()
