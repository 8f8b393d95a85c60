"""A speed-run network after KellerJordan/cifar10-airbench's published recipe (airbench94).

Small VGG-like net: a frozen 2x2 patch-whitening first conv (initialised from the training
images' patch covariance), three conv groups (conv, max-pool, BN, GELU, conv, BN, GELU)
with identity ("dirac") initialised filters, a final max-pool and a bias-free linear head
scaled by 1/9. BatchNorm scales are fixed at one; BatchNorm biases train with a 64x larger lr
(``lr_scale``). The trainer calls ``init_from_data`` once, before the first epoch.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from engine.config import ModelConfig
from engine.errors import ConfigError
from engine.models.registry import register_model

WHITEN_KERNEL = 2


class _Conv(nn.Conv2d):
    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.bias is not None:
            nn.init.zeros_(self.bias)
        weight = self.weight.data
        nn.init.dirac_(weight[: weight.size(1)])  # the first in-channels filters pass x through


def _norm(channels: int) -> nn.BatchNorm2d:
    norm = nn.BatchNorm2d(channels, eps=1e-12, momentum=0.4)
    norm.weight.requires_grad_(False)  # scale fixed at 1; only the bias trains
    return norm


class _ConvGroup(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1 = _Conv(c_in, c_out, 3, padding="same", bias=False)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = _norm(c_out)
        self.conv2 = _Conv(c_out, c_out, 3, padding="same", bias=False)
        self.norm2 = _norm(c_out)
        self.act = nn.GELU()

    def forward(self, x: Tensor) -> Tensor:
        x = self.act(self.norm1(self.pool(self.conv1(x))))
        return self.act(self.norm2(self.conv2(x)))


class FastNet(nn.Module):
    def __init__(
        self,
        in_chans: int = 3,
        num_classes: int = 10,
        widths: tuple[int, int, int] = (64, 256, 256),
        drop_rate: float = 0.0,
        input_size: int = 32,
    ) -> None:
        super().__init__()
        # a 2x2 valid conv, then three 2x2 max-pools: 32 -> 31 -> 15 -> 7 -> 3
        self.feature_map_size = (input_size - WHITEN_KERNEL + 1) // 8
        whiten_width = 2 * in_chans * WHITEN_KERNEL**2
        self.whiten = _Conv(in_chans, whiten_width, WHITEN_KERNEL, padding=0, bias=True)
        self.whiten.weight.requires_grad_(False)
        self.act = nn.GELU()
        self.groups = nn.Sequential(
            _ConvGroup(whiten_width, widths[0]),
            _ConvGroup(widths[0], widths[1]),
            _ConvGroup(widths[1], widths[2]),
        )
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.drop = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()
        self.fc = nn.Linear(widths[2], num_classes, bias=False)
        self.scale = 1 / 9

    def get_classifier(self) -> nn.Module:
        return self.fc

    def forward_features(self, x: Tensor) -> Tensor:
        return self.groups(self.act(self.whiten(x)))

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool(self.forward_features(x)).flatten(1)
        return self.fc(self.drop(x)) * self.scale

    @staticmethod
    def lr_scale(name: str) -> float:
        return 64.0 if ".norm" in name and name.endswith(".bias") else 1.0

    @torch.no_grad()
    def init_from_data(self, images: Tensor, eps: float = 5e-4) -> None:
        """Set the whitening filters to the eigenvectors of the images' 2x2 patch covariance,
        scaled by 1/sqrt(eigenvalue), in +/- pairs (Page 2018; airbench)."""
        k = WHITEN_KERNEL
        c = images.shape[1]
        patches = images.float().unfold(2, k, 1).unfold(3, k, 1)  # N, C, H', W', k, k
        patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * k * k)
        covariance = patches.T @ patches / patches.shape[0]
        eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
        filters = (eigenvectors.T / torch.sqrt(eigenvalues + eps)[:, None]).flip(0)
        filters = filters.reshape(c * k * k, c, k, k)
        self.whiten.weight.copy_(torch.cat((filters, -filters)).to(self.whiten.weight))


def build_fast(cfg: ModelConfig, in_chans: int, num_classes: int, input_size: int) -> FastNet:
    if input_size < 16:
        raise ConfigError(
            f"model.name: airbench needs inputs of at least 16x16 (three 2x2 pools after a 2x2 "
            f"whitening conv), got {input_size}x{input_size}",
            "model.name",
        )
    widths = tuple(cfg.channels) if cfg.channels else (64, 256, 256)
    if len(widths) != 3:
        raise ConfigError(
            f"model.channels: airbench has 3 conv groups, got {list(widths)}", "model.channels"
        )
    return FastNet(
        in_chans, num_classes, (widths[0], widths[1], widths[2]), cfg.drop_rate, input_size
    )


register_model(
    "airbench",
    "speed-run net after cifar10-airbench: frozen patch-whitening conv, 3 conv groups "
    "(64/256/256), GELU, scaled linear head; 94% on CIFAR-10 in ~10 epochs on a GPU",
    "fast",
    {"channels": [64, 256, 256]},
    build_fast,
    ("channels", "drop_rate"),
)
