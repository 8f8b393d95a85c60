"""Stacked ensembles (seed 000): a linear layer over the concatenated logits of finished runs.

``stack_runs(store, ["run-a", "run-b", "run-c"])`` checks the members (finished, same dataset,
split and classes, a best checkpoint each), computes each member's logits once (its best.pt
in eval mode, on the un-augmented train/val/test splits), then trains a linear
meta-classifier (K x C -> C) on the cached train logits with gaussian noise on its input,
early-stopped on val. The result is a run like any other (model ``stacked``, ``members`` in
its document, metrics.jsonl, best/test stats, confusion.json, best.pt/last.pt) plus
``stacking.json``: each member's val/test accuracy beside the ensemble's and seed 000's
contribution analysis (per model and per class), for the CLI table and the TUI heatmap.

The linear layer starts as the plain average of the members' logits (weight = [I/K ... I/K]),
so training starts from the simple ensemble and the early stop never ends worse on val than
the best epoch it saw.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.config import RunConfig, deep_merge, from_dict, nest, parse_override
from engine.errors import CheckpointError, ConfigError, UserError
from engine.store import BEST_CHECKPOINT, CONFUSION_FILE, RunStore

STACKED_MODEL = "stacked"
STACKING_FILE = "stacking.json"
# Data keys that decide which images land in which split: members must agree on all of them.
BEST_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc")
SPLIT_KEYS = ("name", "root", "val_fraction", "test_fraction", "split_seed", "image_size")
# The meta-classifier's recipe; ``--set`` overrides it. Logits are on a scale of several units,
# so seed 000's "small" noise of 0.2 perturbs them far less than it does normalised pixels.
STACK_DEFAULTS: dict[str, dict[str, Any]] = {
    "augment": {"noise_std": 0.2},
    "optim": {"name": "adam", "lr": 0.01, "weight_decay": 0.0},
    "schedule": {"name": "constant"},
    "train": {"epochs": 100, "patience": 10, "monitor": "val_loss"},
    "data": {"batch_size": 128},
}
# What ``--set`` may change: the members fix the model and the data split.
SETTABLE = ("augment.noise_std", "augment.label_smoothing", "optim.", "schedule.", "train.")
SETTABLE_DATA = ("data.batch_size", "data.eval_batch_size", "data.num_workers", "data.on_device")


class StackError(UserError):
    """Runs that cannot be stacked, and why."""


@dataclass
class StackResult:
    """What ``stack_runs`` did; ``to_dict()`` is the content of ``stacking.json``."""

    run_id: str
    status: str  # "finished" | "diverged"
    message: str
    classes: list[str]
    # per member: id, name, model, val_acc, test_acc (None without a test split), contribution
    members: list[dict[str, Any]]
    # the ensemble: val_loss, val_acc, test_loss, test_acc, best_epoch
    ensemble: dict[str, Any]
    # seed 000's heatmap: members x classes, each class's column summing to 1
    per_class: list[list[float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------- members


def check_members(store: RunStore, refs: Sequence[str]) -> list[dict[str, Any]]:
    """The member runs' documents, or a StackError saying why they cannot be stacked."""
    if len(refs) < 2:
        raise StackError(
            f"a stacked ensemble needs at least 2 finished runs, got {len(refs)}; "
            "list them with `resnet-tui runs list`"
        )
    docs: list[dict[str, Any]] = []
    for ref in refs:
        run_id = store.resolve(ref)
        if any(d["id"] == run_id for d in docs):
            raise StackError(f"run {run_id} is given twice; each member counts once")
        docs.append(store.get(run_id))
    for doc in docs:
        label = f"run {doc['id']} ({doc.get('name', '')})"
        if doc.get("model") == STACKED_MODEL:
            raise StackError(f"{label} is itself a stacked ensemble; stack its members instead")
        if doc.get("status") != "finished":
            raise StackError(
                f"{label} is {doc.get('status')}, not finished; only finished runs can be "
                "stacked (resume it with `resnet-tui train --resume` and stack it when done)"
            )
        if not (store.run_dir(doc["id"]) / BEST_CHECKPOINT).is_file():
            raise StackError(
                f"{label} has no {BEST_CHECKPOINT} in {store.run_dir(doc['id'])}; "
                "stack runs whose best checkpoint is still there"
            )
    first = docs[0]
    for doc in docs[1:]:
        a, b = first.get("config", {}).get("data", {}), doc.get("config", {}).get("data", {})
        for key in SPLIT_KEYS:
            if a.get(key) != b.get(key):
                raise StackError(
                    f"runs {first['id']} and {doc['id']} were trained on different data "
                    f"(data.{key} {a.get(key)!r} vs {b.get(key)!r}); members must share the "
                    "dataset, its split and its classes"
                )
        if first.get("classes") and doc.get("classes") and first["classes"] != doc["classes"]:
            raise StackError(
                f"runs {first['id']} and {doc['id']} have different classes "
                f"({_short(first['classes'])} vs {_short(doc['classes'])}); members must "
                "share the dataset, its split and its classes"
            )
    return docs


def _short(items: Sequence[Any], n: int = 5) -> str:
    head = ", ".join(map(str, items[:n]))
    return head + (f", ... ({len(items)})" if len(items) > n else "")


def stack_config(members: Sequence[dict[str, Any]], sets: Sequence[str] = ()) -> RunConfig:
    """The stacked run's config: the members' data, the meta-classifier recipe, ``sets``."""
    first = from_dict(members[0]["config"])
    base = {
        "model": {"name": STACKED_MODEL},
        "data": first.to_dict()["data"],
        "train": {"device": first.train.device, "threads": first.train.threads},
    }
    flat: dict[str, Any] = {}
    for text in sets:
        key, value = parse_override(text)
        if not (key.startswith(SETTABLE) or key in SETTABLE_DATA):
            raise ConfigError(
                f"--set {key}: a stacked ensemble takes its model and data split from its "
                "members; it accepts augment.noise_std, augment.label_smoothing, optim.*, "
                f"schedule.*, train.* and {', '.join(SETTABLE_DATA)}",
                key,
            )
        flat[key] = value
    merged = deep_merge(deep_merge(base, STACK_DEFAULTS), nest(flat))
    try:
        config = from_dict(merged)
    except ConfigError as exc:
        raise ConfigError(f"--set {exc}" if exc.key in flat else str(exc), exc.key) from exc
    if config.data.val_fraction <= 0:
        raise StackError(
            "the members have no validation split (data.val_fraction = 0): the stacked "
            "ensemble early-stops on val; stack runs trained with data.val_fraction > 0"
        )
    return config


@dataclass
class CachedLogits:
    """Every member's logits on every split, computed once."""

    classes: list[str]
    logits: dict[str, Tensor]  # split -> [K, N, C] float32 on the device
    labels: dict[str, Tensor]  # split -> [N] long on the device

    def inputs(self, split: str) -> Tensor:
        """[N, K * C]: member 0's C logits, then member 1's, ... (the layer's input order)."""
        k, n, c = self.logits[split].shape
        return self.logits[split].permute(1, 0, 2).reshape(n, k * c)

    def member_acc(self, split: str) -> list[float]:
        if split not in self.logits or not len(self.labels[split]):
            return []
        hits = self.logits[split].argmax(-1) == self.labels[split]
        return hits.float().mean(1).tolist()


def member_logits(
    store: RunStore, members: Sequence[dict[str, Any]], config: RunConfig, device: torch.device
) -> CachedLogits:
    """Each member's best.pt in eval mode over the un-augmented train/val/test splits."""
    from engine.checkpoint import load_checkpoint
    from engine.data import BatchAugment, load_dataset
    from engine.data.augment import output_size
    from engine.models import create_model
    from engine.models.transfer import no_imagenet_weights

    bundle = load_dataset(config.data, device)
    classes = list(bundle.classes)
    splits = {"train": bundle.train, "val": bundle.val}
    if bundle.test is not None:
        splits["test"] = bundle.test
    per_split: dict[str, list[Tensor]] = {s: [] for s in splits}
    labels: dict[str, Tensor] = {}
    try:
        for doc in members:
            path = store.run_dir(doc["id"]) / BEST_CHECKPOINT
            state = load_checkpoint(path)
            if list(state.get("classes", [])) != classes:
                raise StackError(
                    f"run {doc['id']} was trained on classes {_short(state.get('classes', []))}"
                    f" but {config.data.name} now has {_short(classes)}; the dataset changed "
                    "since it was trained"
                )
            member = from_dict(state["config"])
            size = output_size(member.augment, bundle.info.image_size)
            with no_imagenet_weights():  # the checkpoint holds the weights
                model = create_model(member.model, bundle.info.channels, len(classes), size)
            weights = ema_weights(state.get("ema")) or state["model"]
            try:
                model.load_state_dict(weights)
            except RuntimeError as exc:
                raise CheckpointError(
                    f"checkpoint {path} does not fit its own config ({str(exc).splitlines()[0]})"
                ) from exc
            model.to(device).eval()
            augment = BatchAugment(member.augment, bundle.mean, bundle.std, len(classes))
            with torch.no_grad():
                for split, source in splits.items():
                    outs, ys = [], []
                    for xb, yb in source.batches(
                        config.data.eval_batch_size, shuffle=False, generator=None
                    ):
                        outs.append(model(augment.eval(xb)).float())
                        ys.append(yb.long())
                    empty = torch.empty(0, len(classes), device=device)
                    per_split[split].append(torch.cat(outs) if outs else empty)
                    nothing = torch.empty(0, dtype=torch.long, device=device)
                    labels.setdefault(split, torch.cat(ys) if ys else nothing)
            del model
    finally:
        for source in splits.values():
            close = getattr(source, "close", None)
            if close is not None:
                close()
    logits = {s: torch.stack(v).to(device) for s, v in per_split.items()}
    return CachedLogits(classes, logits, {s: y.to(device) for s, y in labels.items()})


def ema_weights(ema: Any) -> dict[str, Tensor] | None:
    """The EMA's model weights from a checkpoint's ``ema`` entry (the trainer evaluated and
    kept the EMA when there is one): ``{"module": state_dict, ...}``, or AveragedModel's
    ``module.``-prefixed state dict."""
    if not isinstance(ema, dict):
        return None
    if isinstance(ema.get("module"), dict):
        return dict(ema["module"])
    prefixed = {k.removeprefix("module."): v for k, v in ema.items() if k.startswith("module.")}
    return prefixed or None


# ---------------------------------------------------------------- the meta-classifier


def average_init(layer: nn.Linear, k: int, c: int) -> None:
    """weight = [I/K, ..., I/K], bias = 0: the layer starts as the members' mean logits."""
    with torch.no_grad():
        eye = torch.eye(c, device=layer.weight.device) / k
        layer.weight.copy_(eye.repeat(1, k))
        layer.bias.zero_()


def contributions(weight: Tensor, k: int, c: int) -> tuple[list[float], list[list[float]]]:
    """Seed 000's analysis of the stacking layer's weight [C, K * C].

    Per member and class, the weight from the member's logit of that class to the ensemble's
    logit of the same class (the diagonal of its C x C block); each class's K weights are
    normalised to sum to 1 (negative weights count as 0; a class with none positive is split
    evenly), and a member's contribution is its average share over the classes.
    Returns (per member [K], per member and class [K][C]).
    """
    w = weight.detach().float().cpu().view(c, k, c)  # [out class, member, in class]
    idx = torch.arange(c)
    diag = w[idx, :, idx].clamp(min=0)  # [class, member]
    sums = diag.sum(1, keepdim=True)
    shares = torch.where(sums > 0, diag / sums.clamp(min=1e-12), torch.full_like(diag, 1 / k))
    return shares.mean(0).tolist(), shares.T.tolist()


def _evaluate(layer: nn.Module, x: Tensor, y: Tensor, c: int) -> dict[str, Any]:
    with torch.no_grad():
        out = layer(x) if len(x) else torch.empty(0, c, device=x.device)
        loss = float(F.cross_entropy(out, y, reduction="sum")) / max(len(y), 1)
        matrix = torch.bincount(y * c + out.argmax(1), minlength=c * c).view(c, c).cpu()
    return {
        "loss": loss,
        "acc": float(matrix.diag().sum()) / max(len(y), 1),
        "confusion": matrix.tolist(),
    }


Callback = Callable[[Any], None]


def fit_stack(
    cached: CachedLogits,
    config: RunConfig,
    callback: Callback = lambda _e: None,
    checkpoint_dir: Path | None = None,
    extra_state: dict[str, Any] | None = None,
) -> tuple[nn.Linear, Any]:
    """Train the stacking layer; emits the trainer's events (FitStarted, EpochDone, FitDone).

    Returns the layer holding its best weights and the final FitDone (best, test, confusion).
    """
    from engine.checkpoint import FORMAT_VERSION, save_checkpoint
    from engine.optim import LRSchedule, build_optimizer
    from engine.trainer import EpochDone, FitDone, FitStarted

    k, _, c = cached.logits["train"].shape
    device = cached.logits["train"].device
    tc, bs = config.train, config.data.batch_size
    x_train, y_train = cached.inputs("train"), cached.labels["train"]
    x_val, y_val = cached.inputs("val"), cached.labels["val"]
    n = len(y_train)
    steps = max(1, math.ceil(n / bs))
    torch.manual_seed(tc.seed)
    layer = nn.Linear(k * c, c).to(device)
    average_init(layer, k, c)
    optimizer = build_optimizer(layer, config.optim)
    schedule = LRSchedule(optimizer, config.schedule, config.optim.lr, tc.epochs, steps)
    generator = torch.Generator(device=device).manual_seed(tc.seed)
    noise, smoothing = config.augment.noise_std, config.augment.label_smoothing
    params = sum(p.numel() for p in layer.parameters())
    callback(FitStarted(tc.epochs, 0, steps, params, str(device), cached.classes, n, len(y_val)))

    best: dict[str, float] = {}
    best_epoch, bad_epochs = 0, 0
    best_state = {key: v.clone() for key, v in layer.state_dict().items()}
    best_confusion: list[list[int]] = []
    done: Any = None

    def checkpoint(name: str, epoch: int) -> None:
        if checkpoint_dir is None:
            return
        state = {
            "format_version": FORMAT_VERSION,
            "kind": STACKED_MODEL,
            "config": config.to_dict(),
            "classes": cached.classes,
            "params": params,
            "epoch": epoch,
            "model": best_state if name == BEST_CHECKPOINT else layer.state_dict(),
            "best": dict(best),
            "best_epoch": best_epoch,
            **(extra_state or {}),
        }
        save_checkpoint(state, checkpoint_dir / name)

    for epoch in range(tc.epochs):
        start = time.perf_counter()
        layer.train()
        order = torch.randperm(n, generator=generator, device=device)
        loss_sum, correct = torch.zeros((), device=device), torch.zeros((), device=device)
        lr = schedule.apply(epoch, 0)
        for step in range(steps):
            lr = schedule.apply(epoch, step)
            idx = order[step * bs : (step + 1) * bs]
            x, y = x_train[idx], y_train[idx]
            if noise > 0:
                x = x + noise * torch.randn(x.shape, generator=generator, device=device)
            out = layer(x)
            loss = F.cross_entropy(out, y, label_smoothing=smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.optim.grad_clip > 0:
                nn.utils.clip_grad_norm_(layer.parameters(), config.optim.grad_clip)
            optimizer.step()
            loss_sum += loss.detach() * len(y)
            correct += (out.argmax(1) == y).sum()
        layer.eval()
        val = _evaluate(layer, x_val, y_val, c)
        seconds = time.perf_counter() - start
        metrics = {
            "train_loss": float(loss_sum) / max(n, 1),
            "train_acc": float(correct) / max(n, 1),
            "val_loss": val["loss"],
            "val_acc": val["acc"],
            "lr": lr,
            "seconds": seconds,
            "images_per_s": n / seconds if seconds > 0 else 0.0,
            "epoch": epoch + 1,
        }
        if not all(math.isfinite(metrics[key]) for key in ("train_loss", "val_loss")):
            done = FitDone(
                "diverged",
                f"the loss became {metrics['train_loss']} at epoch {epoch + 1}; lower optim.lr "
                f"(--set optim.lr=...); the best epoch ({best_epoch}) is kept",
                epoch + 1,
            )
            callback(EpochDone(epoch + 1, metrics, best_epoch, False))
            break
        schedule.end_epoch(val["loss"])
        key = tc.monitor
        improved = not best or (
            metrics[key] > best[key] if key == "val_acc" else metrics[key] < best[key]
        )
        if improved:
            best = {m: metrics[m] for m in BEST_KEYS}
            best_epoch, bad_epochs = epoch + 1, 0
            best_state = {name: v.detach().clone() for name, v in layer.state_dict().items()}
            best_confusion = val["confusion"]
            checkpoint(BEST_CHECKPOINT, epoch + 1)
        else:
            bad_epochs += 1
        checkpoint("last.pt", epoch + 1)
        callback(EpochDone(epoch + 1, metrics, best_epoch, improved))
        if tc.patience and bad_epochs >= tc.patience:
            done = FitDone(
                "finished",
                f"early stopping at epoch {epoch + 1}: no improvement of {key} for "
                f"{tc.patience} epochs",
                epoch + 1,
            )
            break
    if done is None:
        done = FitDone("finished", f"trained {tc.epochs} epochs", tc.epochs)

    layer.load_state_dict(best_state)
    layer.eval()
    confusion: dict[str, Any] = {"classes": cached.classes}
    test: dict[str, float] = {}
    if best_epoch:
        confusion["val"] = {"epoch": best_epoch, "matrix": best_confusion}
    if "test" in cached.logits and len(cached.labels["test"]) and best_epoch:
        result = _evaluate(layer, cached.inputs("test"), cached.labels["test"], c)
        test = {"test_loss": result["loss"], "test_acc": result["acc"]}
        confusion["test"] = {"epoch": best_epoch, "matrix": result["confusion"]}
        matrix = torch.tensor(result["confusion"], dtype=torch.float)
        per_class = (matrix.diag() / matrix.sum(1).clamp(min=1)).tolist()
        confusion["per_class_acc"] = dict(zip(cached.classes, per_class, strict=True))
    final = FitDone(
        done.status, done.message, done.epoch, dict(best, best_epoch=best_epoch), test, confusion
    )
    callback(final)
    return layer, final


# ---------------------------------------------------------------- the whole command


def stack_runs(
    store: RunStore,
    refs: Sequence[str],
    *,
    name: str = "",
    sets: Sequence[str] = (),
    on_event: Callback | None = None,
) -> StackResult:
    """Stack finished runs into a new run of model ``stacked``; returns what it found.

    Everything that can be refused (members, ``sets``, unreadable checkpoints, a changed
    dataset) is refused before the run is created. ``on_event`` receives the trainer's
    events (FitStarted, EpochDone, FitDone) as the stacking layer trains.
    """
    from engine.runner import RunLog, write_json_atomic
    from engine.store import now_iso
    from engine.trainer import EpochDone, FitDone, pick_device

    members = check_members(store, refs)
    config = stack_config(members, sets)
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    device = pick_device(config.train.device)
    cached = member_logits(store, members, config, device)
    member_ids = [m["id"] for m in members]
    doc = store.create_run(
        config.to_dict(), name=name or STACKED_MODEL, extra={"members": member_ids}
    )
    run_id = doc["id"]
    run_dir = store.run_dir(run_id)
    log = RunLog(run_dir / "train.log")
    k, c = len(members), len(cached.classes)
    store.set_status(
        run_id,
        "running",
        pid=os.getpid(),
        device=str(device),
        params=k * c * c + c,
        classes=cached.classes,
    )
    log(f"stacking {k} runs: {', '.join(member_ids)}")

    history: list[dict[str, float]] = []

    def handle(event: Any) -> None:
        if isinstance(event, EpochDone):
            m = event.metrics
            store.append_metrics(
                run_id, {"kind": "epoch", **m, "best_epoch": event.best_epoch, "time": now_iso()}
            )
            history.append(m)
            best = {}
            if event.best_epoch:
                chosen = history[event.best_epoch - 1]
                best = {key: chosen[key] for key in BEST_KEYS} | {"best_epoch": event.best_epoch}
            last = {key: round(v, 6) for key, v in m.items()}
            store.update(run_id, epoch=event.epoch, best=best, last=last)
            log(
                f"epoch {event.epoch}/{config.train.epochs} train_loss {m['train_loss']:.4f} "
                f"val_loss {m['val_loss']:.4f} val_acc {m['val_acc']:.4f}"
                + (" *" if event.improved else "")
            )
        elif isinstance(event, FitDone) and event.confusion:
            write_json_atomic(run_dir / CONFUSION_FILE, event.confusion)
        if on_event is not None:
            on_event(event)

    try:
        layer, done = fit_stack(cached, config, handle, run_dir, {"members": member_ids})
        per_model, per_class = contributions(layer.weight, k, c)
        val_acc, test_acc = cached.member_acc("val"), cached.member_acc("test")
        rows = [
            {
                "id": m["id"],
                "name": m.get("name", ""),
                "model": m.get("model", ""),
                "val_acc": val_acc[i],
                "test_acc": test_acc[i] if test_acc else None,
                "contribution": per_model[i],
            }
            for i, m in enumerate(members)
        ]
        ensemble = {**done.best, **done.test}
        result = StackResult(
            run_id, done.status, done.message, cached.classes, rows, ensemble, per_class
        )
        write_json_atomic(run_dir / STACKING_FILE, result.to_dict())
        log(f"{done.status}: {done.message}")
        store.set_status(
            run_id, done.status, done.message, epoch=done.epoch, best=done.best, test=done.test
        )
        return result
    except BaseException as exc:
        reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{exc!r}"
        log(f"failed: {reason}")
        store.set_status(
            run_id, "failed", f"{reason}; stack the runs again with `resnet-tui stack`"
        )
        raise


def read_stacking(store: RunStore, run_id: str) -> dict[str, Any]:
    """A stacked run's ``stacking.json`` (StackResult.to_dict()), for tables and heatmaps."""
    import json

    from engine.errors import StoreError

    path = store.run_dir(run_id) / STACKING_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError(
            f"run {run_id} has no {STACKING_FILE}: it is not a finished stacked ensemble"
        ) from None
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise StoreError(f"{path} does not hold a stacking report")
    return data
