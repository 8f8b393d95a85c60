"""The benchmark harness: every speed target of the project, measured in one run, as ratios.

    .venv/bin/python -m bench [--quick] [--repeats 3] [--only throughput,baseline,...]

This machine is shared and noisy, so each figure is the median of several repeats and every
target is a ratio of two things measured back to back in the same run. Nothing here asserts:
it prints a table (and writes bench/last.json) that docs/PERFORMANCE.md records.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

THROUGHPUT_PRESETS = (
    "digits-quick",
    "cifar10-baseline-cnn",
    "cifar10-resnet-small",
    "cifar10-resnet24-mixup",
)


def median_of(fn: Callable[[], float], repeats: int) -> float:
    return statistics.median(fn() for _ in range(repeats))


# ---------------------------------------------------------------- 1. engine vs bare step


def _fixture_sets(preset: str, root: str) -> list[str]:
    return [] if preset.startswith("digits") else [f"data.root={root}", "data.download=false"]


def throughput(preset: str, root: str, repeats: int, steps: int) -> dict[str, float]:
    """Training images/s of the engine (sampling, augmentation, metrics, store writes and a
    checkpoint per epoch included) over the bare model step on ready tensors."""
    import torch
    import torch.nn.functional as F

    from engine.presets import resolve
    from engine.store import RunStore
    from engine.trainer import Trainer

    config, _ = resolve(preset, _fixture_sets(preset, root))
    batch = config.data.batch_size
    trainer = Trainer(config)
    steps = min(steps, trainer.steps_per_epoch)
    store = RunStore(Path(root) / "runs")
    run_id = store.create_run(config.to_dict(), name="bench")["id"]
    folder = store.run_dir(run_id)

    # the bare step: same model, optimizer and batch size, tensors ready on the device
    x = torch.randn(batch, *trainer.bundle.train.batches(1, shuffle=False).__next__()[0].shape[1:])
    x = x.to(trainer.device)
    y = torch.randint(0, len(trainer.classes), (batch,), device=trainer.device)

    def bare() -> float:
        model, opt = trainer.model, trainer.optimizer
        model.train()
        start = time.perf_counter()
        for _ in range(steps):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        float(loss.detach())
        return steps * batch / (time.perf_counter() - start)

    # the engine: an epoch of exactly ``steps`` steps, then what the runner does per epoch
    trainer.steps_per_epoch = steps
    original = trainer.bundle.train.batches

    def limited(*args: Any, **kwargs: Any) -> Any:
        for i, item in enumerate(original(*args, **kwargs)):
            if i >= steps:
                return
            yield item

    trainer.bundle.train.batches = limited  # type: ignore[method-assign]

    def engine() -> float:
        start = time.perf_counter()
        metrics = trainer.train_one_epoch(0)
        store.append_metrics(run_id, {"kind": "epoch", **metrics})
        store.update(run_id, epoch=1, last=metrics)
        trainer.save(folder / "last.pt")
        return steps * batch / (time.perf_counter() - start)

    bare()  # warm-up (allocator, kernels)
    engine()
    bare_ips = median_of(bare, repeats)
    engine_ips = median_of(engine, repeats)
    return {
        "engine_ips": engine_ips,
        "bare_ips": bare_ips,
        "ratio": engine_ips / bare_ips,
        "steps": steps,
        "batch": batch,
    }


# ---------------------------------------------------------------- 2. the hand-written loop


def handwritten_loop(preset: str, root: str, repeats: int, steps: int) -> float:
    """Images/s of the seeds' loop: torchvision CIFAR10 + PIL transforms + DataLoader(128, 2
    workers) + plain SGD, on the same model and fixture."""
    import torch
    import torch.nn.functional as F
    from torchvision import transforms

    from engine.data.builtin import _CIFAR10  # the md5-free reader of the real format
    from engine.models import create_model
    from engine.presets import resolve

    config, _ = resolve(preset, _fixture_sets(preset, root))
    model = create_model(config.model, 3, 10, 32)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    tf = transforms.Compose(
        [
            transforms.RandomCrop(32, padding=4),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
        ]
    )
    dataset = _CIFAR10(root, train=True, download=False, transform=tf)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=128,
        shuffle=True,
        num_workers=2,
        drop_last=True,
        persistent_workers=True,
    )

    def run() -> float:
        model.train()
        seen, start = 0, time.perf_counter()
        for i, (xb, yb) in enumerate(loader):
            if i >= steps:
                break
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen += yb.shape[0]
        return seen / (time.perf_counter() - start)

    run()
    return median_of(run, repeats)


# ---------------------------------------------------------------- 3. time to accuracy


def time_to_accuracy(seeds: tuple[int, ...]) -> list[dict[str, float]]:
    """Whole `resnet-tui train digits-quick` processes, imports included."""
    from engine.store import RunStore

    out = []
    for seed in seeds:
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(os.environ, RESNET_TUI_RUNS=str(Path(tmp) / "runs"))
            start = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "resnet_tui",
                    "train",
                    "digits-quick",
                    "--quiet",
                    "--set",
                    f"train.seed={seed}",
                ],
                env=env,
                check=True,
                cwd=REPO,
            )
            wall = time.perf_counter() - start
            doc = RunStore(Path(tmp) / "runs").list_runs()[0]
        out.append({"seed": seed, "wall_s": wall, "test_acc": doc["test"]["test_acc"]})
    return out


# ---------------------------------------------------------------- 4/5. console and store


def help_time(repeats: int) -> float:
    def once() -> float:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "resnet_tui", "--help"],
            check=True,
            cwd=REPO,
            capture_output=True,
        )
        return time.perf_counter() - start

    return median_of(once, repeats)


def store_scale(runs: int, epochs: int) -> dict[str, float]:
    out = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "bench_store.py"),
            "--runs",
            str(runs),
            "--epochs",
            str(epochs),
            "--json",
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def digits_epoch_seconds() -> float:
    from engine.presets import resolve
    from engine.trainer import Trainer

    trainer = Trainer(resolve("digits-quick")[0])
    trainer.train_one_epoch(0)
    return statistics.median(trainer.train_one_epoch(e)["seconds"] for e in (1, 2, 3))


# ---------------------------------------------------------------- 5b. fixed cost per epoch


FIXED_PRESETS = ("digits-quick", "cifar10-fast", *THROUGHPUT_PRESETS[1:])


def fixed_cost(preset: str, root: str, epochs: int, batch: int) -> dict[str, Any]:
    """The share of a steady epoch spent outside training steps and evaluation (waiting for
    data, the checkpoint, the store write, the rest), through the real runner and store.

    A CIFAR preset trains on the small fixture in ``root`` with ``batch`` images a batch (its
    own batch would leave the fixture with one step), so the split is of this machine at this
    size; bench/gpu.sh measures the full-size epochs on a GPU."""
    from engine.presets import resolve
    from engine.runner import execute
    from engine.store import RunStore
    from engine.timing import time_split

    sets = [f"train.epochs={epochs}", *_fixture_sets(preset, root)]
    if not preset.startswith("digits"):
        sets.append(f"data.batch_size={batch}")
    config, name = resolve(preset, sets)
    store = RunStore(Path(root) / "fixed-runs")
    run_id = str(store.create_run(config.to_dict(), name=f"fixed-{preset}", preset=name)["id"])
    execute(store, run_id, lambda _event: None)
    lines = [m for m in store.read_metrics(run_id)[0] if m.get("kind", "epoch") == "epoch"]
    split = time_split(lines)
    assert split is not None, f"{preset}: no timed epoch lines"
    return dict(split.to_json(), preset=preset, batch=config.data.batch_size)


# ---------------------------------------------------------------- 6. your own images


def folder_vs_tensor(root: str, repeats: int, epochs: int = 3) -> dict[str, float]:
    """The same images trained as an image folder (PNG files, decoded once into the cache)
    and as an in-memory tensor dataset (CIFAR-10's format): training images/s of the epochs
    after the first, and their ratio."""
    import torch
    from PIL import Image

    from engine.config import DataConfig
    from engine.data import load_dataset
    from engine.presets import resolve
    from engine.trainer import Trainer

    cifar = load_dataset(DataConfig(name="cifar10", root=root, download=False), "cpu")
    folder = Path(root) / "as-folder"
    for split, source in (("train", cifar.train), ("val", cifar.val), ("test", cifar.test)):
        assert source is not None
        for i, (x, y) in enumerate(source.batches(256, shuffle=False)):
            for j, (image, label) in enumerate(zip(x, y, strict=True)):
                target = folder / split / cifar.classes[int(label)]
                target.mkdir(parents=True, exist_ok=True)
                pixels = image.permute(1, 2, 0).numpy()
                Image.fromarray(pixels, "RGB").save(target / f"{i:04d}-{j:03d}.png")
    tensor_sets = [f"data.root={root}", "data.download=false"]
    folder_sets = ["data.name=imagefolder", f"data.root={folder}"]

    def trainer(sets: list[str]) -> Trainer:
        config, _ = resolve("cifar10-baseline-cnn", [*sets, f"train.epochs={epochs}"])
        built = Trainer(config)
        built.train_one_epoch(0)  # the first: warm-up
        return built

    torch.manual_seed(0)
    on_tensor, on_folder = trainer(tensor_sets), trainer(folder_sets)
    tensor_runs, folder_runs = [], []
    # blocks of epochs, interleaved, each going first every other block: the machine's noise
    # hits both alike (an epoch of 2,565 images is a fraction of a second)
    for block in range(2 * repeats):
        pair = [(on_tensor, tensor_runs), (on_folder, folder_runs)]
        for trained, runs in pair if block % 2 else pair[::-1]:
            start = time.perf_counter()
            seen = sum(
                len(trained.bundle.train) // trained.config.data.batch_size
                for _ in range(epochs)
                if trained.train_one_epoch(1 + block * epochs) is not None
            )
            runs.append(seen * trained.config.data.batch_size / (time.perf_counter() - start))
    tensor, in_folder = statistics.median(tensor_runs), statistics.median(folder_runs)
    return {"tensor_ips": tensor, "folder_ips": in_folder, "ratio": in_folder / tensor}


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--only",
        default="",
        help="comma list: throughput,baseline,fixed,folder,tta,help,store,sysmon,tui,predictions",
    )
    args = parser.parse_args()
    only = set(filter(None, args.only.split(",")))
    want = lambda name: not only or name in only  # noqa: E731
    repeats = 1 if args.quick else args.repeats
    import torch

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "0")) or torch.get_num_threads())
    from fixtures import write_cifar10

    results: dict[str, Any] = {
        "commit": _commit(),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
    }
    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as root:
        # CIFAR-10's real format and shape; 2,560 training images (+10% val carved out)
        write_cifar10(root, n_train_per_batch=570, n_test=100)
        default_threads = torch.get_num_threads()
        for preset in THROUGHPUT_PRESETS:
            torch.set_num_threads(default_threads)  # a preset may pin train.threads
            small = preset in ("digits-quick", "cifar10-baseline-cnn")
            # the ResNets run at ~10-300 images/s on a 2-core CPU: few steps keep the harness
            # within its 10-minute budget, the medians of repeats keep the ratios honest
            steps = (20 if small else 2) if args.quick else (40 if small else 3)
            if want("throughput"):
                t = throughput(preset, root, repeats, steps)
                results.setdefault("throughput", {})[preset] = t
                rows.append(
                    (
                        f"engine / bare step: {preset}",
                        f"{t['ratio']:.3f}",
                        ">= 0.95",
                        f"{t['engine_ips']:.0f} vs {t['bare_ips']:.0f} img/s",
                    )
                )
            if want("baseline") and preset != "digits-quick":
                base = handwritten_loop(preset, root, repeats, steps)
                eng = results.get("throughput", {}).get(preset, {}).get("engine_ips")
                if eng is None:
                    eng = throughput(preset, root, repeats, steps)["engine_ips"]
                target = ">= 3.0" if preset == "cifar10-baseline-cnn" else ">= 1.0"
                results.setdefault("baseline", {})[preset] = {
                    "engine_ips": eng,
                    "handwritten_ips": base,
                }
                rows.append(
                    (
                        f"engine / hand-written loop: {preset}",
                        f"{eng / base:.2f}",
                        target,
                        f"{eng:.0f} vs {base:.0f} img/s",
                    )
                )
        if want("fixed"):
            for preset in FIXED_PRESETS:
                torch.set_num_threads(default_threads)
                f = fixed_cost(preset, root, epochs=2 if args.quick else 3, batch=64)
                results.setdefault("fixed_cost", {})[preset] = f
                parts = ", ".join(
                    f"{label} {f[key] / f['wall_s']:.1%}"
                    for key, label in (
                        ("data_s", "data"),
                        ("checkpoint_s", "ckpt"),
                        ("store_s", "store"),
                        ("other_s", "other"),
                    )
                )
                rows.append(
                    (
                        f"fixed cost / steady epoch: {preset}",
                        f"{f['fixed_share']:.3f}",
                        "< 0.05 on a GPU",
                        f"{f['wall_s']:.2f} s an epoch, batch {f['batch']}: {parts}",
                    )
                )
        if want("folder"):
            f = folder_vs_tensor(root, repeats)
            results["folder_vs_tensor"] = f
            rows.append(
                (
                    "image folder / tensor dataset",
                    f"{f['ratio']:.3f}",
                    ">= 0.9",
                    f"{f['folder_ips']:.0f} vs {f['tensor_ips']:.0f} img/s, epochs after the 1st",
                )
            )
    if want("tta"):
        tta = time_to_accuracy((0, 1, 2) if not args.quick else (0,))
        results["time_to_accuracy"] = tta
        wall = statistics.median(r["wall_s"] for r in tta)
        accs = ", ".join(f"{r['test_acc']:.4f}" for r in tta)
        rows.append(
            (
                "digits-quick wall s (median of seeds)",
                f"{wall:.1f}",
                "<= 30 at >= 98%",
                f"test acc {accs}",
            )
        )
    if want("help"):
        h = help_time(5)
        results["help_s"] = h
        rows.append(("resnet-tui --help s", f"{h:.3f}", "< 0.3", "median of 5"))
    if want("store"):
        s = store_scale(1000, 200 if not args.quick else 20)
        epoch_s = digits_epoch_seconds()
        results["store"] = dict(s, digits_epoch_s=epoch_s)
        rows.append(
            (
                "`runs list`, 1,000 runs (s)",
                f"{s['cli_runs_list_s']:.3f}",
                "< 0.5",
                f"whole process; list_runs alone {s['list_runs_s'] * 1000:.0f} ms",
            )
        )
        rows.append(
            (
                "store cost / digits epoch",
                f"{s['per_epoch_s'] / epoch_s:.4f}",
                "< 0.01",
                f"{s['per_epoch_s'] * 1000:.1f} ms vs {epoch_s:.2f} s",
            )
        )
    if want("predictions"):  # collecting and writing the test predictions, over the pass
        from bench.bench_predictions import measure_rows

        results["predictions"], prediction_rows = measure_rows(repeats, args.quick)
        rows.extend(prediction_rows)
    if want("sysmon"):
        from bench import sysmon

        measured = sysmon.measure(repeats)
        results["sysmon"] = measured
        rows.extend(sysmon.rows(measured))
    if want("tui"):
        try:
            from bench.bench_tui import measure_tui
        except ImportError:
            measure_tui = None
        if measure_tui is not None:
            tui_rows = measure_tui()
            rows.extend(tui_rows)
            keys = ("measure", "value", "target", "how")
            results["tui"] = [dict(zip(keys, row, strict=True)) for row in tui_rows]
    (REPO / "bench" / "last.json").write_text(json.dumps(results, indent=2))
    width = max(len(r[0]) for r in rows) if rows else 10
    print(f"commit {results['commit']}  threads {results['threads']}  cpus {results['cpu_count']}")
    print(f"{'measure':<{width}}  {'value':>8}  {'target':<18} how")
    for name, value, target, how in rows:
        print(f"{name:<{width}}  {value:>8}  {target:<18} {how}")


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


if __name__ == "__main__":
    main()
