"""Training a stacked ensemble (seed 000): each member's logits computed once (its best.pt in
eval mode, on the un-augmented train/val/test splits), then a linear meta-classifier
(K x C -> C) trained on the cached train logits with gaussian noise on its input,
early-stopped on val.

The linear layer starts as the plain average of the members' logits (weight = [I/K ... I/K]),
so training starts from the simple ensemble and the early stop never ends worse on val than
the best epoch it saw. ``stack_runs`` is the CLI's foreground stack (everything that can be
refused is refused before the run exists); ``train_stacked_run`` trains a stacked run that
``engine.api`` recorded (queued) for ``python -m engine.worker stack``.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.alerts import announce
from engine.checkpoint import FORMAT_VERSION, load_checkpoint, save_checkpoint
from engine.config import RunConfig, from_dict
from engine.data import BatchAugment, load_dataset
from engine.device import pick_device
from engine.errors import CheckpointError, UserError
from engine.events import EpochDone, FitDone, FitStarted
from engine.models.build import build_model
from engine.models.transfer import no_imagenet_weights
from engine.optim import LRSchedule, build_optimizer
from engine.runner import RunLog, write_json_atomic
from engine.stacking.plan import (
    BEST_KEYS,
    STACKED_MODEL,
    STACKING_FILE,
    StackError,
    StackResult,
    check_members,
    create_stacked_run,
    short,
    stack_config,
    stack_members,
)
from engine.store import BEST_CHECKPOINT, CONFUSION_FILE, RunStore, now_iso


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
                    f"run {doc['id']} was trained on classes {short(state.get('classes', []))}"
                    f" but {config.data.name} now has {short(classes)}; the dataset changed "
                    "since it was trained"
                )
            member = from_dict(state["config"])
            with no_imagenet_weights():  # the checkpoint holds the weights
                model = build_model(member, bundle.info, num_classes=len(classes)).model
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
        done = FitDone(
            "finished", f"trained {tc.epochs} epoch{'s' if tc.epochs != 1 else ''}", tc.epochs
        )

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


def stack_runs(
    store: RunStore,
    refs: Sequence[str],
    *,
    name: str = "",
    sets: Sequence[str] = (),
    on_event: Callback | None = None,
) -> StackResult:
    """Stack finished runs into a new run of model ``stacked``, in this process; returns what
    it found.

    Everything that can be refused (members, ``sets``, unreadable checkpoints, a changed
    dataset) is refused before the run is created. ``on_event`` receives the trainer's
    events (FitStarted, EpochDone, FitDone) as the stacking layer trains.
    """
    members = check_members(store, refs)
    config = stack_config(members, sets)
    device = _device(config)
    cached = member_logits(store, members, config, device)
    doc = create_stacked_run(store, members, config, name)
    return _train(store, doc["id"], members, config, cached, device, on_event)


def train_stacked_run(store: RunStore, run_id: str) -> dict[str, Any]:
    """Train the stacked run ``run_id`` that ``engine.api.start_stack`` recorded (queued, with
    its members); returns its final document. A member that cannot be read any more (deleted,
    its dataset changed) fails the run with a message saying why."""
    doc = store.get(run_id)
    refs = list(stack_members(doc))
    log = RunLog(store.run_dir(run_id) / "train.log")
    try:
        members = check_members(store, refs)
        config = from_dict(doc["config"])
        device = _device(config)
        cached = member_logits(store, members, config, device)
    except UserError as exc:
        log(f"failed: {exc}")
        store.set_status(run_id, "failed", f"{exc}; stack the runs again when that is fixed")
        raise
    _train(store, run_id, members, config, cached, device, None)
    return store.get(run_id)


def _device(config: RunConfig) -> torch.device:
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    return pick_device(config.train.device)


def _train(
    store: RunStore,
    run_id: str,
    members: Sequence[dict[str, Any]],
    config: RunConfig,
    cached: CachedLogits,
    device: torch.device,
    on_event: Callback | None,
) -> StackResult:
    """Fit the stacking layer of run ``run_id`` and record everything the run shows."""
    member_ids = [m["id"] for m in members]
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
        final = store.set_status(
            run_id, done.status, done.message, epoch=done.epoch, best=done.best, test=done.test
        )
        announce(store, final, log)
        return result
    except BaseException as exc:
        reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{exc!r}"
        log(f"failed: {reason}")
        failed = store.set_status(
            run_id, "failed", f"{reason}; stack the runs again with `resnet-tui stack`"
        )
        announce(store, failed, log)
        raise
