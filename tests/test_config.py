"""Config and presets: defaults, overrides, every refusal with a message naming the key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from engine import presets
from engine.config import (
    CHOICES,
    FieldInfo,
    RunConfig,
    all_keys,
    check_dict,
    field_info,
    field_infos,
    from_dict,
    parse_override,
    same_config,
    to_toml,
    validate,
    validate_all,
)
from engine.errors import ConfigError


def test_every_builtin_preset_resolves_and_names_a_seed_or_purpose() -> None:
    items = presets.list_presets()
    names = {p.name for p in items}
    expected = {
        "digits-quick",
        "cifar10-baseline-cnn",
        "cifar10-resnet-small",
        "cifar10-resnet24-mixup",
        "cifar10-resnet50d-se",
        "basenet",
        "resnet18-basic",
        "resnet18-bottleneck",
        "resnext18",
        "resnet-wide",
        "resnet18-dilation",
    }
    assert expected <= names
    for p in items:
        assert p.description and not p.description.startswith("(broken")
        config, name = presets.resolve(p.name)
        assert name == p.name and isinstance(config, RunConfig)


def test_seed_presets_carry_the_seed_recipes() -> None:
    c, _ = presets.resolve("cifar10-resnet24-mixup")
    assert (c.model.name, c.optim.name, c.optim.lr, c.augment.mixup_alpha) == (
        "resnet24",
        "adadelta",
        0.1,
        1.0,
    )
    c, _ = presets.resolve("cifar10-resnet50d-se")
    assert c.model.se_ratio == 0.25 and c.train.ema and c.optim.nesterov
    assert (c.augment.cutout_holes, c.augment.cutout_length) == (3, 4)
    assert c.schedule.name == "cosine-restarts" and c.schedule.per_iteration
    c, _ = presets.resolve("resnext18")
    assert c.train.patience == 7 and c.augment.noise_std == 0.2


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("optim.lr=0.05", "optim.lr", 0.05),
        ("optim.name=adam", "optim.name", "adam"),
        ('optim.name="adam"', "optim.name", "adam"),
        ("optim.nesterov=true", "optim.nesterov", True),
        ("model.layers=3,3,2,3", "model.layers", [3, 3, 2, 3]),
        ("model.layers=[3, 3, 2, 3]", "model.layers", [3, 3, 2, 3]),
        ("train.epochs=5", "train.epochs", 5),
    ],
)
def test_parse_override(text: str, key: str, value: object) -> None:
    assert parse_override(text) == (key, value)


def test_set_overrides_apply_over_the_preset() -> None:
    c, _ = presets.resolve("digits-quick", ["optim.lr=0.05", "model.drop_rate=0.1"])
    assert c.optim.lr == 0.05 and c.model.drop_rate == 0.1
    base, _ = presets.resolve("digits-quick")
    assert base.optim.lr != 0.05
    # "03" as a person types it (TOML has no leading zeros); a text field keeps its text
    padded, _ = presets.resolve("digits-quick", ["train.epochs=03", "data.root=007"])
    assert padded.train.epochs == 3 and padded.data.root == "007"


@pytest.mark.parametrize(
    ("sets", "needle"),
    [
        (["optim.lrr=0.1"], "unknown key 'optim.lrr' (did you mean 'optim.lr'?)"),
        (["optim.epochs=3"], "did you mean 'train.epochs'?"),
        (["optimiser.lr=0.1"], "unknown section [optimiser] (did you mean 'optim'?)"),
        (["lr=0.1"], "not of the form section.key"),
        (["optim.lr"], "expected section.key=value"),
        (["optim.lr=0"], "optim.lr: must be greater than 0"),
        (["optim.lr=-1"], "optim.lr: must be greater than 0"),
        (["data.batch_size=0"], "data.batch_size: must be at least 1"),
        (["train.epochs=0"], "train.epochs: must be at least 1"),
        (["data.batch_size=abc"], "data.batch_size: expected an integer, got 'abc'"),
        (["data.batch_size=1.5"], "data.batch_size: expected an integer"),
        (["train.amp=true"], "train.amp: expected a string, got True (bool); one of auto, off"),
        (["optim.nesterov=yes"], "optim.nesterov: expected true/false"),
        (["augment.mix_prob=1.5"], "augment.mix_prob: is a probability"),
        (["model.drop_rate=-0.1"], "model.drop_rate: is a probability"),
        (["data.val_fraction=1"], "data.val_fraction"),
        (["model.layers=1,2", "model.channels=8"], "one entry per stage, got lengths"),
        (["model.kernel_sizes=2,2,2"], "model.kernel_sizes: kernel sizes must be odd"),
        (["model.act=tanh"], "model.act: 'tanh' is not one of relu, none"),
        (["train.amp=fp32"], "train.amp: 'fp32' is not one of"),
        (["schedule.milestones=30,10"], "schedule.milestones: must be strictly increasing"),
        (["schedule.warmup_epochs=50"], "schedule.warmup_epochs: must be shorter"),
        (["optim.momentum=0", "optim.nesterov=true"], "optim.nesterov"),
        (["model.layers=[]"], "model.layers: needs at least one stage"),
        (["optim.lr=nan"], "optim.lr: expected a finite number"),
    ],
)
def test_bad_overrides_are_refused_with_the_key(sets: list[str], needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        presets.resolve("digits-quick", sets)
    assert needle in str(info.value)


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


def test_user_preset_extends_a_builtin(tmp_path: Path) -> None:
    _write(
        presets.user_dir(),
        "mine",
        'description = "x"\nextends = "digits-quick"\n[optim]\nlr = 0.02\n',
    )
    c, name = presets.resolve("mine")
    base, _ = presets.resolve("digits-quick")
    assert name == "mine" and c.optim.lr == 0.02
    assert c.model == base.model and c.schedule == base.schedule


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('description = "x"\n[optim]\nlr = \n', "TOML syntax error"),
        ('description = "x"\n[optim]\nlr = 0.1\nlr = 0.2\n', "line 4"),
        ('description = "x"\n[optim]\nlrate = 0.1\n', "unknown key 'optim.lrate'"),
        ('description = "x"\n[optim]\nlr = "fast"\n', "optim.lr: expected a number"),
        ('description = "x"\nlr = 0.1\n', "is not a [section] table"),
        ('description = "x"\nextends = "nope-preset"\n', "unknown preset 'nope-preset'"),
        ("description = 3\n", "'description' must be a string"),
    ],
)
def test_bad_preset_files_are_refused_naming_the_file(text: str, needle: str) -> None:
    path = _write(presets.user_dir(), "bad", text)
    with pytest.raises(ConfigError) as info:
        presets.resolve("bad")
    assert needle in str(info.value)
    if "syntax" not in needle and "line" not in needle:
        assert str(path) in str(info.value)
    listed = next(p for p in presets.list_presets() if p.name == "bad")
    assert listed.description.startswith("(broken: ") and not listed.builtin  # it is yours


def test_extends_cycle_is_refused() -> None:
    _write(presets.user_dir(), "a", 'extends = "b"\n')
    _write(presets.user_dir(), "b", 'extends = "a"\n')
    with pytest.raises(ConfigError, match="cycle"):
        presets.resolve("a")


def test_unknown_preset_suggests_the_nearest() -> None:
    with pytest.raises(ConfigError, match="did you mean 'digits-quick'"):
        presets.resolve("digits-quik")


def test_toml_round_trip_of_a_resolved_config() -> None:
    c, _ = presets.resolve("cifar10-resnet50d-se", ["model.layers=3,4,6,3"])
    again = from_dict(tomllib.loads(to_toml(c.to_dict())))
    assert again == c


def test_save_preset_writes_only_the_differences_and_loads_back() -> None:
    c, _ = presets.resolve("digits-quick", ["optim.lr=0.03"])
    path = presets.save_preset("my-digits", c, "digits at lr 0.03")
    text = path.read_text()
    assert "lr = 0.03" in text and "[train]" in text and "eval_batch_size" not in text
    loaded, _ = presets.resolve("my-digits")
    assert loaded == c
    with pytest.raises(ConfigError, match="preset name"):
        presets.save_preset("../escape", c, "x")


# ---------------------------------------------------------------- every problem at once


def test_check_dict_reports_every_problem_with_its_key() -> None:
    data = {
        "optim": {"lrr": 0.1, "lr": "fast", "momentum": 1.5},
        "train": {"epochs": 0, "amp": "fp8"},
        "data": {"val_fraction": 0.5, "test_fraction": 0.6},
        "model": {"layers": [1, 2], "channels": [8]},
        "optimiser": {"lr": 0.1},
    }
    check = check_dict(data)
    assert check.config is None and not check.ok
    keys = [e.key for e in check.errors]
    assert keys == [
        # unknown keys and sections, wrong types: in the order the data lists them
        "optim.lrr",
        "optim.lr",
        "optimiser",
        # then each field's range and choices, in field order
        "optim.momentum",
        "train.epochs",
        "train.amp",
        # then the rules across keys
        "data.test_fraction",
        "model.layers",
    ]
    messages = [str(e) for e in check.errors]
    assert messages[0] == "unknown key 'optim.lrr' (did you mean 'optim.lr'?)"
    assert messages[1].startswith("optim.lr: expected a number, got 'fast'")
    assert "optim.momentum: must be below 1, got 1.5" in messages
    assert "train.epochs: must be at least 1, got 0" in messages
    assert any(
        m.startswith("train.amp: 'fp8' is not one of auto, off, bf16, fp16") for m in messages
    )
    assert any("one entry per stage" in m for m in messages)
    # from_dict raises the first of them, unchanged
    with pytest.raises(ConfigError) as first:
        from_dict(data)
    assert (first.value.key, str(first.value)) == (check.errors[0].key, messages[0])
    with pytest.raises(ConfigError) as unwrapped:
        check.unwrap()
    assert unwrapped.value is check.errors[0]


def test_check_dict_returns_the_config_when_nothing_is_wrong() -> None:
    check = check_dict({"optim": {"lr": 0.05}})
    assert (
        check.ok and check.errors == () and check.config == RunConfig().replace({"optim.lr": 0.05})
    )
    assert check.unwrap() is check.config


def test_one_mistake_is_reported_once() -> None:
    # val_fraction out of range: the sum rule that reads it is not reported on top
    check = check_dict({"data": {"val_fraction": 1.5}})
    assert [str(e) for e in check.errors] == [
        "data.val_fraction: is a probability/fraction in [0, 1], got 1.5"
    ]
    # a type error keeps the key's default, and rules reading the key stay quiet
    check = check_dict({"optim": {"momentum": "high", "nesterov": True}})
    assert [e.key for e in check.errors] == ["optim.momentum"]
    # a list entry's error belongs to the list's row
    check = check_dict({"model": {"layers": ["a", 2]}})
    assert [e.key for e in check.errors] == ["model.layers[0]"]
    assert check.by_key() == {"model.layers": str(check.errors[0])}


def test_validate_all_lists_what_validate_raises_first() -> None:
    bad = RunConfig().replace({"train.epochs": 3})
    import dataclasses

    bad = dataclasses.replace(
        bad,
        optim=dataclasses.replace(bad.optim, lr=-1.0),
        schedule=dataclasses.replace(bad.schedule, warmup_epochs=5.0, milestones=[3, 1]),
    )
    errors = validate_all(bad)
    assert [e.key for e in errors] == [
        "optim.lr",
        "schedule.warmup_epochs",
        "schedule.milestones",
    ]
    with pytest.raises(ConfigError) as first:
        validate(bad)
    assert str(first.value) == str(errors[0]) == "optim.lr: must be greater than 0, got -1.0"
    assert validate_all(RunConfig()) == []


# ---------------------------------------------------------------- field metadata


def test_every_field_declares_its_help_and_its_default_fits_its_rules() -> None:
    infos = field_infos()
    assert [i.key for i in infos] == all_keys() and len(infos) == 92
    for info in infos:
        assert info.help, info.key  # shown by the form, `presets show` and the catalog
        assert info.problem(info.default) is None, info.key
        if info.choices:
            assert info.default is None or info.default in info.choices, info.key
            assert CHOICES[info.key] == info.choices
    assert field_info("model.layers").help == "B_i: blocks per stage (seed 003)"
    assert field_info("optim.name").registry == "optimizers"
    with pytest.raises(ConfigError, match="did you mean 'optim.lr'"):
        field_info("optim.lrr")


@pytest.mark.parametrize(
    ("key", "accepts"),
    [
        ("optim.lr", "a number > 0"),
        ("optim.momentum", "a number in [0, 1)"),
        ("data.val_fraction", "a number in [0, 1]"),
        ("augment.randaugment_magnitude", "an integer in 0..30"),
        ("train.epochs", "an integer >= 1"),
        ("model.layers", "a list of integers, each >= 1 (or unset)"),
        ("model.se_ratio", "a number in [0, 1] (or unset)"),
        ("model.act", "one of relu, none"),
        ("model.block", "one of basic, bottleneck (or unset)"),
        ("train.device", "a string"),
        ("model.dilation", "a list of true/false values (or unset)"),
    ],
)
def test_what_a_key_accepts_in_words(key: str, accepts: str) -> None:
    assert field_info(key).describe() == accepts


def test_metadata_with_an_unknown_name_is_refused() -> None:
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Odd:
        x: int = dataclasses.field(default=0, metadata={"help": "h", "minimum": 0})

    with pytest.raises(TypeError, match="unknown metadata"):
        FieldInfo.of("odd", dataclasses.fields(Odd)[0], int)


# ---------------------------------------------------------------- older configs


def test_a_config_saved_before_a_key_existed_loads_and_matches() -> None:
    config, _ = presets.resolve("cifar10-resnet50d-se")
    saved = config.to_dict()
    del saved["train"]["tta"]  # as a run saved before train.tta existed
    del saved["augment"]["label_smoothing"]
    assert from_dict(saved) == config  # the missing keys take their defaults
    assert same_config(saved, config) and same_config(saved, config.to_dict())
    assert same_config(config.to_dict(), config)
    assert not same_config(saved, config.replace({"optim.lr": 0.05}))
    changed = config.to_dict()
    changed["train"]["tta"] = "flip"  # a saved value that differs from the default
    assert not same_config(changed, config)
    unknown = config.to_dict()
    unknown["train"]["removed_key"] = 1  # a key this version does not know
    assert not same_config(unknown, config)
    assert not same_config({"train": 3}, config)  # type: ignore[dict-item]


def test_toml_with_the_help_of_each_key_still_loads() -> None:
    c, _ = presets.resolve("digits-quick")
    text = to_toml(c.to_dict(), comments=True)
    assert 'act = "relu"  # activation; none: seed 002\'s ablation (one of relu, none)' in text
    assert "lr = 0.1  # the base learning rate (a number > 0)" in text
    assert from_dict(tomllib.loads(text)) == c
    assert "#" not in to_toml(c.to_dict())  # a run's saved config stays bare
