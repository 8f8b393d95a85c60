"""Transfer learning (seeds 002 and 004) offline: ImageNet-format weights files written here
from randomly initialised torchvision models, on a small folder of real PNGs."""

from __future__ import annotations

import json
import urllib.error
from pathlib import Path
from typing import Any

import pytest
import torch
import torchvision
from fixtures import write_imagefolder
from torch import nn
from typer.testing import CliRunner

from engine.config import ModelConfig
from engine.data import BatchAugment
from engine.data.augment import output_size
from engine.errors import ConfigError
from engine.models import count_params, create_model, get_classifier, model_info
from engine.presets import load_preset, resolve
from engine.store import RunStore
from engine.trainer import Trainer
from resnet_tui.cli import app

torch.set_num_threads(1)
runner = CliRunner()


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """torchvision's resnet18 state dict in the real format (random init, not ImageNet's)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    return path


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_imagefolder(
        tmp_path_factory.mktemp("images"), n_per_class=6, size=40, splits=("train", "test")
    )


def small(images: Path, weights: Path, *extra: str) -> list[str]:
    """The transfer presets at 32 px on the fixture folder, one epoch, on the CPU."""
    return [
        f"data.root={images}",
        "data.image_size=36",
        "augment.resize=36",
        "augment.crop_size=32",
        f"model.weights_path={weights}",
        "data.batch_size=4",
        "data.num_workers=0",
        "train.epochs=1",
        "train.device=cpu",
        *extra,
    ]


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_presets_follow_seeds_002_and_004() -> None:
    for name in ("transfer-resnet18-frozen", "transfer-resnet18-finetune"):
        preset = load_preset(name)
        assert preset.description.endswith("[seed 002, part 2]")
        config, _ = resolve(name)
        assert (config.data.name, config.data.root) == ("imagefolder", "data/images")
        assert config.data.batch_size == 32
        assert (config.optim.name, config.optim.lr, config.optim.momentum) == ("sgd", 5e-4, 0.9)
        assert (config.augment.resize, config.augment.crop_size) == (256, 224)
        assert config.augment.hflip and config.augment.normalize == "imagenet"
        assert config.model.name == "resnet18" and config.model.pretrained
        assert config.model.freeze_backbone == (name.endswith("frozen"))
        # the loader's 256 px images become 224 px model inputs
        assert output_size(config.augment, config.data.image_size) == 224
        aug = BatchAugment(config.augment, (0.5,) * 3, (0.25,) * 3, 3)
        x = torch.randint(0, 256, (2, 3, 256, 256), dtype=torch.uint8)
        assert aug.eval(x).shape == (2, 3, 224, 224)
    vgg = load_preset("transfer-vgg16-bn")
    assert vgg.description.endswith("[seed 004]")
    config, _ = resolve("transfer-vgg16-bn")
    assert config.model.name == "vgg16-bn" and config.model.pretrained
    assert config.augment.resize == 224 and config.augment.normalize == "imagenet"


def test_resnet18_at_224_from_a_weights_file(weights: Path) -> None:
    model = create_model(
        ModelConfig(name="resnet18", pretrained=True, weights_path=str(weights)), 3, 5, 224
    ).eval()
    tv = torchvision.models.resnet18()
    tv.load_state_dict(torch.load(weights, weights_only=True))
    tv.fc = nn.Identity()
    tv.eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert model(x).shape == (1, 5)
        # the backbone is torchvision's: the same features before the new 5-class head
        features = torch.flatten(model.global_pool(model.forward_features(x)), 1)
        torch.testing.assert_close(features, tv(x))


def test_frozen_backbone_trains_only_the_classifier(images: Path, weights: Path) -> None:
    config, _ = resolve("transfer-resnet18-frozen", small(images, weights))
    trainer = Trainer(config)
    model = trainer.model
    head = {f"fc.{k}" for k in get_classifier(model).state_dict()}
    params = [p for g in trainer.optimizer.param_groups for p in g["params"]]
    assert {id(p) for p in params} == {id(p) for p in get_classifier(model).parameters()}
    before = snapshot(model)
    trainer.train_one_epoch(0)
    after = snapshot(model)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == head  # weights, biases and BN running statistics all untouched
    assert any("running_mean" in k for k in before)
    batch_norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert batch_norms and not any(m.training for m in batch_norms)
    assert model.training  # the rest (the classifier) trains


def test_fine_tune_updates_everything_with_a_slower_backbone(images: Path, weights: Path) -> None:
    config, _ = resolve(
        "transfer-resnet18-finetune", small(images, weights, "model.backbone_lr_scale=0.1")
    )
    trainer = Trainer(config)
    model = trainer.model
    groups = trainer.optimizer.param_groups
    by_param = {id(p): g for g in groups for p in g["params"]}
    head = get_classifier(model)
    assert {by_param[id(p)]["lr_scale"] for p in head.parameters()} == {1.0}
    assert by_param[id(model.conv1.weight)]["lr_scale"] == 0.1
    assert by_param[id(model.layer4[1].conv2.weight)]["lr_scale"] == 0.1
    trainer.train_one_epoch(0)
    assert by_param[id(model.conv1.weight)]["lr"] == pytest.approx(0.1 * 5e-4)
    assert by_param[id(head.weight)]["lr"] == pytest.approx(5e-4)
    before = torch.load(weights, weights_only=True)
    after = model.state_dict()
    for key in ("conv1.weight", "layer1.0.conv1.weight", "layer4.1.bn2.weight"):
        assert not torch.equal(before[key], after[key]), key
    assert not torch.equal(before["bn1.running_mean"], after["bn1.running_mean"])
    assert all(m.training for m in model.modules())


@pytest.mark.slow
def test_a_frozen_transfer_run_through_the_cli(images: Path, weights: Path, runs_dir: Path) -> None:
    args = ["train", "transfer-resnet18-frozen"]
    for item in small(images, weights):
        args += ["--set", item]
    result = runner.invoke(app, ["--runs-dir", str(runs_dir), *args])
    assert result.exit_code == 0, result.output
    (doc,) = RunStore(runs_dir).list_runs()
    assert doc["status"] == "finished" and doc["model"] == "resnet18"
    assert doc["params"] == 512 * 3 + 3  # trainable: the new 3-class head only
    assert 0.0 <= doc["test"]["test_acc"] <= 1.0


def test_missing_weights_offline_name_weights_path(
    images: Path, runs_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def offline(*args: Any, **kwargs: Any) -> Any:
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))  # no cached weights
    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline)
    with pytest.raises(ConfigError) as err:
        create_model(ModelConfig(name="resnet18", pretrained=True), 3, 10, 224)
    assert "model.weights_path" in str(err.value) and "Name or service" in str(err.value)
    result = runner.invoke(
        app,
        ["--runs-dir", str(runs_dir), "train", "transfer-resnet18-frozen"]
        + ["--set", f"data.root={images}"],
    )
    assert result.exit_code == 2, result.output
    assert "could not download" in result.output and "model.weights_path" in result.output
    assert "Traceback" not in result.output
    assert RunStore(runs_dir).list_runs() == []  # refused before a run was created


def test_a_corrupt_weights_file_is_a_clear_message(
    images: Path, weights: Path, runs_dir: Path, tmp_path: Path
) -> None:
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(weights.read_bytes()[:50_000])  # a download cut short
    args = ["--runs-dir", str(runs_dir), "train", "transfer-resnet18-frozen"]
    for item in small(images, corrupt):
        args += ["--set", item]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "model.weights_path: cannot read" in result.output and str(corrupt) in result.output
    assert "Traceback" not in result.output
    foreign = tmp_path / "foreign.pth"
    torch.save(torchvision.models.resnet34().state_dict(), foreign)  # another architecture
    with pytest.raises(ConfigError, match="do not fit"):
        create_model(
            ModelConfig(name="resnet18", pretrained=True, weights_path=str(foreign)), 3, 3, 64
        )


@pytest.mark.slow  # builds two VGG-16s
def test_vgg16_bn_loads_torchvisions_state_dict(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    tv = torchvision.models.vgg16_bn()
    asked: list[str] = []

    def fake_weights(arch: str, weights_path: str) -> dict[str, torch.Tensor]:
        asked.append(arch)
        return tv.state_dict()

    monkeypatch.setattr("engine.models.transfer.imagenet_state_dict", fake_weights)
    cfg = ModelConfig(name="vgg16-bn", pretrained=True, freeze_backbone=True)
    model = create_model(cfg, 1, 3, 32)
    assert asked == ["vgg16_bn"]
    state = model.state_dict()
    torch.testing.assert_close(state["features.0.weight"], tv.features[0].weight.sum(1, True))
    for key in ("features.1.running_var", "features.40.weight", "classifier.3.weight"):
        torch.testing.assert_close(state[key], tv.state_dict()[key])
    assert get_classifier(model) is model.classifier[6]
    assert state["classifier.6.weight"].shape == (3, 4096)
    assert count_params(model) == 4096 * 3 + 3
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 3)
    assert "freeze_backbone" in model_info("vgg16").fields
    assert "act" not in model_info("vgg16").fields  # nothing to ablate in a VGG
    with pytest.raises(ConfigError, match="at least 32x32"):
        create_model(ModelConfig(name="vgg16"), 3, 10, 16)


def test_bench_loader_times_the_folder_loader(images: Path, runs_dir: Path) -> None:
    result = runner.invoke(
        app,
        ["--runs-dir", str(runs_dir), "bench", "loader", "transfer-resnet18-frozen"]
        + ["--workers", "0,2", "--set", f"data.root={images}", "--set", "data.image_size=32"]
        + ["--set", "data.decode=stream", "--json"],  # a small folder is held in memory else
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["path"], r["workers"]) for r in rows] == [("dataloader", 0), ("dataloader", 2)]
    train_images = 3 * 6 - 1  # 10% of 18 train images carved for val: 17 or so
    assert all(abs(r["images"] - train_images) <= 1 and float(r["seconds"]) > 0 for r in rows)
    table = runner.invoke(
        app,
        ["--runs-dir", str(runs_dir), "bench", "loader", "digits-quick", "--workers", "0"],
    )
    assert table.exit_code == 0, table.output
    assert "pil-dataloader" in table.output and "on-device" in table.output
    assert "is held in memory" in table.output
    bad = runner.invoke(app, ["bench", "loader", "digits-quick", "--workers", "two"])
    assert bad.exit_code == 2 and "--workers" in bad.output
