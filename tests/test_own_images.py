"""Your own images as fast and as safe as the built-in datasets: folders keep their own size
and channels, are decoded once into a cache and train from memory; bad files are skipped,
counted and named; a folder that cannot be trained on is refused before a run exists."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.config import DataConfig
from engine.data import folder as folder_module
from engine.data import load_dataset
from engine.data.sources import LoaderSource, TensorSource
from engine.presets import resolve
from engine.runner import execute
from engine.store import RunStore

torch.set_num_threads(1)
CLASSES = 10
PER_CLASS = 500  # 5,000 images a folder


def _pattern(label: int, index: int, side: int, channels: int) -> np.ndarray:
    """A class's bar (row band by label) over noise: learnable in an epoch or two."""
    rng = np.random.default_rng(7919 * label + index)
    image = rng.integers(0, 60, size=(side, side, channels)).astype(np.uint8)
    band = slice(2 + label * (side - 4) // CLASSES, 2 + (label + 1) * (side - 4) // CLASSES)
    image[band, :, :] = 200 + rng.integers(0, 40, size=(1, side, channels)).astype(np.uint8)
    if channels == 3:
        image[..., label % 3] //= 2  # colour says something too
    return image


def make_folder(root: Path, side: int, channels: int) -> Path:
    mode = "L" if channels == 1 else "RGB"
    for label in range(CLASSES):
        folder = root / "train" / f"class-{label}"
        folder.mkdir(parents=True)
        for i in range(PER_CLASS):
            pixels = _pattern(label, i, side, channels)
            Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode).save(
                folder / f"{i:04d}.png"
            )
    return root


@pytest.fixture(scope="module")
def gray28(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_folder(tmp_path_factory.mktemp("gray28"), 28, 1)


@pytest.fixture(scope="module")
def rgb32(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_folder(tmp_path_factory.mktemp("rgb32"), 32, 3)


def _train(runs: Path, root: Path, *extra: str) -> tuple[dict, str]:
    store = RunStore(runs)
    sets = [
        "data.name=imagefolder",
        f"data.root={root}",
        # a quick run: the data keys above are the only ones a folder needs
        "train.epochs=2",
        "model.channels=8,16,32",
        *extra,
    ]
    config, preset = resolve("digits-quick", sets)
    run_id = str(store.create_run(config.to_dict(), preset=preset)["id"])
    doc = execute(store, run_id)
    return doc, (store.run_dir(run_id) / "train.log").read_text()


@pytest.mark.slow
@pytest.mark.parametrize(("fixture", "side", "channels"), [("gray28", 28, 1), ("rgb32", 32, 3)])
def test_a_folder_trains_at_its_own_size_and_channels_from_memory(
    fixture: str, side: int, channels: int, runs_dir: Path, request: pytest.FixtureRequest
) -> None:
    root: Path = request.getfixturevalue(fixture)
    folder_module._SURVEYS.clear()
    doc, log = _train(runs_dir, root)
    assert doc["status"] == "finished", log
    data = doc["data"]
    assert (data["image_size"], data["channels"]) == (side, channels)
    assert data["path"] == "memory" and data["skipped"] == 0
    assert data["images"] == {"train": CLASSES * PER_CLASS}
    assert f"input {channels}x{side}x{side}: the images' own size {side}x{side}" in log
    assert "in memory, decoded once" in log and "carved from train" in log
    assert doc["test"]["test_acc"] >= 0.9, log
    code, shown = _cli("--runs-dir", str(runs_dir), "runs", "show", doc["id"])
    assert code == 0 and f"input {channels}x{side}x{side}" in shown
    assert "in memory, decoded once" in shown
    cache = sorted(Path(p) for p in runs_dir.parent.glob("cache/folder-*.pt"))
    assert len(cache) == 1
    stamp = cache[0].stat().st_mtime_ns
    # a second run on the unchanged folder reads the cache: no decoding
    folder_module._SURVEYS.clear()
    again, log = _train(runs_dir, root, "train.epochs=1", f"augment.resize={side + 4}")
    assert again["data"]["path"] == "memory-cache"
    assert f"the model sees {side + 4}x{side + 4} (augment.resize {side + 4}" in log
    assert "read from the cache" in log and "no decoding" in log
    assert cache[0].stat().st_mtime_ns == stamp


def _images(root: Path, n: int = 4, side: int = 12) -> None:
    for label in ("a", "b"):
        folder = root / "train" / label
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(_pattern(ord(label) % 10, i, side, 3), "RGB").save(folder / f"{i}.png")


def test_an_edited_folder_is_decoded_again_and_bad_files_are_skipped_and_named(
    tmp_path: Path,
) -> None:
    root = tmp_path / "pics"
    _images(root)
    cfg = DataConfig(name="imagefolder", root=str(root), num_workers=0)
    first = load_dataset(cfg, "cpu")
    assert first.report["path"] == "memory" and isinstance(first.train, TensorSource)
    folder_module._SURVEYS.clear()
    assert load_dataset(cfg, "cpu").report["path"] == "memory-cache"
    # bad files of every kind, and one good image more
    (root / "train" / "a" / "notes.txt").write_text("not an image")
    (root / "train" / "a" / "empty.png").write_bytes(b"")
    (root / "train" / "b" / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    good = root / "train" / "b" / "0.png"
    (root / "train" / "b" / "truncated.png").write_bytes(good.read_bytes()[:60])
    Image.fromarray(_pattern(1, 99, 12, 3), "RGB").save(root / "train" / "b" / "new.png")
    folder_module._SURVEYS.clear()
    edited = load_dataset(cfg, "cpu")
    assert edited.report["path"] == "memory"  # decoded again: the folder changed
    total = len(edited.train) + len(edited.val) + (len(edited.test) if edited.test else 0)
    assert total == 9  # 8 + new.png
    assert edited.report["skipped"] == 4
    text = "\n".join(edited.notes)
    assert "skipped 4 files" in text
    for name in ("notes.txt", "empty.png", "junk.png", "truncated.png"):
        assert name in text
    assert "empty file (0 bytes)" in text and "not an image file" in text


def test_streaming_decodes_in_the_workers_the_same_pixels(tmp_path: Path) -> None:
    root = tmp_path / "pics"
    _images(root, n=5)
    held = load_dataset(DataConfig(name="imagefolder", root=str(root), num_workers=0), "cpu")
    folder_module._SURVEYS.clear()
    streamed = load_dataset(
        DataConfig(name="imagefolder", root=str(root), num_workers=2, decode="stream"), "cpu"
    )
    assert isinstance(streamed.train, LoaderSource) and streamed.report["path"] == "streaming"
    for a, b in ((held.train, streamed.train), (held.val, streamed.val)):
        xa = torch.cat([x for x, _ in a.batches(4, shuffle=False)])
        xb = torch.cat([x for x, _ in b.batches(4, shuffle=False)])
        assert torch.equal(xa, xb)


def test_mixed_sizes_go_to_the_median_and_say_so(tmp_path: Path) -> None:
    root = tmp_path / "pics"
    for label, sides in (("a", (20, 24, 24)), ("b", (24, 30, 40))):
        folder = root / "train" / label
        folder.mkdir(parents=True)
        for i, side in enumerate(sides):
            Image.fromarray(_pattern(1, i, side, 3)[:, : side + 0], "RGB").save(folder / f"{i}.png")
    bundle = load_dataset(DataConfig(name="imagefolder", root=str(root), num_workers=0), "cpu")
    assert bundle.report["image_size"] == 24
    x, _ = next(iter(bundle.train.batches(8, shuffle=False)))
    assert x.shape[1:] == (3, 24, 24)
    assert "mixed sizes" in bundle.report["size_why"] and "median 24" in bundle.report["size_why"]


def test_a_run_record_keeps_the_data_report(tmp_path: Path) -> None:
    """The report is part of the typed run record (what `runs show` and the console read)."""
    from engine.records import RunRecord

    record = RunRecord.from_json(
        {"id": "x", "name": "x", "status": "finished", "data": {"path": "memory"}}
    )
    assert record.data == {"path": "memory"}
    assert json.loads(json.dumps(record.to_json()))["data"] == {"path": "memory"}


# ---------------------------------------------------------------- data inspect


def _cli(*args: str) -> tuple[int, str]:
    from typer.testing import CliRunner

    from resnet_tui.cli import app

    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "80"})
    return result.exit_code, result.output


def test_data_inspect_tells_what_a_run_would_make_of_a_folder(tmp_path: Path) -> None:
    root = tmp_path / "pics"
    _images(root, n=6)
    (root / "train" / "a" / "notes.txt").write_text("not an image")
    (root / "train" / "b" / "empty.png").write_bytes(b"")
    good = (root / "train" / "b" / "0.png").read_bytes()
    (root / "train" / "b" / "cut.png").write_bytes(good[: len(good) // 2])  # header whole
    for i in range(12):  # imbalance: b has 4x a's images... after these
        Image.fromarray(_pattern(1, 50 + i, 12, 3), "RGB").save(root / "train" / "b" / f"x{i}.png")
    code, out = _cli("data", "inspect", str(root))
    assert code == 0, out
    for text in (
        "a          6",
        "b         18",
        "images: train 24 (carved: val 10% of train, test 20% of train)",
        "sizes: 12x12 (24)",
        "input: 3x12x12: the images' own size 12x12; colour",
        "path: memory:",
        "skipped 3 files",
        "train/b/cut.png: unreadable",
        "train/a/notes.txt: not an image file",
        "train/b/empty.png: empty file (0 bytes)",
        "class imbalance: the largest train class has 3.0x",
    ):
        assert text in out, (text, out)
    assert all(len(line) <= 80 for line in out.splitlines())
    code, out = _cli("data", "inspect", str(root), "--set", "data.image_size=8", "--json")
    report = json.loads(out)
    assert report["input"] == {
        "channels": 3,
        "size": 8,
        "why": "resized to 8 (data.image_size); colour",
    }
    assert report["classes"] == [{"name": "a", "train": 6}, {"name": "b", "train": 18}]
    assert len(report["skipped"]) == 3


def test_data_inspect_refuses_what_a_run_would_refuse(tmp_path: Path) -> None:
    code, out = _cli("data", "inspect", str(tmp_path / "missing"))
    assert code == 2 and "does not exist" in out and "Traceback" not in out
    table = tmp_path / "table"
    table.mkdir()
    (table / "labels.csv").write_text("file,label\n")
    code, out = _cli("data", "inspect", str(table))
    assert (
        code == 2 and "It holds labels.csv: for a table of file,label rows use data.name=csv" in out
    )
    root = tmp_path / "pics"
    _images(root)
    (root / "train" / "c").mkdir()
    (root / "train" / "c" / "broken.png").write_bytes(b"\x89PNG junk")
    code, out = _cli("data", "inspect", str(root))
    assert code == 2 and "class c has no usable training image" in out


# ---------------------------------------------------------------- other layouts


def test_a_csv_table_of_files_and_labels_trains_like_a_folder(tmp_path: Path) -> None:
    root = tmp_path / "kaggle"
    (root / "images").mkdir(parents=True)
    rows = ["image,label,split"]
    for i in range(12):
        label = "cat" if i % 2 else "dog"
        Image.fromarray(_pattern(i % 2, i, 10, 3), "RGB").save(root / "images" / f"{i}.png")
        rows.append(f"images/{i}.png,{label},{'test' if i >= 10 else 'train'}")
    rows += [
        "images/missing.png,cat,train",  # a row naming a missing file
        "images/0.png,bird,test",  # a label train does not have
        "images/1.png,,train",  # no label
    ]
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    bundle = load_dataset(DataConfig(name="csv", root=str(root), num_workers=0), "cpu")
    assert bundle.classes == ["cat", "dog"] and bundle.report["image_size"] == 10
    assert bundle.test is not None and len(bundle.test) == 2  # the rows marked test
    assert len(bundle.train) + len(bundle.val) == 10
    assert bundle.report["skipped"] == 3
    text = "\n".join(bundle.notes)
    assert "labels.csv:14 images/missing.png: no such file" in text
    assert "label 'bird' is not one of train's" in text
    assert "a row without file and label" in text
    with pytest.raises(Exception, match="data.csv: '.*other.csv' does not exist"):
        load_dataset(DataConfig(name="csv", root=str(root), csv="other.csv"), "cpu")


def test_npy_arrays_are_samples_too(tmp_path: Path) -> None:
    """Seed 000's spectrograms: 2-D float arrays are one channel, scaled by their range;
    3-D arrays are channel-first."""
    root = tmp_path / "spectra"
    for label in ("noise", "tone"):
        folder = root / "train" / label
        folder.mkdir(parents=True)
        for i in range(5):
            rng = np.random.default_rng(i + (10 if label == "tone" else 0))
            spectrum = rng.normal(-60.0, 5.0, size=(16, 20)).astype(np.float32)  # dB
            if label == "tone":
                spectrum[4:6] += 40.0
            np.save(folder / f"{i}.npy", spectrum)
    np.save(root / "train" / "tone" / "bad.npy", np.zeros((2, 3, 4, 5)))
    bundle = load_dataset(DataConfig(name="imagefolder", root=str(root), num_workers=0), "cpu")
    assert bundle.report["channels"] == 1 and bundle.report["image_size"] == 16
    assert bundle.report["skipped"] == 1 and "bad.npy" in "\n".join(bundle.notes)
    images = torch.cat([x for x, _ in bundle.train.batches(8, shuffle=False)])
    assert images.dtype == torch.uint8 and images.shape[1:] == (1, 16, 16)
    assert int(images.max()) == 255 and int(images.min()) == 0  # each scaled by its range


def test_an_input_far_larger_than_the_data_is_warned_about_with_the_numbers() -> None:
    from engine.answers import RunCheck
    from engine.checks import input_warnings

    config, _ = resolve("digits-quick", ["augment.resize=160"])
    (warning,) = input_warnings(config, 28, 160)
    assert "160x160 inputs made from 28x28 images: 33x the pixels" in warning
    assert input_warnings(config, 64, 224) == []  # 12x: not worth a word
    pretrained, _ = resolve("transfer-resnet18-frozen")
    assert input_warnings(pretrained, 32, 224) == []  # what a pretrained backbone asks for
    check = RunCheck(1, 1, 1, 160, 10, "imagefolder", 100, "cpu", warnings=(warning,))
    assert RunCheck.from_json(json.loads(json.dumps(check.to_json()))) == check


def test_a_streamed_file_gone_bad_mid_run_is_named_not_replaced(tmp_path: Path) -> None:
    root = tmp_path / "pics"
    _images(root, n=5)
    streamed = load_dataset(
        DataConfig(name="imagefolder", root=str(root), num_workers=0, decode="stream"), "cpu"
    )
    first = torch.cat([x for x, _ in streamed.train.batches(4, shuffle=False)])
    assert len(first) == len(streamed.train)
    for path in (root / "train").rglob("*.png"):  # damaged mid-run
        path.write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="was there when the run started") as gone:
        torch.cat([x for x, _ in streamed.train.batches(4, shuffle=False)])
    assert str(root) in str(gone.value.filename)


# ---------------------------------------------------------------- the Launch form


@pytest.mark.slow
def test_the_launch_form_says_what_a_run_would_make_of_the_folder(tmp_path: Path) -> None:
    import asyncio

    from textual.widgets import Static
    from tui_fixtures import make_app, settle, wait_for

    from engine import api
    from resnet_tui.state import LaunchRequest

    root = tmp_path / "pics"
    _images(root, n=6)
    (root / "train" / "a" / "notes.txt").write_text("not an image")

    async def run() -> str:
        app = make_app(tmp_path / "runs", start_mode="runs")
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            config = api.RunConfig().replace({"data.name": "imagefolder", "data.root": str(root)})
            app.request_launch(LaunchRequest(config, "digits-quick", "mine"))
            await settle(pilot, lambda: app.state.registries is not None, 90, "the registries")

            def shown() -> str:
                found = app.screen.query("#launch-data")
                return str(found.first(Static).render()) if found else ""

            await wait_for(pilot, lambda: "classes" in shown(), 90, "the data line")
            return shown()

    text = asyncio.run(run())
    assert "data 2 classes · train 12 (val/test carved) · 3×12×12 · in memory" in text
    assert "1 files skipped" in text
