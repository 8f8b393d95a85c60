"""Seed 004's baseline: the classic PyTorch-tutorial CNN (62,006 parameters on CIFAR-10)."""

from __future__ import annotations

from torch import Tensor, nn

from engine.config import ModelConfig
from engine.errors import ConfigError
from engine.models.registry import HEAD_FIELDS, register_model
from engine.models.resnet import make_act


def cnn_feature_size(input_size: int) -> int:
    """Two (5x5 valid conv, 2x2 max-pool) rounds: 32 -> 28 -> 14 -> 10 -> 5."""
    size = input_size
    for _ in range(2):
        size = (size - 4) // 2
    return size


class BaselineCNN(nn.Module):
    """conv 5x5 (6) -> pool -> conv 5x5 (16) -> pool -> FC 120 -> FC 84 -> FC classes."""

    def __init__(
        self,
        in_chans: int = 3,
        num_classes: int = 10,
        input_size: int = 32,
        drop_rate: float = 0.0,
        act: str = "relu",
    ) -> None:
        super().__init__()
        size = cnn_feature_size(input_size)
        if size < 1:
            raise ValueError(f"BaselineCNN needs inputs of at least 16x16, got {input_size}")
        self.feature_map_size = size
        self.conv1 = nn.Conv2d(in_chans, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * size * size, 120)
        self.fc2 = nn.Linear(120, 84)
        self.head_drop = nn.Dropout(drop_rate) if drop_rate > 0 else None
        self.fc3 = nn.Linear(84, num_classes)
        self.act = make_act(act)

    def get_classifier(self) -> nn.Module:
        return self.fc3

    def forward_features(self, x: Tensor) -> Tensor:
        x = self.pool(self.act(self.conv1(x)))
        return self.pool(self.act(self.conv2(x)))

    def forward(self, x: Tensor) -> Tensor:
        x = self.forward_features(x).flatten(1)
        x = self.act(self.fc2(self.act(self.fc1(x))))
        if self.head_drop is not None:
            x = self.head_drop(x)
        return self.fc3(x)


def build_baseline_cnn(
    cfg: ModelConfig, in_chans: int, num_classes: int, input_size: int
) -> BaselineCNN:
    if cnn_feature_size(input_size) < 1:
        raise ConfigError(
            f"model.name: baseline-cnn needs inputs of at least 16x16 (two 5x5 convs and two "
            f"2x2 pools), got {input_size}x{input_size}; pick a ResNet for images this small",
            "model.name",
        )
    return BaselineCNN(in_chans, num_classes, input_size, cfg.drop_rate, cfg.act)


# No norms to remove and no residual additions: model.norm / model.skip are refused, not ignored.
register_model(
    "baseline-cnn",
    "seed 004: the PyTorch-tutorial CNN (2 conv 5x5 + max-pool, FC 120/84), no residuals",
    "cnn",
    {},
    build_baseline_cnn,
    ("drop_rate", "act", *HEAD_FIELDS),
)
