"""The ResNet network: BasicBlock / Bottleneck, squeeze-excitation, and one configurable ResNet.

The shape follows torchvision's ``models/resnet.py`` (``groups``, ``width_per_group``,
``replace_stride_with_dilation``, module names ``conv1``/``bn1``/``layer1..``/``fc`` so that
torchvision state dicts load) with timm's options (``stem_type="deep"``, ``stem_width``,
``avg_down``, squeeze-excitation) and seed 003's per-stage channels C_i, kernels F_i, shortcut
kernels K_i and final pool kernel P. Plain torch: building one from a ModelConfig, and the
named models, are ``engine.models.resnet``.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import Tensor, nn


def make_act(act: str) -> nn.Module:
    return nn.ReLU(inplace=True) if act == "relu" else nn.Identity()


def make_norm(norm: str, channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels) if norm == "batch" else nn.Identity()


def conv2d(
    in_chs: int,
    out_chs: int,
    kernel_size: int,
    stride: int = 1,
    groups: int = 1,
    dilation: int = 1,
    bias: bool = False,
) -> nn.Conv2d:
    """A 'same'-padded convolution (odd kernels): the map shrinks only by the stride."""
    padding = dilation * (kernel_size // 2)
    return nn.Conv2d(
        in_chs, out_chs, kernel_size, stride, padding, dilation=dilation, groups=groups, bias=bias
    )


class SqueezeExcite(nn.Module):
    """Channel attention (Hu et al.): gate = sigmoid(fc2(act(fc1(mean(x))))), timm's names."""

    def __init__(self, channels: int, ratio: float, act: str = "relu") -> None:
        super().__init__()
        reduced = max(1, round(channels * ratio))
        self.fc1 = nn.Conv2d(channels, reduced, 1)
        self.act = make_act(act)
        self.fc2 = nn.Conv2d(reduced, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        scale = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.fc2(self.act(self.fc1(scale))))


class BasicBlock(nn.Module):
    """Two FxF convolutions. Unlike torchvision's, it takes groups (grouped convs) and dilation."""

    expansion: int = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
        first_dilation: int | None = None,
        kernel_size: int = 3,
        se_ratio: float = 0.0,
        act: str = "relu",
        norm: str = "batch",
        skip: bool = True,
    ) -> None:
        super().__init__()
        if base_width != 64:
            raise ValueError("BasicBlock has no inner width: width_per_group must be 64")
        bias = norm == "none"  # a conv followed by a norm needs no bias; without the norm it does
        self.conv1 = conv2d(
            inplanes, planes, kernel_size, stride, groups, first_dilation or dilation, bias
        )
        self.bn1 = make_norm(norm, planes)
        self.act1 = make_act(act)
        self.conv2 = conv2d(planes, planes, kernel_size, 1, groups, dilation, bias)
        self.bn2 = make_norm(norm, planes)
        self.se = SqueezeExcite(planes, se_ratio, act) if se_ratio > 0 else None
        self.downsample = downsample
        self.skip = skip
        self.act2 = make_act(act)

    def forward(self, x: Tensor) -> Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.se is not None:
            out = self.se(out)
        if self.skip:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.act2(out)


class Bottleneck(nn.Module):
    """1x1 reduce, FxF (grouped, strided: ResNet v1.5) and 1x1 expand by 4, as torchvision's."""

    expansion: int = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
        first_dilation: int | None = None,
        kernel_size: int = 3,
        se_ratio: float = 0.0,
        act: str = "relu",
        norm: str = "batch",
        skip: bool = True,
    ) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        outplanes = planes * self.expansion
        bias = norm == "none"
        self.conv1 = conv2d(inplanes, width, 1, bias=bias)
        self.bn1 = make_norm(norm, width)
        self.act1 = make_act(act)
        self.conv2 = conv2d(
            width, width, kernel_size, stride, groups, first_dilation or dilation, bias
        )
        self.bn2 = make_norm(norm, width)
        self.act2 = make_act(act)
        self.conv3 = conv2d(width, outplanes, 1, bias=bias)
        self.bn3 = make_norm(norm, outplanes)
        self.se = SqueezeExcite(outplanes, se_ratio, act) if se_ratio > 0 else None
        self.downsample = downsample
        self.skip = skip
        self.act3 = make_act(act)

    def forward(self, x: Tensor) -> Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.act2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.se is not None:
            out = self.se(out)
        if self.skip:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.act3(out)


BLOCKS: dict[str, type[BasicBlock | Bottleneck]] = {"basic": BasicBlock, "bottleneck": Bottleneck}


def halve(size: int, how: str) -> int:
    """The map size after one stride-2 step: same-padded convs, the 3x3/2 max-pool and the
    ceil-mode avg-pool give ceil(n/2); the 2x2/2 max-pool (BaseNet) gives floor(n/2)."""
    return size // 2 if how == "max2" else math.ceil(size / 2)


def stem_steps(stem_stride: int, stem_pool: str) -> list[str]:
    return (["conv"] if stem_stride == 2 else []) + ([stem_pool] if stem_pool else [])


class ResNet(nn.Module):
    """stem -> stages of blocks -> average pool -> (dropout) -> classifier.

    ``channels`` are the stages' widths (BasicBlock outputs C_i; Bottleneck outputs 4 * C_i),
    ``kernel_sizes`` / ``skip_kernel_sizes`` seed 003's F_i / K_i, ``pool_size`` its P
    (None: global average pool). The classifier's input is derived from the map the stages
    leave for ``input_size`` input: C_last * expansion * (map // P) ** 2.
    """

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        layers: Sequence[int],
        channels: Sequence[int] = (64, 128, 256, 512),
        kernel_sizes: Sequence[int] | None = None,
        skip_kernel_sizes: Sequence[int] | None = None,
        in_chans: int = 3,
        num_classes: int = 1000,
        input_size: int = 224,
        groups: int = 1,
        width_per_group: int = 64,
        replace_stride_with_dilation: Sequence[bool] | None = None,
        stem_type: str = "imagenet",
        stem_width: int = 64,
        stem_chs: Sequence[int] | None = None,
        stem_stride: int | None = None,
        stem_pool: str | None = None,
        avg_down: bool = False,
        se_ratio: float = 0.0,
        pool_size: int | None = None,
        drop_rate: float = 0.0,
        act: str = "relu",
        norm: str = "batch",
        skip: bool = True,
        shortcut_norm: bool = True,
        head_hidden: Sequence[int] = (),
        head_norm: bool = False,
    ) -> None:
        super().__init__()
        n = len(layers)
        kernel_sizes = list(kernel_sizes or [3] * n)
        skip_kernel_sizes = list(skip_kernel_sizes or [1] * n)
        dilate = [False, *(replace_stride_with_dilation or [False] * (n - 1))]
        if not len(channels) == len(kernel_sizes) == len(skip_kernel_sizes) == len(dilate) == n:
            raise ValueError("ResNet: one entry per stage in every per-stage list")
        bias = norm == "none"

        # Stem: "imagenet" 7x7/2 + 3x3/2 max-pool; "cifar" 3x3/1; "deep" (ResNet-D) three 3x3
        # convs of stem_chs (default stem_width, stem_width) then channels[0].
        if stem_stride is None:
            stem_stride = 1 if stem_type == "cifar" else 2
        if stem_pool is None:
            stem_pool = "" if stem_type == "cifar" else "max3"
        if stem_type == "deep":
            a, b = stem_chs or (stem_width, stem_width)
            self.inplanes = channels[0]
            self.conv1: nn.Module = nn.Sequential(
                conv2d(in_chans, a, 3, stem_stride, bias=bias),
                make_norm(norm, a),
                make_act(act),
                conv2d(a, b, 3, bias=bias),
                make_norm(norm, b),
                make_act(act),
                conv2d(b, self.inplanes, 3, bias=bias),
            )
        else:
            self.inplanes = stem_width
            kernel = 7 if stem_type == "imagenet" else 3
            self.conv1 = conv2d(in_chans, self.inplanes, kernel, stem_stride, bias=bias)
        self.bn1 = make_norm(norm, self.inplanes)
        self.act1 = make_act(act)
        self.maxpool: nn.Module | None = None
        if stem_pool == "max3":
            self.maxpool = nn.MaxPool2d(3, 2, 1)
        elif stem_pool == "max2":
            self.maxpool = nn.MaxPool2d(2, 2)

        size = input_size
        for how in stem_steps(stem_stride, stem_pool):
            size = halve(size, how)
        self.stage_names: list[str] = []
        self.dilation = 1
        for i in range(n):
            stride = 1 if i == 0 else 2
            previous_dilation = self.dilation
            if dilate[i]:
                self.dilation *= stride
                stride = 1
            if stride == 2:
                size = halve(size, "conv")
            outplanes = channels[i] * block.expansion
            downsample = None
            if skip and (stride != 1 or self.inplanes != outplanes):
                downsample = self._shortcut(
                    outplanes, skip_kernel_sizes[i], stride, avg_down, norm, shortcut_norm
                )
            blocks: list[nn.Module] = []
            for j in range(layers[i]):
                blocks.append(
                    block(
                        self.inplanes,
                        channels[i],
                        stride if j == 0 else 1,
                        downsample if j == 0 else None,
                        groups,
                        width_per_group,
                        self.dilation,
                        previous_dilation if j == 0 else None,
                        kernel_sizes[i],
                        se_ratio,
                        act,
                        norm,
                        skip,
                    )
                )
                self.inplanes = outplanes
            name = f"layer{i + 1}"
            self.add_module(name, nn.Sequential(*blocks))
            self.stage_names.append(name)
        self.feature_map_size = size  # height = width of the map the stages leave
        self.num_features = self.inplanes

        if pool_size is None or pool_size == 0:
            self.global_pool: nn.Module = nn.AdaptiveAvgPool2d(1)
            pooled = 1
        else:
            if pool_size > size:
                raise ValueError(f"pool_size {pool_size} is larger than the {size}x{size} map")
            self.global_pool = nn.AvgPool2d(pool_size)
            pooled = size // pool_size
        self.head_drop = nn.Dropout(drop_rate) if drop_rate > 0 else None
        features = self.num_features * pooled * pooled
        if head_hidden:
            # BaseNet (seed 002): FC -> ... -> FC -> BatchNorm1d(classes), as its table lists
            # them: no activation between the FCs (it names none there, unlike its convs).
            head: OrderedDict[str, nn.Module] = OrderedDict()
            for k, width in enumerate(head_hidden):
                head[f"fc{k + 1}"] = nn.Linear(features, width)
                features = width
            head[f"fc{len(head_hidden) + 1}"] = nn.Linear(features, num_classes)
            if head_norm:
                head["bn"] = nn.BatchNorm1d(num_classes) if norm == "batch" else nn.Identity()
            self.fc: nn.Module = nn.Sequential(head)
        else:
            self.fc = nn.Linear(features, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _shortcut(
        self, outplanes: int, kernel: int, stride: int, avg_down: bool, norm: str, with_norm: bool
    ) -> nn.Sequential:
        """KxK conv (stride s) + norm; ResNet-D (avg_down): 2x2/2 avg-pool then stride-1 conv."""
        bias = norm == "none" or not with_norm
        parts: list[nn.Module] = []
        if avg_down:
            pool: nn.Module = nn.Identity()
            if stride != 1:
                pool = nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False)
            parts += [pool, conv2d(self.inplanes, outplanes, kernel, bias=bias)]
        else:
            parts.append(conv2d(self.inplanes, outplanes, kernel, stride, bias=bias))
        if with_norm:
            parts.append(make_norm(norm, outplanes))
        return nn.Sequential(*parts)

    def get_classifier(self) -> nn.Module:
        return self.fc

    def forward_features(self, x: Tensor) -> Tensor:
        x = self.act1(self.bn1(self.conv1(x)))
        if self.maxpool is not None:
            x = self.maxpool(x)
        for name in self.stage_names:
            x = getattr(self, name)(x)
        return x

    def forward_head(self, x: Tensor) -> Tensor:
        x = torch.flatten(self.global_pool(x), 1)
        if self.head_drop is not None:
            x = self.head_drop(x)
        return self.fc(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))
