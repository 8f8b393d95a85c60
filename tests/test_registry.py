"""The one generic Registry[T] under models, datasets, optimizers, schedules, augmentations."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO

from engine.errors import ConfigError
from engine.registry import Registry


def test_register_get_names_and_membership() -> None:
    reg: Registry[int] = Registry("optim.name", "optimizer")
    assert reg.register("adam", 1) == 1

    @reg.register("sgd")
    def _sgd() -> int:  # a decorator returns what it decorates
        return 2

    reg2: Registry[object] = Registry("x.name", "thing")
    reg2.register("f")(_sgd)
    assert reg2.get("f") is _sgd
    assert reg.names() == ["adam", "sgd"] and reg.list() == [1, _sgd]
    assert "adam" in reg and "lion" not in reg and len(reg) == 2 and list(reg) == reg.names()
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("adam", 3)
    reg.unregister("sgd")
    assert reg.names() == ["adam"]


def test_an_unknown_name_is_refused_with_the_key_and_the_nearest() -> None:
    reg: Registry[str] = Registry("schedule.name", "schedule")
    for name in ("cosine", "constant", "step"):
        reg.register(name, name)
    with pytest.raises(ConfigError) as refused:
        reg.get("cosin")
    assert refused.value.key == "schedule.name"
    assert str(refused.value) == (
        "schedule.name: unknown schedule 'cosin' (did you mean 'cosine'?); "
        "choices: cosine, constant, step"
    )
    hinted: Registry[str] = Registry("model.name", "model", "see `resnet-tui models list`")
    with pytest.raises(ConfigError, match="unknown model 'x'; see `resnet-tui models list`$"):
        hinted.get("x")


def test_every_registry_of_the_engine_is_one() -> None:
    from engine.config.augmentations import AUGMENTATIONS
    from engine.data.registry import DATASETS
    from engine.models.registry import MODELS
    from engine.optim import OPTIMIZERS, SCHEDULES

    for reg, key in (
        (MODELS, "model.name"),
        (DATASETS, "data.name"),
        (OPTIMIZERS, "optim.name"),
        (SCHEDULES, "schedule.name"),
    ):
        assert isinstance(reg, Registry) and reg.key == key and len(reg) >= 5
        with pytest.raises(ConfigError) as refused:
            reg.get("no-such-thing")
        assert refused.value.key == key
    assert isinstance(AUGMENTATIONS, Registry) and "cutout" in AUGMENTATIONS


def test_the_registry_config_and_augmentations_import_no_torch() -> None:
    code = (
        "import sys, engine.registry, engine.config, engine.config.augmentations, engine.catalog\n"
        "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
