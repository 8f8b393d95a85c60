"""Datasets: registry, splits, sources, and the real on-disk formats (written by fixtures)."""

from __future__ import annotations

import dataclasses
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import torch
from fixtures import (
    CIFAR10_NAMES,
    image_pixels,
    write_cifar10,
    write_cifar100,
    write_imagefolder,
    write_mnist,
    write_svhn,
)

from engine.config import DataConfig
from engine.data import (
    DataBundle,
    LoaderSource,
    TensorSource,
    data_stats,
    dataset_info,
    list_datasets,
    load_dataset,
    time_loader_epoch,
)
from engine.data.splits import split_indices, stratified_order
from engine.errors import ConfigError, DataError

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing in these tests may reach the network: an internet connection attempt fails
    loudly (unix sockets, which DataLoader workers use among themselves, stay allowed)."""
    connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise AssertionError(f"a test tried to connect to {address}")
        connect(self, address)

    def refuse(address: Any, *args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"a test tried to connect to {address}")

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket, "create_connection", refuse)


def everything(source: Any, batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    parts = list(source.batches(batch_size, shuffle=False))
    return torch.cat([x for x, _ in parts]), torch.cat([y for _, y in parts])


# ---------------------------------------------------------------- registry


def test_registry_lists_every_dataset_with_its_shape() -> None:
    infos = {info.name: info for info in list_datasets()}
    assert list(infos) == ["digits", "mnist", "fashion-mnist", "cifar10", "cifar100", "svhn",
                           "imagefolder", "csv"]  # fmt: skip
    assert (infos["digits"].channels, infos["digits"].image_size) == (1, 8)
    assert (infos["cifar10"].channels, infos["cifar10"].image_size) == (3, 32)
    assert infos["cifar10"].classes == tuple(CIFAR10_NAMES)
    assert infos["mnist"].image_size == 28 and infos["svhn"].num_classes == 10
    assert not infos["digits"].has_test_split and infos["cifar100"].has_test_split
    assert all(i.in_memory for i in infos.values())  # a folder too, when it fits in memory
    assert all(i.description for i in infos.values())


def test_unknown_dataset_names_the_key_and_the_nearest_choice() -> None:
    with pytest.raises(ConfigError) as err:
        dataset_info(DataConfig(name="cifar-10"))
    message = str(err.value)
    assert message.startswith("data.name: unknown dataset 'cifar-10'")
    assert "did you mean 'cifar10'" in message and "choices: digits, mnist" in message
    assert err.value.key == "data.name"
    with pytest.raises(ConfigError):
        load_dataset(DataConfig(name="nope"), CPU)


# ---------------------------------------------------------------- splits


def test_stratified_order_prefixes_are_balanced_and_complete() -> None:
    labels = torch.arange(1000) % 4
    order = stratified_order(labels, torch.Generator().manual_seed(0))
    assert sorted(order.tolist()) == list(range(1000))
    counts = torch.bincount(labels[order[:100]], minlength=4)
    assert counts.tolist() == [25, 25, 25, 25]
    parts, rest = split_indices(labels, [0.1, 0.2], seed=3)
    assert [len(p) for p in parts] == [100, 200] and len(rest) == 700
    assert not set(parts[0].tolist()) & set(parts[1].tolist())


def test_digits_loads_all_1797_real_images_split_three_ways() -> None:
    bundle = load_dataset(DataConfig(), CPU)
    assert isinstance(bundle, DataBundle) and bundle.test is not None
    sizes = (len(bundle.train), len(bundle.val), len(bundle.test))
    assert sum(sizes) == 1797
    assert sizes[1] == round(0.1 * 1797) and sizes[2] == round(0.2 * 1797)
    x, y = everything(bundle.train)
    assert x.shape == (len(bundle.train), 1, 8, 8) and x.dtype == torch.uint8
    assert y.dtype == torch.int64 and set(y.tolist()) == set(range(10))
    assert int(x.max()) == 255 and int(x.min()) == 0  # 0..16 spread over 0..255
    assert bundle.classes == [str(d) for d in range(10)] and bundle.info.num_classes == 10
    # mean/std are the train split's, on the 0..1 scale
    expected_mean = x.double().div(255).mean().item()
    assert bundle.mean[0] == pytest.approx(expected_mean, rel=1e-6)
    assert bundle.std[0] == pytest.approx(x.double().div(255).std(unbiased=False).item(), rel=1e-5)
    # stratified: every class is in val
    _, val_y = everything(bundle.val)
    assert torch.bincount(val_y, minlength=10).min() >= 15


def test_digits_split_is_fixed_by_split_seed_and_fractions() -> None:
    a = load_dataset(DataConfig(split_seed=1), CPU)
    b = load_dataset(DataConfig(split_seed=1), CPU)
    c = load_dataset(DataConfig(split_seed=2), CPU)
    for name in ("train", "val", "test"):
        assert torch.equal(everything(getattr(a, name))[0], everything(getattr(b, name))[0])
    assert not torch.equal(everything(a.val)[0], everything(c.val)[0])
    d = load_dataset(DataConfig(val_fraction=0.25, test_fraction=0.05), CPU)
    assert len(d.val) == round(0.25 * 1797) and d.test is not None and len(d.test) == 90
    empty = load_dataset(DataConfig(val_fraction=0.0), CPU)
    assert len(empty.val) == 0 and list(empty.val.batches(8, shuffle=False)) == []


# ---------------------------------------------------------------- sources


def test_tensor_source_shuffles_reproducibly_and_visits_everything_once() -> None:
    images = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 1, 2, 2).clone()
    source = TensorSource(images, torch.arange(10), CPU)
    assert len(source) == 10 and source.num_batches(4) == 3 and source.num_batches(4, True) == 2

    def order(seed: int, drop_last: bool = False) -> list[int]:
        g = torch.Generator().manual_seed(seed)
        batches = list(source.batches(4, shuffle=True, generator=g, drop_last=drop_last))
        for x, y in batches:
            assert torch.equal(x[:, 0, 0, 0].long(), y)  # images stay with their labels
        return [v for _, y in batches for v in y.tolist()]

    assert sorted(order(0)) == list(range(10))
    assert order(0) == order(0) and order(0) != order(1)
    assert len(order(0, drop_last=True)) == 8
    plain = [y.tolist() for _, y in source.batches(4, shuffle=False)]
    assert plain == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_on_device_no_keeps_host_tensors_and_still_yields_batches() -> None:
    bundle = load_dataset(DataConfig(on_device="no"), CPU)
    assert isinstance(bundle.train, TensorSource) and bundle.train.images.device.type == "cpu"
    x, y = next(iter(bundle.train.batches(32, shuffle=True, generator=torch.Generator())))
    assert x.shape == (32, 1, 8, 8) and y.shape == (32,)


def test_data_stats_and_loader_timing() -> None:
    images = torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1, 1)
    mean, std = data_stats(images)
    assert mean == pytest.approx((0.5,)) and std == pytest.approx((0.5,))
    assert time_loader_epoch(DataConfig(), num_workers=0) > 0


# ---------------------------------------------------------------- torchvision formats


def test_cifar10_reads_the_real_pickle_format(tmp_path: Path) -> None:
    write_cifar10(tmp_path, n_train_per_batch=20, n_test=12)
    cfg = DataConfig(name="cifar10", root=str(tmp_path), download=False, val_fraction=0.2)
    bundle = load_dataset(cfg, CPU)
    assert bundle.test is not None
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (80, 20, 12)
    assert bundle.classes == CIFAR10_NAMES and bundle.info.classes == tuple(CIFAR10_NAMES)
    x, y = everything(bundle.test)
    assert x.shape == (12, 3, 32, 32) and x.dtype == torch.uint8
    # pixels survive the R/G/B planes -> CHW round trip
    for i in (0, 5):
        expected = torch.from_numpy(image_pixels(10_000 + i, int(y[i]))).permute(2, 0, 1)
        assert torch.equal(x[i], expected)
    assert len(bundle.mean) == 3 and all(0 < m < 1 for m in bundle.mean)


def test_cifar100_mnist_fashion_and_svhn_read_their_formats(tmp_path: Path) -> None:
    write_cifar100(tmp_path, n_train=200, n_test=100)
    bundle = load_dataset(DataConfig(name="cifar100", root=str(tmp_path), download=False), CPU)
    assert len(bundle.classes) == 100 and bundle.classes[7] == "class_07"
    assert bundle.test is not None and len(bundle.test) == 100

    write_mnist(tmp_path, n_train=50, n_test=20)
    bundle = load_dataset(DataConfig(name="mnist", root=str(tmp_path), download=False), CPU)
    x, y = everything(bundle.test)
    assert x.shape == (20, 1, 28, 28) and y.tolist() == [i % 10 for i in range(20)]
    assert torch.equal(x[3, 0], torch.from_numpy(image_pixels(10_003, 3, 28, 1)[..., 0]))

    write_mnist(tmp_path, n_train=30, n_test=10, folder="FashionMNIST")
    bundle = load_dataset(DataConfig(name="fashion-mnist", root=str(tmp_path), download=False), CPU)
    assert len(bundle.train) + len(bundle.val) == 30 and bundle.classes[0] == "T-shirt/top"

    write_svhn(tmp_path / "svhn", n_train=40, n_test=20)
    cfg = DataConfig(name="svhn", root=str(tmp_path / "svhn"), download=False)
    bundle = load_dataset(cfg, CPU)
    x, y = everything(bundle.test)
    assert x.shape == (20, 3, 32, 32) and y.tolist() == [i % 10 for i in range(20)]  # 10 -> 0
    assert torch.equal(x[1], torch.from_numpy(image_pixels(10_001, 1)).permute(2, 0, 1))


def test_missing_files_offline_say_where_and_what_to_do(tmp_path: Path) -> None:
    root = tmp_path / "nowhere"
    with pytest.raises(DataError) as err:
        load_dataset(DataConfig(name="cifar10", root=str(root), download=False), CPU)
    message = str(err.value)
    assert "data.root" in message and str(root) in message
    assert "cifar-10-batches-py/ with data_batch_1..5, test_batch and batches.meta" in message
    assert "--set data.root=PATH" in message and "data.download=true" in message
    assert not root.exists()  # nothing was created or fetched
    with pytest.raises(DataError, match="MNIST/raw/ with train-images-idx3-ubyte"):
        load_dataset(DataConfig(name="mnist", root=str(root), download=False), CPU)
    with pytest.raises(DataError, match="train_32x32.mat"):
        load_dataset(DataConfig(name="svhn", root=str(root), download=False), CPU)


@pytest.mark.parametrize("name", ["cifar10", "mnist", "svhn"])
def test_failed_download_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    calls: list[str] = []

    def offline(request: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(getattr(request, "full_url", str(request)))
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    root = tmp_path / "not" / "yet"  # folders the download makes, removed when it fails
    with pytest.raises(DataError) as err:
        load_dataset(DataConfig(name=name, root=str(root), download=True), CPU)
    message = str(err.value)
    assert calls, "the download should have been attempted (and refused by the test)"
    assert message.startswith("data.root: could not download")
    assert "Temporary failure in name resolution" in message and "--set data.root=PATH" in message
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "mine").mkdir()  # a folder that was there before stays
    with pytest.raises(DataError):
        load_dataset(DataConfig(name=name, root=str(tmp_path / "mine"), download=True), CPU)
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]


def test_corrupt_file_is_a_data_error(tmp_path: Path) -> None:
    folder = write_cifar10(tmp_path, 4, 4)
    (folder / "data_batch_3").write_bytes(b"not a pickle")
    for download in (False, True):  # present but corrupt: no download, a read error
        with pytest.raises(DataError, match="could not read CIFAR-10"):
            load_dataset(DataConfig(name="cifar10", root=str(tmp_path), download=download), CPU)


# ---------------------------------------------------------------- image folders


@pytest.mark.parametrize("workers", [0, 2])
def test_imagefolder_batches_through_a_dataloader(tmp_path: Path, workers: int) -> None:
    write_imagefolder(tmp_path, ("cat", "dog", "fox"), n_per_class=6, size=(40, 30))
    cfg = DataConfig(
        name="imagefolder", root=str(tmp_path), image_size=16, num_workers=workers,
        val_fraction=1 / 3, decode="stream",
    )  # fmt: skip
    info = dataset_info(cfg)
    assert (info.num_classes, info.classes, info.image_size) == (3, ("cat", "dog", "fox"), 16)
    assert info.has_test_split and not info.in_memory
    bundle = load_dataset(cfg, CPU)
    assert isinstance(bundle.train, LoaderSource) and bundle.test is not None
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (12, 6, 18)
    g = torch.Generator().manual_seed(0)
    batches = list(bundle.train.batches(5, shuffle=True, generator=g))
    assert [len(y) for _, y in batches] == [5, 5, 2]
    x, y = batches[0]
    assert x.shape == (5, 3, 16, 16) and x.dtype == torch.uint8 and y.dtype == torch.int64
    seen = torch.cat([y for _, y in batches])
    assert torch.bincount(seen).tolist() == [4, 4, 4]
    g = torch.Generator().manual_seed(0)
    again = torch.cat([y for _, y in bundle.train.batches(5, shuffle=True, generator=g)])
    assert torch.equal(seen, again)  # the order is the generator's, whatever the workers
    # a second pass with another batch size reuses the same (persistent) loader
    assert sum(len(y) for _, y in bundle.val.batches(4, shuffle=False, drop_last=True)) == 4
    test_x, test_y = everything(bundle.test, 7)
    assert test_y.tolist() == [0] * 6 + [1] * 6 + [2] * 6
    # the darkest class (cat) stays darkest after decode + resize + crop
    means = [float(test_x[test_y == k].float().mean()) for k in range(3)]
    assert means == sorted(means)


def test_imagefolder_decodes_once_into_memory_by_default(tmp_path: Path) -> None:
    write_imagefolder(tmp_path, ("a", "b"), n_per_class=5, size=24, splits=("train", "val"))
    cfg = DataConfig(name="imagefolder", root=str(tmp_path), image_size=12, num_workers=0)
    streamed = load_dataset(dataclasses.replace(cfg, decode="stream"), CPU)
    held = load_dataset(cfg, CPU)
    assert isinstance(held.train, TensorSource) and held.info.in_memory
    assert isinstance(streamed.train, LoaderSource)
    assert len(held.val) == 10  # val/ folder used as it is
    assert held.test is not None and len(held.test) == 2  # no test/: carved from train
    assert len(held.train) == len(streamed.train) == 8
    assert torch.equal(everything(streamed.val)[0], everything(held.val)[0])
    assert torch.equal(everything(streamed.test)[0], everything(held.test)[0])
    assert held.mean == pytest.approx(data_stats(everything(held.train)[0])[0])


def test_imagefolder_layout_errors(tmp_path: Path) -> None:
    def error(root: Path) -> str:
        with pytest.raises(DataError) as err:
            load_dataset(DataConfig(name="imagefolder", root=str(root), num_workers=0), CPU)
        return str(err.value)

    assert "does not exist" in error(tmp_path / "missing")
    (tmp_path / "flat").mkdir()
    assert "no train/ folder" in error(tmp_path / "flat")
    write_imagefolder(tmp_path / "extra", ("a", "b"), 2, 8, splits=("train",))
    write_imagefolder(tmp_path / "extra", ("a", "c"), 2, 8, splits=("test",))
    assert "class folders that train/ lacks: c" in error(tmp_path / "extra")
    write_imagefolder(tmp_path / "empty", ("a", "b"), 2, 8, splits=("train",))
    (tmp_path / "empty" / "train" / "z").mkdir()
    assert "class z has no usable training image" in error(tmp_path / "empty")
    write_imagefolder(tmp_path / "unlabelled", ("a",), 2, 8, splits=("train",))
    (tmp_path / "unlabelled" / "test").mkdir()
    assert "test images need labels" in error(tmp_path / "unlabelled")


def test_imagefolder_subset_of_classes_in_test_keeps_train_indices(tmp_path: Path) -> None:
    write_imagefolder(tmp_path, ("a", "b", "c"), 2, 8, splits=("train",))
    write_imagefolder(tmp_path, ("c",), 2, 8, splits=("test",))
    bundle = load_dataset(
        DataConfig(name="imagefolder", root=str(tmp_path), image_size=8, num_workers=0), CPU
    )
    assert bundle.test is not None
    assert everything(bundle.test)[1].tolist() == [2, 2]
    assert all(0 < s < 1 for s in bundle.std)  # stats from the decoded sample


def test_a_cuda_device_always_carries_its_index() -> None:
    """On a GPU, auto picked torch.device("cuda") while the data reported cuda:0, which are
    not equal: every batch was "moved" and pinned from the GPU, and training failed at once
    (seen on an H100). Checked here without a GPU."""
    from engine.data.sources import indexed_device

    assert indexed_device("cuda", lambda: 0) == torch.device("cuda", 0)
    assert indexed_device(torch.device("cuda"), lambda: 1) == torch.device("cuda:1")
    assert indexed_device("cuda:2", lambda: 0) == torch.device("cuda:2")
    assert indexed_device("cpu") == torch.device("cpu")
    assert torch.device("cuda") != torch.device("cuda:0")  # why it matters
