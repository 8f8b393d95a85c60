"""The TUI tests' fixtures: a deterministic run store (and a large one for timing), and
helpers to build the app over it and wait for it to settle.

Runs get fixed ids and timestamps: each run folder is written with the files the store and
the trainer write (config.toml, run.json, metrics.jsonl through ``append_metrics``,
confusion.json), then ``RunStore.rebuild_index()`` adopts the folders into index.json, the
same way the store recovers a damaged index.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import json
import math
import os
import random
import re
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from textual.events import Key
from textual.message import Message
from textual.notifications import Notification, Notify
from textual.pilot import Pilot
from textual.widgets import Input, TextArea
from textual.worker import WorkerState

from engine import api
from engine.api.remote import EngineHelper
from engine.config import RunConfig, to_toml
from engine.presets import resolve
from engine.store import RunStore, atomic_write
from resnet_tui.app import ResnetApp

FIXED_NOW = datetime(2025, 3, 14, 18, 0, 0, tzinfo=UTC)
DIGIT_CLASSES = [str(i) for i in range(10)]
CIFAR_CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]


def fixed_clock() -> datetime:
    return FIXED_NOW


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def curves(
    epochs: int, seed: int, final_acc: float, seconds: float = 4.0, lr: float = 0.1
) -> list[dict[str, Any]]:
    """Plausible, deterministic epoch lines (falling losses, rising accuracies)."""
    rng = random.Random(seed)
    records = []
    best_epoch, best_loss = 0, math.inf
    for e in range(1, epochs + 1):
        progress = e / max(epochs, 1)
        train_loss = 2.3 * math.exp(-4 * progress) + 0.02 + rng.uniform(0, 0.02)
        val_loss = 2.3 * math.exp(-3.5 * progress) + 0.08 + rng.uniform(0, 0.05)
        train_acc = min(0.999, final_acc + 0.02 - (final_acc - 0.1) * math.exp(-5 * progress))
        val_acc = min(
            0.999, final_acc - (final_acc - 0.1) * math.exp(-4.5 * progress) - rng.uniform(0, 0.01)
        )
        if val_loss < best_loss:
            best_loss, best_epoch = val_loss, e
        records.append(
            {
                "kind": "epoch",
                "epoch": e,
                "train_loss": round(train_loss, 6),
                "train_acc": round(train_acc, 6),
                "val_loss": round(val_loss, 6),
                "val_acc": round(val_acc, 6),
                "lr": round(lr * 0.5 * (1 + math.cos(math.pi * progress)), 8),
                "seconds": round(seconds + rng.uniform(0, 0.4), 3),
                "images_per_s": round(1500 + rng.uniform(0, 50), 1),
                "best_epoch": best_epoch,
                "time": iso(FIXED_NOW - timedelta(hours=1) + timedelta(seconds=seconds * e)),
            }
        )
    return records


def confusion(classes: list[str], per_class: int, accuracy: float, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    k = len(classes)

    def matrix() -> list[list[int]]:
        rows = []
        for i in range(k):
            row = [0] * k
            right = int(round(per_class * (accuracy - 0.05 + 0.1 * rng.random())))
            right = min(per_class, right)
            row[i] = right
            for _ in range(per_class - right):
                j = rng.randrange(k - 1)
                row[j if j < i else j + 1] += 1
            rows.append(row)
        return rows

    val, test = matrix(), matrix()
    per = {c: test[i][i] / sum(test[i]) for i, c in enumerate(classes)}
    return {
        "classes": classes,
        "val": {"epoch": 1, "matrix": val},
        "test": {"epoch": 1, "matrix": test},
        "per_class_acc": per,
    }


def best_of(records: list[dict[str, Any]]) -> dict[str, Any]:
    if not records:
        return {}
    best = min(records, key=lambda r: r["val_loss"])
    return {
        "train_loss": best["train_loss"],
        "train_acc": best["train_acc"],
        "val_loss": best["val_loss"],
        "val_acc": best["val_acc"],
        "best_epoch": float(best["epoch"]),
    }


def add_run(
    store: RunStore,
    run_id: str,
    config: RunConfig,
    *,
    name: str,
    preset: str,
    status: str,
    created: datetime,
    records: list[dict[str, Any]],
    epochs: int | None = None,
    params: int = 308_074,
    device: str = "cpu",
    test_acc: float | None = None,
    confusion_data: dict[str, Any] | None = None,
    message: str = "",
    pid: int | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write one run folder as the store and the trainer would have left it (``extra``:
    fields the experiment commands add, e.g. an ablation's ``group`` or a trial's ``sweep``)."""
    folder = store.root / run_id
    folder.mkdir(parents=True)
    config_dict = config.to_dict()
    total = epochs if epochs is not None else config.train.epochs
    seconds = sum(r["seconds"] for r in records)
    terminal = status not in ("running", "queued")
    doc = {
        "id": run_id,
        "name": name,
        "preset": preset,
        "config": config_dict,
        "status": status,
        "pid": pid,
        "host": None,
        "device": device,
        "created": iso(created),
        "started": iso(created + timedelta(seconds=2)),
        "finished": iso(created + timedelta(seconds=2 + seconds)) if terminal else None,
        "params": params,
        "epoch": len(records),
        "epochs": total,
        "model": config.model.name,
        "dataset": config.data.name,
        "best": best_of(records),
        "test": (
            {"test_loss": round(1 - test_acc, 4), "test_acc": test_acc}
            if test_acc is not None
            else {}
        ),
        "message": message,
        "classes": confusion_data["classes"] if confusion_data else None,
        "last": {k: v for k, v in records[-1].items() if isinstance(v, int | float)}
        if records
        else {},
        **(extra or {}),
    }
    atomic_write(folder / "config.toml", to_toml(config_dict).encode("utf-8"))
    atomic_write(folder / "run.json", json.dumps(doc, indent=1).encode("utf-8"))
    for record in records:
        store.append_metrics(run_id, record)
    if confusion_data is not None:
        atomic_write(folder / "confusion.json", json.dumps(confusion_data).encode("utf-8"))
    (folder / "train.log").write_text(
        "".join(f"epoch {r['epoch']}/{total} val_acc {r['val_acc']:.4f}\n" for r in records)
        + (f"{status}: {message}\n" if message else ""),
        encoding="utf-8",
    )


def add_predictions(store: RunStore, run_id: str, seed: int) -> api.Calibration:
    """Kept test predictions (predictions.npz) that agree with the run's confusion.json test
    matrix: sample ``index`` in class order, each cell's count predicted as its column, with
    seeded confidences (wrong ones lower); the record's test_ece set from them."""
    import numpy as np

    from engine.calibration import calibrate
    from engine.predictions_file import PREDICTIONS_FILE, from_arrays, write_predictions

    folder = store.root / run_id
    data = json.loads((folder / "confusion.json").read_text(encoding="utf-8"))
    matrix, classes = data["test"]["matrix"], data["classes"]
    rng = np.random.default_rng(seed)
    labels, preds = [], []
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            labels += [i] * count
            preds += [j] * count
    n, k = len(labels), len(classes)
    right = np.array(labels) == np.array(preds)
    top1 = np.where(right, rng.uniform(0.6, 1.0, n), rng.uniform(0.3, 0.9, n))
    others = [[c for c in range(k) if c != p][: min(5, k) - 1] for p in preds]
    top = np.array([[p, *rest] for p, rest in zip(preds, others, strict=True)])
    rest = (1 - top1)[:, None] * np.array([0.5, 0.25, 0.15, 0.1])[: min(5, k) - 1]
    prob = np.concatenate([top1[:, None], rest], axis=1)
    p = from_arrays(np.arange(n), labels, top, prob, classes, epoch=data["test"]["epoch"])
    write_predictions(folder / PREDICTIONS_FILE, p)
    cal = calibrate(p.confidence, p.correct)
    doc = store.get(run_id)
    store.update(run_id, test={**doc["test"], "test_ece": cal.ece})
    return cal


def build_store(root: Path) -> RunStore:
    """Eight runs covering every status, two datasets, and an unreadable folder."""
    store = RunStore(root)
    root.mkdir(parents=True, exist_ok=True)
    digits, _ = resolve("digits-quick")
    base = FIXED_NOW - timedelta(days=2)

    def day(hours: float) -> datetime:
        return base + timedelta(hours=hours)

    add_run(
        store,
        "20250312-180000-digits-quick-0001",
        digits,
        name="digits-quick",
        preset="digits-quick",
        status="finished",
        created=day(0),
        records=curves(12, 1, 0.97),
        test_acc=0.9694,
        confusion_data=confusion(DIGIT_CLASSES, 36, 0.97, 1),
        message="trained 12 epochs",
    )
    add_run(
        store,
        "20250312-190000-digits-lr05-0002",
        digits.replace({"optim.lr": 0.05, "augment.hflip": True}),
        name="digits-lr05",
        preset="digits-quick",
        status="finished",
        created=day(1),
        records=curves(12, 2, 0.95, lr=0.05),
        test_acc=0.9471,
        confusion_data=confusion(DIGIT_CLASSES, 36, 0.95, 2),
        message="trained 12 epochs",
    )
    cifar, _ = resolve("cifar10-resnet24-mixup")
    add_run(
        store,
        "20250313-080000-resnet24-mixup-0003",
        cifar.replace({"train.epochs": 40}),
        name="resnet24-mixup",
        preset="cifar10-resnet24-mixup",
        status="finished",
        created=day(14),
        records=curves(40, 3, 0.93, seconds=31.0),
        params=4_935_242,
        device="cuda:0",
        test_acc=0.9287,
        confusion_data=confusion(CIFAR_CLASSES, 1000, 0.93, 3),
        message="trained 40 epochs",
    )
    add_run(
        store,
        "20250313-120000-resnet18-basic-0004",
        cifar.replace({"model.name": "resnet18", "optim.name": "sgd", "train.epochs": 30}),
        name="resnet18-basic",
        preset="resnet18-basic",
        status="stopped",
        created=day(18),
        records=curves(9, 4, 0.85, seconds=20.0),
        params=11_173_962,
        device="cuda:0",
        message="stopped at epoch 9; resume to continue",
    )
    add_run(
        store,
        "20250313-150000-digits-crash-0005",
        digits.replace({"train.epochs": 20}),
        name="digits-crash",
        preset="digits-quick",
        status="crashed",
        created=day(21),
        records=curves(6, 5, 0.9),
        message="process 4242 is gone (last epoch 6); resume "
        "with `resnet-tui train --resume 20250313-150000-digits-crash-0005`",
    )
    add_run(
        store,
        "20250313-160000-digits-diverged-0006",
        digits.replace({"optim.lr": 5.0}),
        name="digits-diverged",
        preset="digits-quick",
        status="diverged",
        created=day(22),
        records=curves(2, 6, 0.2),
        message="the loss became NaN at epoch 3; lower optim.lr",
    )
    add_run(
        store,
        "20250314-170000-digits-live-0007",
        digits.replace({"train.epochs": 20}),
        name="digits-live",
        preset="digits-quick",
        status="running",
        created=FIXED_NOW - timedelta(minutes=2),
        records=curves(5, 7, 0.96),
        epochs=20,
    )
    # Half-written: a folder whose run.json is torn and whose config.toml is missing.
    broken = root / "20250314-171500-half-written-0008"
    broken.mkdir()
    (broken / "run.json").write_text('{"id": "20250314-171500-half-wr', encoding="utf-8")
    store.rebuild_index()
    return RunStore(root)  # a fresh instance: no warnings from building the fixture


STACKED = "20250314-100000-stacked-00a1"
ABLATION_GROUP = "ablate-20250313-200000-ab12"
ABLATION_BASE = "20250313-200000-digits-ablate-00b1"
SWEEP_GRID = "digits-opt-lr"
SWEEP_SEARCH = "digits-lr-search"


def stacking_report(members: list[dict[str, Any]], run_id: str = STACKED) -> dict[str, Any]:
    """A stacking.json as engine.stacking writes it: two members, ten digit classes."""
    shares = [0.58, 0.41, 0.52, 0.49, 0.73, 0.5, 0.36, 0.55, 0.61, 0.07]
    return {
        "run_id": run_id,
        "status": "finished",
        "message": "early stopping at epoch 31: no improvement of val_loss for 10 epochs",
        "classes": DIGIT_CLASSES,
        "members": [
            {
                "id": m["id"],
                "name": m["name"],
                "model": "resnet-digits",
                "val_acc": m["val_acc"],
                "test_acc": m["test_acc"],
                "contribution": c,
            }
            for m, c in zip(members, (0.482, 0.518), strict=True)
        ],
        "ensemble": {
            "train_loss": 0.041,
            "train_acc": 0.991,
            "val_loss": 0.071,
            "val_acc": 0.9833,
            "best_epoch": 21,
            "test_loss": 0.082,
            "test_acc": 0.9777,
        },
        "per_class": [shares, [round(1 - v, 2) for v in shares]],
    }


def sweep_document(name: str, mode: str, params: list[dict[str, Any]], trials: int,
                   created: datetime) -> dict[str, Any]:  # fmt: skip
    """A runs/sweeps/NAME.json as engine.sweep.create_sweep writes it (a finished sweep)."""
    return {
        "id": name,
        "name": name,
        "kind": "sweep",
        "mode": mode,
        "preset": "digits-quick",
        "spec": {
            "name": name,
            "preset": "digits-quick",
            "sets": ["train.epochs=12"],
            "mode": mode,
            "params": params,
            "trials": trials,
            "prune": mode == "search",
            "prune_startup": 3,
            "seed": 0,
            "base": {},
        },
        "storage": f"runs/sweeps/{name}.journal",
        "status": "finished",
        "pid": None,
        "host": None,
        "created": iso(created),
        "started": iso(created + timedelta(seconds=1)),
        "finished": iso(created + timedelta(minutes=20)),
        "message": f"{trials} trials done",
    }


def add_experiments(root: Path) -> RunStore:
    """A stacked ensemble of the two finished digits runs (with its stacking.json), an
    ablation group (base, no-relu, no-bn) and two sweeps (a grid over optimizer x learning
    rate, a search over a log-scaled learning rate), on top of ``build_store``'s runs."""
    store = RunStore(root)
    digits, _ = resolve("digits-quick")
    base = FIXED_NOW - timedelta(hours=30)

    members = []
    for run_id in ("20250312-180000-digits-quick-0001", "20250312-190000-digits-lr05-0002"):
        doc = json.loads((root / run_id / "run.json").read_text())
        (root / run_id / "best.pt").write_bytes(b"")  # what check_members looks for
        members.append(
            {
                "id": run_id,
                "name": doc["name"],
                "val_acc": doc["best"]["val_acc"],
                "test_acc": doc["test"]["test_acc"],
            }
        )
    stacked = digits.replace({"model.name": "stacked", "optim.name": "adam", "train.epochs": 100})
    add_run(
        store,
        STACKED,
        stacked,
        name="stacked",
        preset="",
        status="finished",
        created=FIXED_NOW - timedelta(hours=8),
        records=curves(31, 11, 0.98, seconds=0.05, lr=0.01),
        epochs=100,
        params=1010,
        test_acc=0.9777,
        confusion_data=confusion(DIGIT_CLASSES, 36, 0.98, 11),
        message="early stopping at epoch 31: no improvement of val_loss for 10 epochs",
        extra={"members": [m["id"] for m in members]},
    )
    atomic_write(
        root / STACKED / "stacking.json", json.dumps(stacking_report(members)).encode("utf-8")
    )

    for i, (ablation, acc, sets) in enumerate(
        (
            ("base", 0.97, {}),
            ("relu", 0.88, {"model.act": "none"}),
            ("bn", 0.93, {"model.norm": "none"}),
        )
    ):
        name = "digits-ablate" if i == 0 else f"digits-ablate-no-{ablation}"
        add_run(
            store,
            f"20250313-20{i}000-{name}-00b{i + 1}",
            digits.replace(sets),
            name=name,
            preset="digits-quick",
            status="finished",
            created=base + timedelta(minutes=10 * i),
            records=curves(12, 20 + i, acc),
            test_acc=round(acc - 0.004 * i, 4),
            extra={"group": ABLATION_GROUP, "ablation": ablation},
        )

    folder = root / "sweeps"
    folder.mkdir(exist_ok=True)
    grid = [
        {"key": "optim.name", "kind": "grid", "values": ["sgd", "adam"]},
        {"key": "optim.lr", "kind": "grid", "values": [0.001, 0.01, 0.1]},
    ]
    search = [{"key": "optim.lr", "kind": "float", "low": 0.0001, "high": 1.0, "log": True}]
    sweeps = (
        (SWEEP_GRID, "grid", grid, FIXED_NOW - timedelta(hours=4)),
        (SWEEP_SEARCH, "search", search, FIXED_NOW - timedelta(hours=6)),
    )
    trials = {
        SWEEP_GRID: [
            ({"optim.name": "sgd", "optim.lr": 0.001}, 0.71, "finished", 12),
            ({"optim.name": "sgd", "optim.lr": 0.01}, 0.93, "finished", 12),
            ({"optim.name": "sgd", "optim.lr": 0.1}, 0.975, "finished", 12),
            ({"optim.name": "adam", "optim.lr": 0.001}, 0.965, "finished", 12),
            ({"optim.name": "adam", "optim.lr": 0.01}, 0.95, "finished", 12),
            ({"optim.name": "adam", "optim.lr": 0.1}, 0.42, "pruned", 3),
        ],
        SWEEP_SEARCH: [
            ({"optim.lr": 0.0003}, 0.62, "finished", 12),
            ({"optim.lr": 0.002}, 0.9, "finished", 12),
            ({"optim.lr": 0.02}, 0.955, "finished", 12),
            ({"optim.lr": 0.15}, 0.97, "finished", 12),
            ({"optim.lr": 0.6}, 0.3, "diverged", 2),
        ],
    }
    for name, mode, params, created in sweeps:
        doc = sweep_document(name, mode, params, len(trials[name]), created)
        atomic_write(folder / f"{name}.json", json.dumps(doc, indent=1).encode("utf-8"))
        for number, (point, acc, status, epochs) in enumerate(trials[name]):
            pruned = status == "pruned"
            add_run(
                store,
                f"{created + timedelta(minutes=3 * number):%Y%m%d-%H%M%S}-{name}-t{number}-"
                f"{0xC0 + number:04x}",
                digits.replace(point),
                name=f"{name}-t{number}",
                preset="digits-quick",
                status="stopped" if pruned else status,
                created=created + timedelta(minutes=3 * number),
                records=curves(epochs, 40 + number, acc),
                epochs=12,
                test_acc=round(acc - 0.005, 4) if status == "finished" else None,
                message="pruned at epoch 3: val_acc below the median" if pruned else "",
                extra={"sweep": name, "trial": number, "sweep_params": point}
                | ({"pruned": True} if pruned else {}),
            )
    store.rebuild_index()
    return RunStore(root)


def build_experiment_store(root: Path) -> RunStore:
    """``build_store``'s runs plus ``add_experiments``'."""
    build_store(root)
    return add_experiments(root)


def build_big_store(root: Path, runs: int = 1000, epochs: int = 200) -> RunStore:
    """``runs`` finished runs of ``epochs`` epochs each, for timing the Runs view."""
    store = RunStore(root)
    root.mkdir(parents=True, exist_ok=True)
    digits, _ = resolve("digits-quick")
    config = digits.replace({"train.epochs": epochs})
    records = curves(epochs, 0, 0.97, seconds=1.0)
    lines = "".join(json.dumps(r) + "\n" for r in records).encode("utf-8")
    toml = to_toml(config.to_dict()).encode("utf-8")
    start = FIXED_NOW - timedelta(days=30)
    for i in range(runs):
        created = start + timedelta(minutes=30 * i)
        run_id = f"{created:%Y%m%d-%H%M%S}-bulk-{i % 7}-{i:04x}"
        folder = root / run_id
        folder.mkdir()
        doc = {
            "id": run_id,
            "name": f"bulk-{i:04d}",
            "preset": "digits-quick",
            "config": config.to_dict(),
            "status": "finished",
            "pid": None,
            "host": None,
            "device": "cpu",
            "created": iso(created),
            "started": iso(created),
            "finished": iso(created + timedelta(seconds=200 + i)),
            "params": 308_074 + i,
            "epoch": epochs,
            "epochs": epochs,
            "model": "resnet-digits",
            "dataset": "digits",
            "best": {**best_of(records), "val_acc": 0.9 + (i % 97) / 1000},
            "test": {"test_loss": 0.1, "test_acc": 0.9 + (i % 89) / 1000},
            "message": f"trained {epochs} epochs",
        }
        (folder / "config.toml").write_bytes(toml)
        (folder / "run.json").write_text(json.dumps(doc), encoding="utf-8")
        (folder / "metrics.jsonl").write_bytes(lines)
    store.rebuild_index()
    return RunStore(root)


# ---------------------------------------------------------------- driving the app


FOLLOW_GROUPS = ("follow",)


def sync(test: Callable[..., Any]) -> Callable[..., Any]:
    """Run an ``async def`` test with asyncio (pytest sees the test's own signature)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(test(*args, **kwargs))

    return run


_SHARED_HELPER: EngineHelper | None = None


def shared_helper() -> EngineHelper:
    """One engine helper per test process: starting torch costs seconds, once is enough."""
    global _SHARED_HELPER
    if _SHARED_HELPER is None:
        _SHARED_HELPER = EngineHelper()
        atexit.register(_SHARED_HELPER.close)
    return _SHARED_HELPER


def make_app(runs_dir: Path | str, **kwargs: Any) -> ResnetApp:
    """The console as the CLI builds it, on a fixed clock and the shared model helper."""
    kwargs.setdefault("clock", fixed_clock)
    kwargs.setdefault("helper", shared_helper())
    return ResnetApp(runs_dir=str(runs_dir), **kwargs)


def busy_workers(app: ResnetApp) -> list[Any]:
    return [
        w
        for w in app.workers
        if w.group not in FOLLOW_GROUPS and w.state in (WorkerState.PENDING, WorkerState.RUNNING)
    ]


async def settle(
    pilot: Pilot[Any],
    until: Callable[[], Any] | None = None,
    timeout: float = 60.0,
    what: str = "the app to settle",
) -> None:
    """Wait until no one-shot worker runs and ``until()`` holds (the follower may run on)."""
    app = pilot.app
    assert isinstance(app, ResnetApp)
    deadline = time.monotonic() + timeout
    while True:
        await pilot.pause(0.05)
        if not busy_workers(app) and (until is None or until()):
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
    steady_cursors(app)
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


def steady_cursors(app: ResnetApp) -> None:
    """Stop every text cursor blinking, shown: a snapshot taken 0.5 s later on a loaded
    machine would otherwise catch the cursor in its hidden half."""
    for widget in app.screen.query("Input, TextArea"):
        if isinstance(widget, (Input, TextArea)):
            widget.cursor_blink = False


async def wait_for(pilot: Pilot[Any], until: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await pilot.pause(0.2)


class Notes:
    """Every notification the app showed, in order, read from its ``Notify`` messages: pass
    ``notes.hook`` as ``run_test(message_hook=...)``, Textual's public way to watch them."""

    def __init__(self) -> None:
        self.shown: list[Notification] = []

    def hook(self, message: Message) -> None:
        if isinstance(message, Notify):
            self.shown.append(message.notification)

    def titled(self, title: str) -> list[str]:
        return [n.message for n in self.shown if n.title == title]

    def saying(self, text: str) -> bool:
        return any(text in n.message for n in self.shown)


def burst(app: ResnetApp, *keys: str) -> None:
    """Keys as a fast typist or a paste-like burst sends them: all queued before the app
    handles the first (``Pilot.press`` waits for the app to be idle after each key, which
    hides what a burst does). Wait for them with ``settle``."""
    for key in keys:
        character = key if len(key) == 1 else None
        app.post_message(Key(key, character))


def screen_text(app: ResnetApp) -> str:
    """The plain text on screen (what a user reads)."""
    svg = app.export_screenshot()
    return re.sub(r"<[^>]+>", "", svg).replace("&#160;", " ")


def kill_trainers(root: Path | str) -> None:
    """End the trainer processes a test started (by their recorded pid), if still alive."""
    store = RunStore(root)
    try:
        docs = store.list_runs()
    except Exception:
        return
    for doc in docs:
        pid = doc.get("pid")
        if (
            isinstance(pid, int)
            and doc.get("status") in ("running", "queued")
            and store.is_alive(doc)
        ):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


if __name__ == "__main__":
    import sys

    target = Path(sys.argv[1])
    if len(sys.argv) > 2 and sys.argv[2] == "big":
        build_big_store(target)
    elif len(sys.argv) > 2 and sys.argv[2] == "experiments":
        build_experiment_store(target)
    else:
        build_store(target)
    print(target)
