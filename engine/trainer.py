"""The training loop: plain functions and one ``fit`` that reports plain dataclass events.

No printing, no UI and no run store here: ``engine.runner`` turns the events into store
writes and the CLI/TUI render them. Every random choice of an epoch is seeded from
``(train.seed, epoch)``, so a run resumed from a checkpoint replays exactly what an
uninterrupted run would have done.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from engine import ddp, ddp_env, evaluation
from engine.checkpoint import FORMAT_VERSION, load_checkpoint, save_checkpoint
from engine.checkpoint_writer import CheckpointWriter
from engine.config import RunConfig
from engine.data import DataBundle, load_dataset
from engine.data.augment import BatchAugment
from engine.device import autocast_dtype, pick_device
from engine.ema import EMA, unwrap
from engine.errors import CheckpointError, ConfigError
from engine.events import Callback, EpochDone, FitDone, FitStarted, StepDone
from engine.faults import fault_point
from engine.models import count_params
from engine.models.build import build_model
from engine.optim import LRSchedule, build_optimizer, optimizer_info
from engine.timing import EpochCosts, WaitClock


def _epoch_seed(seed: int, epoch: int, salt: int) -> int:
    return (seed * 1_000_003 + epoch * 7919 + salt) % (2**63 - 1)


# ---------------------------------------------------------------- the trainer


class Trainer:
    """Everything a run needs, built from a RunConfig; ``fit`` runs it."""

    def __init__(
        self,
        config: RunConfig,
        *,
        bundle: DataBundle | None = None,
        distributed: bool | None = None,
    ) -> None:
        """``distributed``: join torchrun's process group (None: when this process is a rank
        started by ``engine.launch``)."""
        self.config = c = config
        if c.train.threads:
            torch.set_num_threads(c.train.threads)
        if c.train.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        torch.manual_seed(c.train.seed)
        self.device = pick_device(c.train.device)
        self.dist: ddp.DistContext | None = None
        if distributed or (distributed is None and ddp_env.in_worker()):
            self.dist = ddp.setup(self.device)
            self.device = self.dist.device
        optimizer_info(c.optim.name)  # refuse an unknown optimizer before loading data
        self.bundle = bundle or load_dataset(c.data, self.device)
        self.classes = list(self.bundle.classes)
        built = build_model(c, self.bundle.info, num_classes=len(self.classes))
        self.model: nn.Module = built.model
        self.input_size = built.input_size  # the side the model sees, after resize and crop
        self.params = count_params(self.model)
        self.channels_last = c.train.channels_last == "on" or (
            c.train.channels_last == "auto" and self.device.type == "cuda"
        )
        self.model.to(self.device)
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.autocast = autocast_dtype(c.train.amp, self.device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.autocast == torch.float16)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = not c.train.deterministic
        lr_scale = getattr(self.model, "lr_scale", None)
        self.optimizer = build_optimizer(self.model, c.optim, lr_scale)
        self.augment = BatchAugment(c.augment, self.bundle.mean, self.bundle.std, len(self.classes))
        init_from_data = getattr(self.model, "init_from_data", None)
        if init_from_data is not None:  # e.g. airbench's patch-whitening first layer
            sample, _ = next(iter(self.bundle.train.batches(5000, shuffle=False)))
            init_from_data(self.augment.eval(sample))
        self.steps_per_epoch = self.bundle.train.num_batches(c.data.batch_size, True)
        if self.steps_per_epoch < 1:
            raise ConfigError(
                f"data.batch_size: {c.data.batch_size} is larger than the {len(self.bundle.train)} "
                "training images; use a smaller batch",
                "data.batch_size",
            )
        if self.dist is not None:
            ddp_env.check_global_batch(c.data.batch_size, self.dist.world_size)
        self.schedule = LRSchedule(
            self.optimizer, c.schedule, c.optim.lr, c.train.epochs, self.steps_per_epoch
        )
        self.ema: EMA | None = EMA(self.model, c.train.ema_decay) if c.train.ema else None
        self.step_fn = self._train_step
        if self.dist is not None:
            self.model = ddp.wrap_model(self.model, self.dist)
        if c.train.compile and self.device.type == "cuda":
            self.model = torch.compile(self.model)  # type: ignore[assignment]
        # progress state, all saved in checkpoints
        self.epoch = 0  # completed epochs
        self.best: dict[str, float] = {}
        self.best_epoch = 0
        self.bad_epochs = 0
        self.history: list[dict[str, float]] = []
        self.position: dict[str, Any] | None = None  # inside an interrupted epoch
        self.best_confusion: list[list[int]] | None = None
        self.checkpoints = CheckpointWriter(
            c.train.checkpoint_async == "on"
            or (c.train.checkpoint_async == "auto" and self.device.type == "cuda")
        )

    # -------------------------------------------------------- one step, one epoch

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast)

    def _train_step(
        self, x: torch.Tensor, y_a: torch.Tensor, y_b: torch.Tensor, lam: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        smoothing = self.config.augment.label_smoothing
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with self._autocast():
            logits = self.model(x)
            loss = F.cross_entropy(logits, y_a, label_smoothing=smoothing)
            if lam < 1.0:
                loss = lam * loss + (1 - lam) * F.cross_entropy(
                    logits, y_b, label_smoothing=smoothing
                )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.config.optim.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.optim.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.ema is not None:
            self.ema.update(self.model)
        return loss.detach(), logits.detach()

    def _generators(self, epoch: int) -> tuple[torch.Generator, torch.Generator]:
        seed = self.config.train.seed
        # Every rank draws the same order (each takes its shard of every batch) but its own
        # augmentations and dropout; rank 0 draws what a single process draws.
        salt = 3 * self.dist.rank if self.dist is not None else 0
        torch.manual_seed(_epoch_seed(seed, epoch, 0 + salt))  # dropout and other global draws
        order = torch.Generator().manual_seed(_epoch_seed(seed, epoch, 1))
        aug = torch.Generator(device=self.device).manual_seed(_epoch_seed(seed, epoch, 2 + salt))
        return order, aug

    def train_one_epoch(
        self,
        epoch: int,
        on_step: Callable[[StepDone], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        position: dict[str, Any] | None = None,
    ) -> dict[str, float]:
        """Train 0-based ``epoch``; returns train_loss, train_acc, lr, seconds, images_per_s.

        Loss and accuracy accumulate on the device and are read once at the end. When
        ``should_stop()`` turns true the current step finishes and ``_Interrupted`` carries
        the position inside the epoch, from which ``position`` later continues exactly.
        """
        c = self.config
        self.model.train()
        if c.model.freeze_backbone:  # a fixed feature extractor keeps its BN statistics
            from engine.models import backbone_norms_eval

            backbone_norms_eval(unwrap(self.model))
        order, aug = self._generators(epoch)
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        seen, first, spent = 0, 0, 0.0
        data_wait = WaitClock()  # seconds blocked on the next batch
        if position:
            first, seen, spent = int(position["step"]), int(position["seen"]), position["seconds"]
            data_wait.seconds = float(position.get("data_s", 0.0))
            mine = self._rank_position(position)
            if mine is not None:  # this rank's own sums and random states: an exact resume
                loss_sum += float(mine["loss_sum"])
                correct += int(mine["correct"])
                seen = int(mine["seen"])
                self._set_rng_state(mine, aug)
            else:
                loss_sum += float(position["loss_sum"])
                correct += int(position["correct"])
                if self.dist is not None and not self.dist.is_main:
                    # an older checkpoint with rank 0's states only: the position holds the
                    # sums of all ranks (rank 0 carries them on), every rank takes rank 0's
                    # random states
                    loss_sum.zero_()
                    correct.zero_()
                    seen = 0
                self._set_rng_state(position, aug)
        steps = self.steps_per_epoch
        lr = self.schedule.apply(epoch, first)
        host_seed = self._host_seeds(epoch)
        start = time.perf_counter()
        batches = self.bundle.train.batches(
            c.data.batch_size, shuffle=True, generator=order, drop_last=True, **self._shard()
        )
        for step, (xb, yb) in enumerate(data_wait.timed(batches)):
            if step < first:
                continue  # already trained before the interruption
            lr = self.schedule.apply(epoch, step)
            mixed = self.augment.train(xb, yb, aug, host_seed(step))
            loss, logits = self.step_fn(mixed.x, mixed.y_a, mixed.y_b, mixed.lam)
            n = yb.shape[0]
            loss_sum += loss.float() * n
            correct += (logits.argmax(1) == mixed.y_a).sum()
            seen += n
            if on_step is not None:
                log = c.train.log_every and (step + 1) % c.train.log_every == 0
                on_step(
                    StepDone(
                        epoch + 1,
                        step + 1,
                        steps,
                        float(loss) if log else None,
                        lr if log else None,
                        seen,
                        spent + time.perf_counter() - start,
                    )
                )
            if should_stop() and step + 1 < steps:
                rng = self._rng_state(aug)
                mine = {"loss_sum": float(loss_sum), "correct": int(correct), "seen": seen}
                loss_sum, correct, seen = self._sum_over_ranks(loss_sum, correct, seen)
                position = {
                    "epoch": epoch,
                    "step": step + 1,
                    "seen": seen,  # the sums over all ranks
                    "seconds": spent + time.perf_counter() - start,
                    "data_s": data_wait.seconds,
                    "loss_sum": float(loss_sum),
                    "correct": int(correct),
                    **rng,  # rank 0's random states (what a single process stores)
                }
                if self.dist is not None:  # every rank's own sums and states, by rank
                    position["ranks"] = ddp.gather_to_main(self.dist, {**mine, **rng})
                raise _Interrupted(position)
        seconds = spent + time.perf_counter() - start
        loss_sum, correct, seen = self._sum_over_ranks(loss_sum, correct, seen)
        return {
            "train_loss": float(loss_sum) / max(seen, 1),
            "train_acc": int(correct) / max(seen, 1),
            "lr": lr,
            "seconds": seconds,
            "images_per_s": seen / seconds if seconds > 0 else 0.0,
            "data_s": data_wait.seconds,
            "step_s": max(seconds - data_wait.seconds, 0.0),
            **({"resumed_s": spent} if position else {}),  # the interrupted session's part
            **self._memory_stats(),
        }

    def _host_seeds(self, epoch: int) -> Callable[[int], int | None]:
        """Per step, the seed of the batch-level mixup/cutmix draws on the host (a pure function
        of seed, epoch, rank and step, so a resumed epoch needs no extra state), or None: on the
        CPU they come from the augmentation generator, as they always have."""
        if self.device.type == "cpu":
            return lambda step: None
        salt = 3 * self.dist.rank if self.dist is not None else 0
        base = _epoch_seed(self.config.train.seed, epoch, 4 + salt)
        return lambda step: (base * 1_000_003 + step) % (2**63 - 1)

    def _rng_state(self, aug: torch.Generator) -> dict[str, torch.Tensor]:
        """The random states a resumed epoch continues from: the augmentation generator, the
        global CPU generator (dropout on the CPU) and, on CUDA, the device's (dropout there)."""
        state = {"aug_rng": aug.get_state().cpu(), "cpu_rng": torch.get_rng_state()}
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return state

    def _set_rng_state(self, state: dict[str, Any], aug: torch.Generator) -> None:
        aug.set_state(state["aug_rng"].to(aug.get_state().device))
        torch.set_rng_state(state["cpu_rng"])
        if "cuda_rng" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)

    def _rank_position(self, position: dict[str, Any]) -> dict[str, Any] | None:
        """This rank's entry of a distributed position (its sums and random states), or None
        for a single process or a checkpoint written before positions were kept per rank."""
        ranks = position.get("ranks")
        if self.dist is None or not isinstance(ranks, list):
            return None
        if len(ranks) != self.dist.world_size:
            return None
        return dict(ranks[self.dist.rank])

    def _memory_stats(self) -> dict[str, float]:
        """Peak device memory of the epoch (CUDA only; the Monitor shows it)."""
        if self.device.type != "cuda":
            return {}
        peak = torch.cuda.max_memory_allocated(self.device) / 2**20
        torch.cuda.reset_peak_memory_stats(self.device)
        return {"max_memory_mb": peak}

    def evaluate(
        self, source: Any, model: nn.Module | None = None, keep: bool = False
    ) -> dict[str, Any]:
        """Loss, accuracy and the confusion matrix (rows: true class) over a whole split
        (``keep``: and every sample's prediction, ``engine.evaluation.evaluate``)."""
        return evaluation.evaluate(self, source, model, keep)

    @property
    def eval_model(self) -> nn.Module:
        if self.ema is not None:
            return self.ema.module
        # DDP's forward syncs buffers across ranks; evaluation runs each rank's shard alone
        return unwrap(self.model) if self.dist is not None else self.model

    # -------------------------------------------------------- several processes (DDP)

    def _shard(self) -> dict[str, Any]:
        """``shard=(rank, world)`` for ``batches`` in a distributed run: each rank takes its
        slice of every (global) batch."""
        return {"shard": self.dist.shard} if self.dist is not None else {}

    def _sum_over_ranks(
        self, loss_sum: torch.Tensor, correct: torch.Tensor, seen: int
    ) -> tuple[torch.Tensor, torch.Tensor, int]:
        """The epoch's sums over all ranks (unchanged in a single process)."""
        if self.dist is None:
            return loss_sum, correct, seen
        total_loss, total_correct, total_seen = ddp.all_reduce_sum(
            self.dist, loss_sum, correct, torch.tensor(float(seen))
        )
        return total_loss, total_correct.round().long(), int(total_seen.item())

    # -------------------------------------------------------- checkpoints

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "config": self.config.to_dict(),
            "classes": self.classes,
            "params": self.params,
            "epoch": self.epoch,
            "model": unwrap(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
            "best": dict(self.best),
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "history": list(self.history),
            "position": self.position,
            "rng": {"cpu": torch.get_rng_state()},
        }
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        if self.device.type == "cuda":
            state["rng"]["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        unwrap(self.model).load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None and "ema" in state:
            self.ema.load_state_dict(state["ema"])
        self.epoch = int(state["epoch"])
        self.best = {k: float(v) for k, v in state["best"].items()}
        self.best_epoch = int(state["best_epoch"])
        self.bad_epochs = int(state["bad_epochs"])
        self.history = [dict(h) for h in state["history"]]
        self.position = state.get("position")
        torch.set_rng_state(state["rng"]["cpu"])

    def save(self, path: Path) -> None:
        save_checkpoint(self.state_dict(), path)

    def resume_from(self, path: Path) -> None:
        state = load_checkpoint(path, expect_config=self.config.to_dict())
        try:
            self.load_state_dict(state)
        except (RuntimeError, KeyError, ValueError, TypeError, AttributeError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise CheckpointError(
                f"checkpoint {path} does not fit this run's model or optimizer ({first[:200]})"
            ) from exc

    # -------------------------------------------------------- fit

    def _improved(self, metrics: dict[str, float]) -> bool:
        key = self.config.train.monitor
        if not self.best:
            return True
        if key == "val_acc":
            return metrics[key] > self.best[key]
        return metrics[key] < self.best[key]

    def fit(
        self,
        callback: Callback = lambda _e: None,
        *,
        checkpoint_dir: Path | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> FitDone:
        try:
            return self._fit(callback, checkpoint_dir, should_stop)
        except BaseException:
            self.checkpoints.close()  # the write in flight still lands (its line is stored)
            raise

    def _fit(
        self, callback: Callback, checkpoint_dir: Path | None, should_stop: Callable[[], bool]
    ) -> FitDone:
        c = self.config
        if self.dist is not None:  # all ranks stop after the same step
            should_stop = ddp.agree(self.dist, should_stop)
        callback(
            FitStarted(
                c.train.epochs,
                self.epoch,
                self.steps_per_epoch,
                self.params,
                str(self.device),
                self.classes,
                len(self.bundle.train),
                len(self.bundle.val),
                tuple(self.bundle.notes),
            )
        )
        done: FitDone | None = None
        costs = EpochCosts()
        while self.epoch < c.train.epochs:
            epoch = self.epoch
            if fault_point("epoch") == "nan":  # fault injection (tests): make the loss diverge
                with torch.no_grad():
                    next(self.model.parameters()).fill_(float("nan"))
            try:
                metrics = self.train_one_epoch(epoch, callback, should_stop, self.position)
            except _Interrupted as stop:
                self.position = stop.position
                if checkpoint_dir is not None:  # now: the stop is said once it is on disk
                    self.checkpoints.write(self.state_dict(), [checkpoint_dir / "last.pt"], True)
                done = FitDone(
                    "stopped",
                    f"stopped at step {stop.position['step']} of epoch "
                    f"{epoch + 1}; resume continues from there",
                    epoch,
                )
                break
            self.position = None
            started_eval = time.perf_counter()
            val = self.evaluate(self.bundle.val)
            metrics.update(val_loss=val["loss"], val_acc=val["acc"], epoch=epoch + 1)
            metrics["eval_s"] = time.perf_counter() - started_eval
            metrics.update(costs.line(metrics))
            self.epoch = epoch + 1
            if not all(math.isfinite(metrics[k]) for k in ("train_loss", "val_loss")):
                done = FitDone(
                    "diverged",
                    f"the loss became {metrics['train_loss']} at epoch "
                    f"{epoch + 1}; lower optim.lr or set optim.grad_clip; the best "
                    f"checkpoint (epoch {self.best_epoch}) is kept",
                    epoch + 1,
                )
                self.history.append(metrics)
                callback(EpochDone(epoch + 1, metrics, self.best_epoch, False))
                break
            self.schedule.end_epoch(metrics["val_loss"])
            improved = self._improved(metrics)
            if improved:
                self.best = {
                    k: metrics[k] for k in ("train_loss", "train_acc", "val_loss", "val_acc")
                }
                self.best_epoch = epoch + 1
                self.bad_epochs = 0
                self.best_confusion = val["confusion"]
            else:
                self.bad_epochs += 1
            self.history.append(metrics)
            # The epoch's metrics line is written before its checkpoint: a crash between them
            # resumes from the previous checkpoint, which drops that line and replays the
            # epoch. The other order would lose the line for good. So the time the line's
            # store write and the checkpoint take is counted in the next epoch's line.
            with costs.timing("store_s"):
                callback(EpochDone(epoch + 1, metrics, self.best_epoch, improved))
            with costs.timing("checkpoint_s"):  # with async writes: the copy (and a wait)
                if checkpoint_dir is not None:
                    paths = [checkpoint_dir / "best.pt"] if improved else []
                    self.checkpoints.write(self.state_dict(), [*paths, checkpoint_dir / "last.pt"])
            if c.train.patience and self.bad_epochs >= c.train.patience:
                done = FitDone(
                    "finished",
                    f"early stopping at epoch {epoch + 1}: no improvement "
                    f"of {c.train.monitor} for {c.train.patience} epochs",
                    epoch + 1,
                )
                break
            if should_stop() and self.epoch < c.train.epochs:
                done = FitDone("stopped", f"stopped after epoch {epoch + 1}", epoch + 1)
                break
        self.checkpoints.wait()  # on disk before the run is said stopped, finished or tested
        if done is None:
            done = FitDone(
                "finished",
                f"trained {self.epoch} epoch{'s' if self.epoch != 1 else ''}",
                self.epoch,
            )
        if done.status == "stopped":
            callback(done)
            return done
        return self._finish(done, checkpoint_dir, callback)

    def _finish(self, done: FitDone, checkpoint_dir: Path | None, callback: Callback) -> FitDone:
        final = evaluation.finish(self, done, checkpoint_dir)
        callback(final)
        return final


class _Interrupted(Exception):
    def __init__(self, position: dict[str, Any]) -> None:
        super().__init__(position["step"])
        self.position = position
