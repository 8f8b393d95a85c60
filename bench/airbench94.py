"""airbench94's own training loop, to time beside ours on the same card and the same data.

Adapted from Keller Jordan's cifar10-airbench, ``legacy/airbench94.py`` (MIT licence,
Copyright (c) 2024 Keller Jordan; https://github.com/KellerJordan/cifar10-airbench). The
network, whitening initialisation, optimiser, schedule, lookahead, data augmentation and
test-time augmentation are airbench's, unchanged. What changed, for this bench only:
- the images come from arrays (read from CIFAR-10's on-disk format by ``bench/gpu.py``)
  instead of torchvision's download;
- it runs on any device: fp16 and channels-last on CUDA as in the original, fp32 elsewhere
  (so that ``bench/gpu.sh --dry-run`` runs it on a CPU);
- time is taken per epoch with ``time.perf_counter`` after a device synchronise, so that its
  epochs compare with ours; like the original, evaluation is outside the timed region.
"""

from __future__ import annotations

import time
from math import ceil
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

HYP: dict[str, Any] = {
    "opt": {
        "train_epochs": 9.9,
        "batch_size": 1024,
        "lr": 11.5,  # learning rate per 1024 examples
        "momentum": 0.85,
        "weight_decay": 0.0153,  # per 1024 examples (decoupled from the learning rate)
        "bias_scaler": 64.0,  # scales up the learning rate of BatchNorm biases
        "label_smoothing": 0.2,
        "whiten_bias_epochs": 3,
    },
    "aug": {"flip": True, "translate": 2},
    "net": {
        "widths": {"block1": 64, "block2": 256, "block3": 256},
        "batchnorm_momentum": 0.6,
        "scaling_factor": 1 / 9,
        "tta_level": 2,
    },
}

CIFAR_MEAN = torch.tensor((0.4914, 0.4822, 0.4465))
CIFAR_STD = torch.tensor((0.2470, 0.2435, 0.2616))


def batch_flip_lr(inputs: torch.Tensor) -> torch.Tensor:
    flip_mask = (torch.rand(len(inputs), device=inputs.device) < 0.5).view(-1, 1, 1, 1)
    return torch.where(flip_mask, inputs.flip(-1), inputs)


def batch_crop(images: torch.Tensor, crop_size: int) -> torch.Tensor:
    r = (images.size(-1) - crop_size) // 2
    shifts = torch.randint(-r, r + 1, size=(len(images), 2), device=images.device)
    out = torch.empty(
        (len(images), 3, crop_size, crop_size), device=images.device, dtype=images.dtype
    )
    for sy in range(-r, r + 1):
        for sx in range(-r, r + 1):
            mask = (shifts[:, 0] == sy) & (shifts[:, 1] == sx)
            out[mask] = images[mask, :, r + sy : r + sy + crop_size, r + sx : r + sx + crop_size]
    return out


class CifarLoader:
    """airbench's loader over ``images`` (N, 32, 32, 3) uint8 and ``labels`` (N,)."""

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        device: torch.device,
        dtype: torch.dtype,
        train: bool = True,
        batch_size: int = 500,
        aug: dict[str, Any] | None = None,
    ) -> None:
        self.images = (images.to(device).to(dtype) / 255).permute(0, 3, 1, 2)
        if device.type == "cuda":
            self.images = self.images.to(memory_format=torch.channels_last)
        self.labels = labels.to(device)
        self.mean = CIFAR_MEAN.to(device, dtype).view(1, 3, 1, 1)
        self.std = CIFAR_STD.to(device, dtype).view(1, 3, 1, 1)
        self.proc_images: dict[str, torch.Tensor] = {}
        self.epoch = 0
        self.aug = aug or {}
        self.batch_size = batch_size
        self.drop_last = train
        self.shuffle = train

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def __len__(self) -> int:
        n = len(self.images)
        return n // self.batch_size if self.drop_last else ceil(n / self.batch_size)

    def __iter__(self) -> Any:
        if self.epoch == 0:
            images = self.proc_images["norm"] = self.normalize(self.images)
            if self.aug.get("flip", False):
                images = self.proc_images["flip"] = batch_flip_lr(images)
            pad = self.aug.get("translate", 0)
            if pad > 0:
                self.proc_images["pad"] = F.pad(images, (pad,) * 4, "reflect")
        if self.aug.get("translate", 0) > 0:
            images = batch_crop(self.proc_images["pad"], self.images.shape[-2])
        elif self.aug.get("flip", False):
            images = self.proc_images["flip"]
        else:
            images = self.proc_images["norm"]
        if self.aug.get("flip", False) and self.epoch % 2 == 1:
            images = images.flip(-1)
        self.epoch += 1
        n = len(images)
        indices = (torch.randperm if self.shuffle else torch.arange)(n, device=images.device)
        for i in range(len(self)):
            idxs = indices[i * self.batch_size : (i + 1) * self.batch_size]
            yield images[idxs], self.labels[idxs]


class Flatten(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.size(0), -1)


class Mul(nn.Module):
    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class BatchNorm(nn.BatchNorm2d):
    def __init__(self, num_features: int, momentum: float, eps: float = 1e-12) -> None:
        super().__init__(num_features, eps=eps, momentum=1 - momentum)
        self.weight.requires_grad = False
        self.bias.requires_grad = True


class Conv(nn.Conv2d):
    def __init__(
        self, cin: int, cout: int, kernel_size: int = 3, padding: Any = "same", bias: bool = False
    ) -> None:
        super().__init__(cin, cout, kernel_size=kernel_size, padding=padding, bias=bias)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.bias is not None:
            self.bias.data.zero_()
        w = self.weight.data
        torch.nn.init.dirac_(w[: w.size(1)])


class ConvGroup(nn.Module):
    def __init__(self, cin: int, cout: int, batchnorm_momentum: float) -> None:
        super().__init__()
        self.conv1 = Conv(cin, cout)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = BatchNorm(cout, batchnorm_momentum)
        self.conv2 = Conv(cout, cout)
        self.norm2 = BatchNorm(cout, batchnorm_momentum)
        self.activ = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.activ(self.norm1(self.pool(self.conv1(x))))
        return self.activ(self.norm2(self.conv2(x)))


def make_net(device: torch.device, dtype: torch.dtype) -> nn.Sequential:
    widths = HYP["net"]["widths"]
    momentum = HYP["net"]["batchnorm_momentum"]
    whiten_width = 2 * 3 * 2**2
    net = nn.Sequential(
        Conv(3, whiten_width, 2, padding=0, bias=True),
        nn.GELU(),
        ConvGroup(whiten_width, widths["block1"], momentum),
        ConvGroup(widths["block1"], widths["block2"], momentum),
        ConvGroup(widths["block2"], widths["block3"], momentum),
        nn.MaxPool2d(3),
        Flatten(),
        nn.Linear(widths["block3"], 10, bias=False),
        Mul(HYP["net"]["scaling_factor"]),
    )
    net[0].weight.requires_grad = False
    net = net.to(device, dtype)
    if device.type == "cuda":
        net = net.to(memory_format=torch.channels_last)
    for mod in net.modules():
        if isinstance(mod, BatchNorm):
            mod.float()
    return net


def init_whitening_conv(layer: nn.Conv2d, train_set: torch.Tensor, eps: float = 5e-4) -> None:
    h, w = layer.weight.data.shape[2:]
    c = train_set.shape[1]
    patches = train_set.unfold(2, h, 1).unfold(3, w, 1).transpose(1, 3).reshape(-1, c, h, w)
    patches = patches.float()
    n = patches.shape[0]
    flat = patches.view(n, -1)
    covariance = (flat.T @ flat) / n
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance, UPLO="U")
    eigenvalues = eigenvalues.flip(0).view(-1, 1, 1, 1)
    eigenvectors = eigenvectors.T.reshape(c * h * w, c, h, w).flip(0)
    scaled = eigenvectors / torch.sqrt(eigenvalues + eps)
    layer.weight.data[:] = torch.cat((scaled, -scaled)).to(layer.weight.dtype)


class LookaheadState:
    def __init__(self, net: nn.Module) -> None:
        self.net_ema = {k: v.clone() for k, v in net.state_dict().items()}

    def update(self, net: nn.Module, decay: float) -> None:
        for ema, param in zip(self.net_ema.values(), net.state_dict().values(), strict=True):
            if param.dtype in (torch.half, torch.float):
                ema.lerp_(param, 1 - decay)
                param.copy_(ema)


def _evaluate(model: nn.Module, loader: CifarLoader, tta_level: int) -> float:
    def basic(x: torch.Tensor) -> torch.Tensor:
        return model(x).clone()

    def mirror(x: torch.Tensor) -> torch.Tensor:
        return 0.5 * model(x) + 0.5 * model(x.flip(-1))

    def mirror_translate(x: torch.Tensor) -> torch.Tensor:
        logits = mirror(x)
        padded = F.pad(x, (1,) * 4, "reflect")
        shifted = [mirror(padded[:, :, 0:32, 0:32]), mirror(padded[:, :, 2:34, 2:34])]
        return 0.5 * logits + 0.5 * torch.stack(shifted).mean(0)

    model.eval()
    infer = (basic, mirror, mirror_translate)[tta_level]
    with torch.no_grad():
        images = loader.normalize(loader.images)
        logits = torch.cat([infer(x) for x in images.split(2000)])
    return (logits.argmax(1) == loader.labels).float().mean().item()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train(
    train_images: torch.Tensor,
    train_labels: torch.Tensor,
    test_images: torch.Tensor,
    test_labels: torch.Tensor,
    device: torch.device,
    epochs: float | None = None,
    batch_size: int | None = None,
) -> dict[str, Any]:
    """One airbench94 run; the seconds of each training epoch and the TTA accuracy."""
    dtype = torch.half if device.type == "cuda" else torch.float
    opt = HYP["opt"]
    batch_size = batch_size or opt["batch_size"]
    epochs = epochs or opt["train_epochs"]
    momentum = opt["momentum"]
    kilostep_scale = 1024 * (1 + 1 / (1 - momentum))
    lr = opt["lr"] / kilostep_scale
    wd = opt["weight_decay"] * batch_size / kilostep_scale
    lr_biases = lr * opt["bias_scaler"]
    loss_fn = nn.CrossEntropyLoss(label_smoothing=opt["label_smoothing"], reduction="none")
    test_loader = CifarLoader(test_images, test_labels, device, dtype, False, 2000)
    train_loader = CifarLoader(
        train_images, train_labels, device, dtype, True, batch_size, HYP["aug"]
    )
    total_steps = ceil(len(train_loader) * epochs)
    model = make_net(device, dtype)
    norm_biases = [p for k, p in model.named_parameters() if "norm" in k and p.requires_grad]
    others = [p for k, p in model.named_parameters() if "norm" not in k and p.requires_grad]
    optimizer = torch.optim.SGD(
        [
            {"params": norm_biases, "lr": lr_biases, "weight_decay": wd / lr_biases},
            {"params": others, "lr": lr, "weight_decay": wd / lr},
        ],
        momentum=momentum,
        nesterov=True,
    )

    def get_lr(step: int) -> float:
        warmup = int(total_steps * 0.23)
        if step < warmup:
            frac = step / warmup
            return 0.2 * (1 - frac) + 1.0 * frac
        frac = (step - warmup) / (total_steps - warmup)
        return 1.0 * (1 - frac) + 0.07 * frac

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, get_lr)
    alpha = 0.95**5 * (torch.arange(total_steps + 1) / total_steps) ** 3
    lookahead = LookaheadState(model)
    _sync(device)
    start = time.perf_counter()
    init_whitening_conv(model[0], train_loader.normalize(train_loader.images[:5000]))
    _sync(device)
    setup_s = time.perf_counter() - start
    epoch_s: list[float] = []
    steps = 0
    for epoch in range(ceil(epochs)):
        model[0].bias.requires_grad = epoch < opt["whiten_bias_epochs"]
        _sync(device)
        start = time.perf_counter()
        model.train()
        for inputs, labels in train_loader:
            outputs = model(inputs)
            loss = loss_fn(outputs, labels).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            steps += 1
            if steps % 5 == 0:
                lookahead.update(model, decay=alpha[steps].item())
            if steps >= total_steps:
                lookahead.update(model, decay=1.0)
                break
        _sync(device)
        epoch_s.append(time.perf_counter() - start)
    tta_acc = _evaluate(model, test_loader, HYP["net"]["tta_level"])
    return {
        "setup_s": setup_s,
        "epoch_s": epoch_s,
        "train_s": setup_s + sum(epoch_s),
        "images": len(train_loader) * batch_size,
        "tta_acc": tta_acc,
    }
