"""The model registry and the ResNets: shapes, pinned parameter counts, ablations, errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models.resnet import Bottleneck as TVBottleneck
from torchvision.models.resnet import ResNet as TVResNet

from engine.config import ModelConfig
from engine.errors import ConfigError
from engine.models import (
    ModelInfo,
    ResNet,
    applicable_fields,
    count_params,
    create_model,
    get_classifier,
    list_models,
    model_info,
    register_model,
    summary,
)
from engine.models import registry as registry_module

NAMES = [info.name for info in list_models()]


def input_size(info: ModelInfo) -> int:
    """Small enough to be fast on a CPU, large enough for the model's stages and pool."""
    # The ImageNet-depth ResNets and BaseNet take 8x8 maps down to 1x1 (their CIFAR stems keep
    # the size); seed 003's pool of 4 needs the 4x4 map that 32x32 input leaves.
    small = info.family in ("resnet", "resnet-d", "basenet") or info.name == "resnet-digits"
    return 8 if small else 32


# Also run on one channel (digits, seed 000's spectrograms); the rest on RGB to keep this fast.
ONE_CHANNEL = {"resnet-digits", "resnet-small", "baseline-cnn", "resnet18", "resnet24"}


def build(name: str, in_chans: int = 3, num_classes: int = 10, size: int = 32, **kw: Any) -> Any:
    return create_model(ModelConfig(name=name, **kw), in_chans, num_classes, size)


def meta(name: str, in_chans: int = 3, num_classes: int = 10, size: int = 32, **kw: Any) -> Any:
    """The model on the meta device: its structure and counts, without allocating or init."""
    with torch.device("meta"):
        return build(name, in_chans, num_classes, size, **kw)


def config_error(name: str, size: int = 32, in_chans: int = 3, **kw: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        build(name, in_chans, 10, size, **kw)
    return info.value


# ---------------------------------------------------------------- every model runs


@pytest.mark.parametrize("name", NAMES)
def test_every_model_builds_and_runs(name: str) -> None:
    info = model_info(name)
    size = input_size(info)
    for in_chans in (1, 3) if name in ONE_CHANNEL else (3,):
        model = build(name, in_chans, 7, size)
        x = torch.randn(2, in_chans, size, size)
        with torch.no_grad():
            out = model(x)  # train mode: BatchNorm1d (basenet) needs the batch of 2
            assert out.shape == (2, 7)
            assert torch.isfinite(out).all()
            # the analytically derived map size is the one a forward pass leaves
            assert model.forward_features(x).shape[-1] == model.feature_map_size


@pytest.mark.parametrize("size", [9, 15, 28, 33, 64, 97])
def test_feature_map_size_is_derived_exactly(size: int) -> None:
    # The derived size (used for checks and the classifier's input) against a forward pass,
    # on the meta device: shapes only. Odd sizes catch floor/ceil mistakes.
    variants: list[dict[str, Any]] = [
        {"name": "resnet-digits", "stem_type": stem, "avg_down": avg, "dilation": dil}
        for stem in ("cifar", "imagenet", "deep")
        for avg in (False, True)
        for dil in ([False, False], [False, True])
    ]
    variants += [{"name": "basenet"}, {"name": "resnet50d"}, {"name": "baseline-cnn"}]
    for kw in variants:
        try:
            model = meta(size=size, **kw).eval()
        except ConfigError as err:  # too small for this stem: refused, never a crash
            assert size < 16 and "below 1x1" in str(err) or "16x16" in str(err), (kw, err)
            continue
        x = torch.empty(1, 3, size, size, device="meta")
        assert model.forward_features(x).shape[-1] == model.feature_map_size, (kw, size)


def test_registry_lists_models_with_their_fields() -> None:
    assert len(NAMES) == len(set(NAMES))
    assert ModelConfig().name in NAMES  # the default config names a registered model
    for info in list_models():
        assert isinstance(info, ModelInfo)
        assert model_info(info.name) == info
        assert applicable_fields(info.name) == info.fields
        assert set(info.defaults) <= set(info.fields)
        assert "name" not in info.fields
        with pytest.raises(dataclasses.FrozenInstanceError):
            info.name = "x"  # type: ignore[misc]
    assert "layers" in applicable_fields("resnet24")
    assert "layers" not in applicable_fields("baseline-cnn")
    assert "pretrained" in applicable_fields("resnet18")
    assert "pretrained" not in applicable_fields("resnet24")


def test_register_model_as_decorator() -> None:
    @register_model("test-tiny", "a test model", "test", {"layers": [1]})
    def _tiny(cfg: ModelConfig, in_chans: int, num_classes: int, input_size: int) -> nn.Module:
        assert cfg.layers is not None
        return nn.Linear(in_chans * input_size * input_size * cfg.layers[0], num_classes)

    try:
        assert model_info("test-tiny").fields[0] == "layers"
        model = build("test-tiny", 1, 3, 4)
        assert isinstance(model, nn.Linear) and model.in_features == 16
        assert isinstance(build("test-tiny", 1, 3, 4, layers=[2]), nn.Linear)
        with pytest.raises(ValueError, match="twice"):
            register_model("test-tiny", "again", "test", {}, _tiny)
    finally:
        registry_module.MODELS.unregister("test-tiny")


# ---------------------------------------------------------------- pinned parameter counts

# Seed 003, Table 1, for 32x32x3 input and 10 classes. The classifier's input is derived:
# N=4 stages leave 4x4 maps, pooled by P=4 to 1x1; N=3 stages leave 8x8, pooled to 2x2, so
# resnet20's Linear has 256 * 2 * 2 = 1024 inputs, and its printed 4,335,434 needs exactly that.
SEED003_TABLE = {
    # Misprint: the row's hyper-parameters (B=1,2,1 C=64,128,256) give 1,530,698. The printed
    # 312,490 is exactly B=1,1,1 C=32,64,128 (test_seed003_resnet10_1_printed_count below).
    "resnet10-1": 1_530_698,
    "resnet10-2": 4_903_242,
    "resnet12": 4_977_226,
    "resnet16": 4_909_642,
    "resnet20": 4_335_434,
    "resnet24": 4_935_242,
    "resnet32": 4_754_218,
    "resnet48": 4_994_378,
    # Misprint: the table repeats resnet48's 4,994,378; B=10,8,10,14 C=16,32,64,128 gives
    # 4,987,162.
    "resnet86": 4_987_162,
}


@pytest.mark.parametrize(("name", "count"), SEED003_TABLE.items())
def test_seed003_table_counts(name: str, count: int) -> None:
    assert count_params(meta(name)) == count


def test_seed003_resnet10_1_printed_count() -> None:
    model = build("resnet10-1", layers=[1, 1, 1], channels=[32, 64, 128])
    assert count_params(model) == 312_490


def test_seed003_linear_input_is_derived_from_the_map() -> None:
    fc20 = build("resnet20").get_classifier()
    assert isinstance(fc20, nn.Linear) and fc20.in_features == 256 * 2 * 2  # 8x8 map, P=4
    fc20 = build("resnet20", size=28).get_classifier()  # 28 -> 14 -> 7: 7 // 4 = 1
    assert isinstance(fc20, nn.Linear) and fc20.in_features == 256
    fc24 = build("resnet24", pool_size=2).get_classifier()  # 4x4 map, P=2 -> 2x2
    assert isinstance(fc24, nn.Linear) and fc24.in_features == 256 * 2 * 2


def test_seed004_counts() -> None:
    # conv 3->6 5x5: 456, conv 6->16 5x5: 2,416, FC 400->120: 48,120, 120->84: 10,164,
    # 84->10: 850 (seed 004's summary)
    assert count_params(build("baseline-cnn")) == 62_006
    # seed 004's summary, layer by layer: stem 432 + 32; stage 1 (16) 4 x (2,304 + 32);
    # stage 2 (32) 4,608 + 9,216 + 3 x 9,216 + 8 x 64 + shortcut 4,672; stage 3 (64) 18,432 +
    # 36,864 x 3 + 8 x 128 + shortcut 18,560; Linear 650.
    model = build("resnet-small")
    assert count_params(model) == 195_738
    shortcut = model.layer2[0].downsample
    assert count_params(shortcut) == 4_672 and shortcut[0].kernel_size == (3, 3)


def test_basenet_count() -> None:
    # stem: 3*64*9 + 128 + 64*128*9 + 256 + 128*256*9 + 512             =    371,264
    # ResBlock 256:      2 * (256*256*9 + 512)                         =  1,180,672
    # ResBlock 256->512: 256*512*9 + 512*512*9 + 2*1024 + (256*512 + 512) = 3,672,576
    # ResBlock 512->1024: 512*1024*9 + 1024*1024*9 + 2*2048 + (512*1024 + 1024) = 14,685,184
    # FC 1024*128 + 128 = 131,200; FC 128*10 + 10 = 1,290; BatchNorm1d(10) = 20
    assert count_params(meta("basenet")) == 20_042_206


def test_resnet_digits_is_small() -> None:
    # stem 9*32 + 64; 32: 2*(32*32*9 + 64); 32->64: 32*64*9 + 64*64*9 + 2*128 + 32*64 + 128;
    # 64->128: 64*128*9 + 128*128*9 + 2*256 + 64*128 + 256; FC 128*10 + 10
    model = build("resnet-digits", 1, 10, 8)
    assert count_params(model) == 308_074
    assert model.feature_map_size == 2  # 8 -> 4 -> 2, then a global pool


TORCHVISION_TWINS = {
    "resnet18": lambda: torchvision.models.resnet18(),
    "resnet50": lambda: torchvision.models.resnet50(),
    "resnext18": lambda: TVResNet(TVBottleneck, [2, 2, 2, 2], groups=32, width_per_group=4),
    "wide-resnet18": lambda: TVResNet(TVBottleneck, [2, 2, 2, 2], width_per_group=128),
    "resnet18-dilated": lambda: TVResNet(
        TVBottleneck, [2, 2, 2, 2], replace_stride_with_dilation=[False, True, True]
    ),
}


@pytest.mark.parametrize("name", TORCHVISION_TWINS)
def test_imagenet_stem_matches_torchvision_counts(name: str) -> None:
    ours = meta(name, 3, 1000, 224, stem_type="imagenet")
    with torch.device("meta"):
        theirs = TORCHVISION_TWINS[name]()
    assert count_params(ours) == count_params(theirs)


@pytest.mark.parametrize("name", ["resnet18", "resnext18", "resnet18-dilated"])
def test_imagenet_stem_computes_as_torchvision(name: str) -> None:
    ours = build(name, 3, 1000, 224, stem_type="imagenet")
    theirs = TORCHVISION_TWINS[name]()
    # Same modules under the same names: torchvision's weights load and compute the same.
    ours.load_state_dict(theirs.state_dict())
    ours.eval()
    theirs.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))


def test_resnet_stem_follows_input_size() -> None:
    small, large = build("resnet18", size=32), build("resnet18", size=64)
    assert small.conv1.kernel_size == (3, 3) and small.conv1.stride == (1, 1)
    assert small.maxpool is None and small.feature_map_size == 4
    assert large.conv1.kernel_size == (7, 7) and isinstance(large.maxpool, nn.MaxPool2d)
    assert large.feature_map_size == 2
    # resnet18 vs resnet34/50/101/152 at ImageNet size: torchvision's depths
    for name, tv in (("resnet34", torchvision.models.resnet34), ("resnet101", None)):
        model = meta(name, 3, 1000, 224)
        blocks = [len(getattr(model, s)) for s in model.stage_names]
        assert blocks == ([3, 4, 6, 3] if name == "resnet34" else [3, 4, 23, 3])
        if tv is not None:
            with torch.device("meta"):
                assert count_params(model) == count_params(tv())


def test_resnet50d() -> None:
    # timm / fast.ai resnet50d: 25,576,264 for 1000 classes = torchvision's resnet50 with the
    # 7x7 stem conv (3*64*49 = 9,408) replaced by 3->32, 32->32, 32->64 3x3 convs
    # (864 + 9,216 + 18,432) and two BatchNorms of 32 (128); avg_down adds no parameters.
    model = meta("resnet50d", 3, 1000, 224)
    with torch.device("meta"):
        tv = count_params(torchvision.models.resnet50())
    assert count_params(model) == tv - 9_408 + 864 + 9_216 + 18_432 + 128 == 25_576_264
    assert model.conv1[0].stride == (2, 2) and isinstance(model.maxpool, nn.MaxPool2d)
    shortcut = model.layer2[0].downsample
    assert isinstance(shortcut[0], nn.AvgPool2d) and shortcut[1].stride == (1, 1)
    small = meta("resnet50d")  # CIFAR size: stride-1 stem, no max-pool
    assert small.conv1[0].stride == (1, 1) and small.maxpool is None
    assert small.feature_map_size == 4
    wide = meta("resnet50d", stem_width=128)
    assert wide.conv1[0].out_channels == 128 and wide.conv1[6].out_channels == 64
    se = meta("resnet50d-se")
    blocks = [b for s in se.stage_names for b in getattr(se, s)]
    assert all(b.se is not None for b in blocks)
    # SE on the 256-channel output of the first block: 256 -> 64 -> 256 with biases
    assert count_params(blocks[0].se) == 256 * 64 + 64 + 64 * 256 + 256
    assert all(b.se is None for s in small.stage_names for b in getattr(small, s))


# ---------------------------------------------------------------- ablations


def test_act_none_removes_every_nonlinearity() -> None:
    relu, linear = build("resnet-small").eval(), build("resnet-small", act="none").eval()
    assert any(isinstance(m, nn.ReLU) for m in relu.modules())
    assert not any(isinstance(m, nn.ReLU) for m in linear.modules())
    assert not any(isinstance(m, nn.ReLU) for m in meta("resnet24", act="none").modules())
    assert not any(isinstance(m, nn.ReLU) for m in build("baseline-cnn", act="none").modules())
    assert not any(isinstance(m, nn.ReLU) for m in meta("resnet50d-se", act="none").modules())
    x, y = torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32)
    zero = torch.zeros(1, 3, 32, 32)
    with torch.no_grad():
        # without activations (and with BN in eval mode) the network is affine ...
        torch.testing.assert_close(
            linear(x) + linear(y), linear(x + y) + linear(zero), atol=1e-3, rtol=1e-3
        )
        # ... and with them it is not
        assert not torch.allclose(relu(x) + relu(y), relu(x + y) + relu(zero), atol=1e-3)


def test_norm_none_removes_batchnorm_and_gives_convs_bias() -> None:
    for name in ("resnet24", "resnet50d-se", "basenet"):
        with_bn, without = meta(name), meta(name, norm="none")
        assert any(isinstance(m, nn.BatchNorm2d) for m in with_bn.modules())
        norms = (nn.BatchNorm1d, nn.BatchNorm2d)
        assert not any(isinstance(m, norms) for m in without.modules())
        assert all(m.bias is not None for m in without.modules() if isinstance(m, nn.Conv2d))
        assert all(
            m.bias is None
            for m in with_bn.modules()
            if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3) and m.in_channels > 3
        )


def test_skip_false_removes_residual_additions() -> None:
    plain = build("resnet-digits", 1, 10, 8, skip=False)
    residual = build("resnet-digits", 1, 10, 8)
    assert not any(getattr(m, "downsample", None) is not None for m in plain.modules())
    assert count_params(plain) < count_params(residual)  # no shortcut convs left
    # Zero the last norm of every residual branch: each block then outputs act(shortcut) with
    # skip connections, and act(0) = 0 without them, so the logits no longer see the input.
    for model in (plain, residual):
        for stage in model.stage_names:
            for block in getattr(model, stage):
                nn.init.zeros_(block.bn2.weight)
                nn.init.zeros_(block.bn2.bias)
        model.eval()
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        plain_fc = plain.get_classifier()
        assert isinstance(plain_fc, nn.Linear)
        torch.testing.assert_close(plain(x), plain_fc.bias.expand(4, -1))
        assert not torch.allclose(residual(x)[0], residual(x)[1])


def test_drop_rate_adds_dropout_before_the_classifier() -> None:
    assert not any(isinstance(m, nn.Dropout) for m in build("resnet24").modules())
    model = build("resnet24", drop_rate=0.5)
    assert isinstance(model.head_drop, nn.Dropout) and model.head_drop.p == 0.5
    cnn = build("baseline-cnn", drop_rate=0.25)
    assert isinstance(cnn.head_drop, nn.Dropout)


def test_groups_make_grouped_convs() -> None:
    model = build("resnet24", groups=4)
    assert model.layer1[0].conv1.groups == 4
    assert count_params(model) < SEED003_TABLE["resnet24"]


# ---------------------------------------------------------------- user errors


def test_unknown_model_suggests_the_nearest() -> None:
    err = config_error("resnet-24")
    assert err.key == "model.name"
    assert "unknown model 'resnet-24'" in str(err) and "did you mean 'resnet24'" in str(err)
    assert "resnet-tui models list" in str(err)
    with pytest.raises(ConfigError):
        model_info("nope")


def test_fields_a_model_does_not_accept_are_refused() -> None:
    err = config_error("baseline-cnn", layers=[1, 1])
    assert err.key == "model.layers" and "baseline-cnn" in str(err)
    err = config_error("baseline-cnn", norm="none")
    assert err.key == "model.norm" and "baseline-cnn" in str(err)
    err = config_error("baseline-cnn", skip=False)
    assert err.key == "model.skip"
    err = config_error("basenet", stem_type="cifar")
    assert err.key == "model.stem_type" and "basenet" in str(err)
    err = config_error("resnet24", pretrained=True)
    assert err.key == "model.pretrained"


def test_groups_that_do_not_divide_the_channels() -> None:
    err = config_error("resnet24", groups=3)
    assert err.key == "model.groups"
    assert "3 does not divide the 64" in str(err) and "stage 1" in str(err)
    err = config_error("resnet24", channels=[64, 128, 80, 256], groups=32)
    assert err.key == "model.groups" and "80" in str(err) and "stage 3" in str(err)
    err = config_error("resnet24", width_per_group=128)
    assert err.key == "model.width_per_group" and "bottleneck" in str(err)


def test_pool_larger_than_the_feature_map() -> None:
    err = config_error("resnet24", pool_size=8)
    assert err.key == "model.pool_size"
    assert str(err) == (
        "model.pool_size: 8 is larger than the 4x4 feature map left after the stages for "
        "32x32 input; use 4 or less"
    )
    err = config_error("resnet24", size=8)  # digits: 8 -> 4 -> 2 -> 1, P=4 does not fit
    assert err.key == "model.pool_size" and "1x1 feature map" in str(err)
    assert count_params(build("resnet24", size=8, pool_size=1)) == SEED003_TABLE["resnet24"]


def test_stem_and_dilation_that_shrink_the_map_below_1x1() -> None:
    err = config_error("resnet18", size=8, stem_type="imagenet")
    assert err.key == "model.stem_type" and "below 1x1" in str(err) and "cifar" in str(err)
    err = config_error("resnet24", size=4, pool_size=1)  # 4 -> 2 -> 1 before stage 4
    assert err.key == "model.dilation" and "stage 4" in str(err)
    ok = build("resnet24", size=4, pool_size=1, dilation=[False, False, True])
    assert ok.feature_map_size == 1
    err = config_error("basenet", size=2)  # 2x2 max-pool -> 1x1 before stage 2
    assert err.key == "model.name" and "basenet" in str(err) and "stage 2" in str(err)
    err = config_error("baseline-cnn", size=8)
    assert err.key == "model.name" and "16x16" in str(err)


def test_unknown_block_and_stage_lists() -> None:
    err = config_error("resnet24", block="basik")
    assert err.key == "model.block" and "did you mean 'basic'" in str(err)
    err = config_error("resnet24", dilation=[True])
    assert err.key == "model.dilation" and "3" in str(err)
    # a non-uniform default (resnet24's channels) cannot follow a new stage count ...
    err = config_error("resnet24", layers=[2, 2])
    assert err.key == "model.channels" and "set model.channels too" in str(err)
    # ... uniform ones (kernel sizes, dilation flags) do
    model = build("resnet24", layers=[1, 1], channels=[32, 64])
    assert model.stage_names == ["layer1", "layer2"]
    err = config_error("resnet18-dilated", layers=[1, 1], channels=[64, 128])
    assert err.key == "model.dilation"


# ---------------------------------------------------------------- transfer, summary, hygiene


@pytest.fixture(scope="module")
def resnet18_weights(tmp_path_factory: pytest.TempPathFactory) -> tuple[nn.Module, Path]:
    torch.manual_seed(0)
    tv = torchvision.models.resnet18().eval()
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    torch.save(tv.state_dict(), path)
    return tv, path


def test_pretrained_from_a_weights_file(resnet18_weights: tuple[nn.Module, Path]) -> None:
    tv, path = resnet18_weights
    model = build("resnet18", 3, 1000, 32, pretrained=True, weights_path=str(path)).eval()
    assert model.conv1.kernel_size == (7, 7)  # pretrained keeps the ImageNet stem at 32 px
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), tv(x))
    # one-channel input: the RGB stem filters are summed; a new 10-class head; frozen backbone
    gray = build(
        "resnet18", 1, 10, 224, pretrained=True, weights_path=str(path), freeze_backbone=True
    )
    assert isinstance(tv.conv1, nn.Conv2d)
    torch.testing.assert_close(gray.conv1.weight, tv.conv1.weight.sum(1, keepdim=True))
    assert count_params(gray) == 512 * 10 + 10
    # torchvision's 11,689,512 - 6,272 (a 1-channel stem) - 507,870 (a 10-class head)
    assert count_params(gray, trainable_only=False) == 11_175_370

    assert get_classifier(gray) is gray.fc


def test_pretrained_errors(resnet18_weights: tuple[nn.Module, Path], tmp_path: Path) -> None:
    _, path = resnet18_weights
    err = config_error("resnet18", weights_path=str(path))
    assert err.key == "model.weights_path" and "pretrained" in str(err)
    err = config_error("resnet18", pretrained=True, weights_path=str(tmp_path / "none.pth"))
    assert err.key == "model.weights_path" and "no file" in str(err)
    err = config_error("resnet34", size=224, pretrained=True, weights_path=str(path))
    assert err.key == "model.pretrained" and "do not fit" in str(err)
    err = config_error("resnet18", pretrained=True, weights_path=str(path), stem_type="cifar")
    assert err.key == "model.stem_type"


def test_summary_ends_with_the_param_lines() -> None:
    model = build("resnet24")
    text = summary(model, 3, 32)
    assert text.splitlines()[-3:] == [
        "Total params: 4,935,242",
        "Trainable params: 4,935,242",
        "Non-trainable params: 0",
    ]
    assert "BasicBlock" in text and "Conv2d" in text
    assert model.training  # summary runs in eval mode and gives the model back as it was
    frozen = build("resnet-digits", 1, 10, 8, freeze_backbone=True)
    lines = summary(frozen, 1, 8).splitlines()
    assert lines[-2:] == ["Trainable params: 1,290", "Non-trainable params: 306,784"]


def test_resnet_class_is_usable_directly() -> None:
    from engine.models import BasicBlock

    model = ResNet(
        BasicBlock,
        [1, 1],
        [8, 16],
        in_chans=1,
        num_classes=3,
        input_size=16,
        stem_type="cifar",
        stem_width=8,
        pool_size=4,
    )
    assert model(torch.randn(2, 1, 16, 16)).shape == (2, 3)
    fc = model.get_classifier()
    assert isinstance(fc, nn.Linear) and fc.in_features == 16 * 2 * 2  # 8x8 map, P=4
