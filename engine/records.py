"""The typed records of the run store: what a run, its best epoch, its test result and its place
in a sweep, an ablation or a stack are, in one module; and the answers of the checks before a
run (``RunCheck``, ``ModelSummary``), which travel as JSON like the rest.

The store keeps JSON documents (``index.json``, each run's ``run.json``); ``RunRecord.from_json``
is where ``dict[str, Any]`` stops. Every front-end and every engine module that reads runs
reads these records, so a field means the same thing everywhere.

Schema versions (``schema`` in a document; absent means 1):

- 1 (stores written before this module): a run's sweep, ablation and stack fields lie flat in
  the document (``sweep`` the sweep's name, ``trial``, ``sweep_params``, ``pruned``,
  ``pruned_message``, ``former_sweep``; ``group`` and ``ablation`` the removed component;
  ``members``).
- 2: they are one object each (``sweep``, ``ablation``, ``stack``), and ``schema`` is 2.

``from_json`` reads both (field by field, so a version-1 document that a newer process has
since updated reads right too); ``to_json`` writes version 2.

**Best.** A run's ``best`` is the epoch its kept checkpoint (best.pt) comes from, chosen by
``train.monitor``, and every number of it is from that same epoch. A table that wants the
highest value of a curve over all epochs says so ("max val acc"): ``max_over_epochs``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict

from engine.sysload import SAMPLE_KIND, SysLine

SCHEMA = 2
ACTIVE = ("queued", "running")
BEST_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc")
STACKED_MODEL = "stacked"  # the model of a stacked ensemble's run (engine.stacking)
GROUP_PREFIX = "ablate-"  # the name of every ablation group starts with it


def _number(value: Any) -> float | None:
    """A finite float, or None (missing, a bool, NaN: a diverged run's loss)."""
    kind = type(value)
    if kind is float:  # the common case first: a store of 10,000 runs reads 100,000 of these
        return value if math.isfinite(value) else None
    if kind is int:
        return float(value)
    if kind is bool or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _numbers(data: Any) -> dict[str, float]:
    if not isinstance(data, Mapping):
        return {}
    return {str(k): n for k, v in data.items() if (n := _number(v)) is not None}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _tags(value: Any) -> tuple[str, ...]:
    return tuple(str(t) for t in value if isinstance(t, str)) if isinstance(value, list) else ()


@dataclass(frozen=True)
class EpochStats:
    """One epoch's train/val numbers (a run's ``best``: its kept checkpoint's epoch)."""

    epoch: int | None  # None: a document that did not say (written by hand or by a tool)
    train_loss: float | None = None
    train_acc: float | None = None
    val_loss: float | None = None
    val_acc: float | None = None

    @classmethod
    def from_json(cls, data: Any) -> EpochStats | None:
        """``{"val_acc": ..., "best_epoch": N, ...}`` (a run's ``best``), None when empty."""
        if not isinstance(data, Mapping):
            return None
        epoch = _integer(data.get("best_epoch", data.get("epoch"))) or None
        values = [_number(data.get(k)) for k in BEST_KEYS]
        if epoch is None and all(v is None for v in values):
            return None
        return cls(epoch, *values)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            k: getattr(self, k) for k in BEST_KEYS if getattr(self, k) is not None
        }
        out["best_epoch"] = self.epoch
        return out


@dataclass(frozen=True)
class TestStats:
    """The test split's loss and accuracy, measured once with the best epoch's weights."""

    loss: float | None = None
    acc: float | None = None
    ece: float | None = None  # expected calibration error (engine.calibration), a fraction

    @classmethod
    def from_json(cls, data: Any) -> TestStats | None:
        if not isinstance(data, Mapping) or not data:
            return None
        get = data.get
        stats = cls(_number(get("test_loss")), _number(get("test_acc")), _number(get("test_ece")))
        return stats if stats.loss is not None or stats.acc is not None else None

    def to_json(self) -> dict[str, Any]:
        out = {"test_loss": self.loss, "test_acc": self.acc, "test_ece": self.ece}
        return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True)
class SweepLink:
    """A run that is a trial of a sweep (``name``), or was one (``former``: the sweep was
    deleted and its trials kept as ordinary runs)."""

    name: str | None
    trial: int | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    pruned: bool = False  # the sweep stopped it as hopeless
    pruned_message: str = ""
    former: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trial": self.trial,
            "params": dict(self.params),
            "pruned": self.pruned,
            "pruned_message": self.pruned_message,
            "former": self.former,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> SweepLink | None:
        link = doc.get("sweep")
        if isinstance(link, Mapping):  # version 2
            return cls(
                _text(link.get("name")),
                _integer(link.get("trial")),
                dict(link.get("params") or {}),
                bool(link.get("pruned")),
                str(link.get("pruned_message") or ""),
                _text(link.get("former")),
            )
        name, former = _text(link), _text(doc.get("former_sweep"))
        if name is None and former is None:
            return None
        return cls(  # version 1: flat fields
            name,
            _integer(doc.get("trial")),
            dict(doc.get("sweep_params") or {}),
            bool(doc.get("pruned")),
            str(doc.get("pruned_message") or ""),
            former,
        )


@dataclass(frozen=True)
class AblationLink:
    """A run of an ablation group: ``removed`` is "base" or the component it lacks."""

    group: str
    removed: str

    def to_json(self) -> dict[str, Any]:
        return {"group": self.group, "removed": self.removed}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> AblationLink | None:
        link = doc.get("ablation")
        if isinstance(link, Mapping):  # version 2
            group = _text(link.get("group"))
            return cls(group, str(link.get("removed") or "?")) if group else None
        group = _text(doc.get("group"))  # version 1
        return cls(group, str(link or "?")) if group else None


@dataclass(frozen=True)
class StackLink:
    """A stacked ensemble's member runs, in the order of the stacking layer's input."""

    members: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"members": list(self.members)}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> StackLink | None:
        link = doc.get("stack")
        members = link.get("members") if isinstance(link, Mapping) else doc.get("members")
        if not isinstance(members, list) or not members:
            return None
        return cls(tuple(str(m) for m in members))


@dataclass(frozen=True)
class RunRecord:
    """One run as the store knows it."""

    id: str
    name: str
    status: str
    preset: str = ""
    config: Mapping[str, Any] = field(default_factory=dict)  # {section: {key: value}}
    message: str = ""
    created: str | None = None
    started: str | None = None
    finished: str | None = None
    pid: int | None = None
    pid_start: int | None = None
    host: str | None = None
    device: str | None = None
    params: int | None = None  # trainable parameters
    epoch: int = 0  # epochs done
    epochs: int | None = None  # epochs planned (train.epochs)
    model: str = ""
    dataset: str = ""
    best: EpochStats | None = None
    test: TestStats | None = None
    last: Mapping[str, float] = field(default_factory=dict)  # the last epoch's metrics
    elapsed_s: float | None = None  # training time over every session, at the last write
    elapsed_before: float | None = None  # ... before the live session started
    session_started: str | None = None
    classes: tuple[str, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)  # what the trainer made of the data
    sweep: SweepLink | None = None
    ablation: AblationLink | None = None
    stack: StackLink | None = None
    # The user's own marks (``runs note|tag|archive|pin``); the trainer never writes them.
    note: str = ""
    tags: tuple[str, ...] = ()
    archived: bool = False  # hidden from the default lists and views, never deleted
    pinned: bool = False  # kept on top; the baseline in Compare
    provenance: Mapping[str, Any] = field(default_factory=dict)  # engine.provenance
    schema: int = SCHEMA
    # Not stored: the name that was asked for, when the store gave another (a clash).
    name_taken: str | None = None

    # ------------------------------------------------------------ JSON

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> RunRecord:
        """The record of a run document of any schema version (see the module docstring)."""
        config = doc.get("config")
        config = config if isinstance(config, Mapping) else {}
        classes = doc.get("classes")
        return cls(
            id=str(doc["id"]),
            name=str(doc.get("name") or doc["id"]),
            status=str(doc.get("status") or "failed"),
            preset=str(doc.get("preset") or ""),
            config=config,
            message=str(doc.get("message") or ""),
            created=_text(doc.get("created")),
            started=_text(doc.get("started")),
            finished=_text(doc.get("finished")),
            pid=_integer(doc.get("pid")),
            pid_start=_integer(doc.get("pid_start")),
            host=_text(doc.get("host")),
            device=_text(doc.get("device")),
            params=_integer(doc.get("params")),
            epoch=_integer(doc.get("epoch")) or 0,
            epochs=_integer(doc.get("epochs")),
            model=str(doc.get("model") or config.get("model", {}).get("name") or ""),
            dataset=str(doc.get("dataset") or config.get("data", {}).get("name") or ""),
            best=EpochStats.from_json(doc.get("best")),
            test=TestStats.from_json(doc.get("test")),
            last=_numbers(doc.get("last")),
            elapsed_s=_number(doc.get("elapsed_s")),
            elapsed_before=_number(doc.get("elapsed_before")),
            session_started=_text(doc.get("session_started")),
            classes=tuple(str(c) for c in classes) if isinstance(classes, list) else (),
            data=doc["data"] if isinstance(doc.get("data"), Mapping) else {},
            sweep=SweepLink.from_json(doc),
            ablation=AblationLink.from_json(doc),
            stack=StackLink.from_json(doc),
            note=str(doc.get("note") or ""),
            tags=_tags(doc.get("tags")),
            archived=doc.get("archived") is True,
            pinned=doc.get("pinned") is True,
            provenance=doc["provenance"] if isinstance(doc.get("provenance"), Mapping) else {},
            schema=_integer(doc.get("schema")) or 1,
            name_taken=_text(doc.get("name_taken")),
        )

    def to_json(self) -> dict[str, Any]:
        """The version-2 document (``name_taken`` is not stored)."""
        return {
            "id": self.id,
            "schema": SCHEMA,
            "name": self.name,
            "preset": self.preset,
            "config": dict(self.config),
            "status": self.status,
            "message": self.message,
            "pid": self.pid,
            "pid_start": self.pid_start,
            "host": self.host,
            "device": self.device,
            "created": self.created,
            "started": self.started,
            "finished": self.finished,
            "params": self.params,
            "epoch": self.epoch,
            "epochs": self.epochs,
            "model": self.model,
            "dataset": self.dataset,
            "best": self.best.to_json() if self.best else {},
            "test": self.test.to_json() if self.test else {},
            "last": dict(self.last),
            "elapsed_s": self.elapsed_s,
            "elapsed_before": self.elapsed_before,
            "session_started": self.session_started,
            "classes": list(self.classes),
            "data": dict(self.data),
            "sweep": self.sweep.to_json() if self.sweep else None,
            "ablation": self.ablation.to_json() if self.ablation else None,
            "stack": self.stack.to_json() if self.stack else None,
            "note": self.note,
            "tags": list(self.tags),
            "archived": self.archived,
            "pinned": self.pinned,
            "provenance": dict(self.provenance),
        }

    # ------------------------------------------------------------ derived

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def owner(self) -> dict[str, Any]:
        """The process that trains it, as ``engine.procs.is_alive`` reads one."""
        return {"pid": self.pid, "host": self.host, "pid_start": self.pid_start}

    @property
    def is_stacked(self) -> bool:
        """A stacked ensemble: its model is a stacking layer over its members' outputs."""
        return self.model == STACKED_MODEL

    @property
    def ablation_group(self) -> str | None:
        """The ablation group the run is one of (None: it is not an ablation's run)."""
        link = self.ablation
        return link.group if link is not None and link.group.startswith(GROUP_PREFIX) else None

    @property
    def short_id(self) -> str:
        """The id's last 4 hex digits: what tells apart runs of one name in a narrow table."""
        return self.id[-4:]

    def duration(self, now: datetime | None = None) -> float | None:
        """Seconds of training over every session of the run; a running run's live session
        counts up to ``now``."""
        if self.status == "running" and self.session_started:
            try:
                began = datetime.fromisoformat(self.session_started)
            except ValueError:
                return self.elapsed_s
            current = now or datetime.now().astimezone()
            return (self.elapsed_before or 0.0) + max(0.0, (current - began).total_seconds())
        return self.elapsed_s


def max_over_epochs(epochs: Iterable[Mapping[str, Any]], key: str) -> float | None:
    """The highest (accuracies) or lowest (losses) value of ``key`` over a run's epoch lines:
    not an epoch of its own, so tables label it "max"/"min" beside ``best``."""
    values = [v for m in epochs if (v := _number(m.get(key))) is not None]
    if not values:
        return None
    return min(values) if key.endswith("loss") else max(values)


def stats_at(epochs: Iterable[Mapping[str, Any]], epoch: int) -> EpochStats | None:
    """Every train/val number of one epoch, from a run's epoch lines."""
    for m in epochs:
        if _integer(m.get("epoch")) == epoch:
            return EpochStats(epoch, *(_number(m.get(k)) for k in BEST_KEYS))
    return None


@dataclass(frozen=True)
class SweepRecord:
    """A sweep as its document (``runs/sweeps/<name>.json``) describes it; its trials are runs
    with a ``SweepLink``. ``spec`` is the sweep's definition (``engine.sweep.spec.SweepSpec``
    as JSON: what was swept, over what, how many trials)."""

    name: str
    status: str  # queued | running | stopped | incomplete | finished | crashed
    mode: str  # grid | search
    preset: str
    spec: Mapping[str, Any]
    storage: str  # where the Optuna study lives
    message: str = ""
    created: str | None = None
    started: str | None = None
    finished: str | None = None
    pid: int | None = None
    pid_start: int | None = None
    host: str | None = None
    parallel: int | None = None
    schema: int = SCHEMA

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> SweepRecord:
        spec = doc.get("spec")
        return cls(
            name=str(doc["name"]),
            status=str(doc.get("status") or "queued"),
            mode=str(doc.get("mode") or (spec or {}).get("mode") or ""),
            preset=str(doc.get("preset") or ""),
            spec=spec if isinstance(spec, Mapping) else {},
            storage=str(doc.get("storage") or ""),
            message=str(doc.get("message") or ""),
            created=_text(doc.get("created")),
            started=_text(doc.get("started")),
            finished=_text(doc.get("finished")),
            pid=_integer(doc.get("pid")),
            pid_start=_integer(doc.get("pid_start")),
            host=_text(doc.get("host")),
            parallel=_integer(doc.get("parallel")),
            schema=_integer(doc.get("schema")) or 1,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.name,
            "schema": SCHEMA,
            "name": self.name,
            "kind": "sweep",
            "mode": self.mode,
            "preset": self.preset,
            "spec": dict(self.spec),
            "storage": self.storage,
            "status": self.status,
            "pid": self.pid,
            "pid_start": self.pid_start,
            "host": self.host,
            "created": self.created,
            "started": self.started,
            "finished": self.finished,
            "message": self.message,
            "parallel": self.parallel,
        }

    @property
    def planned(self) -> int | None:
        """How many trials the sweep plans (a grid's size, a search's N)."""
        return _integer(self.spec.get("trials"))


# The fields of an epoch line that measure time (they differ between two runs that train
# exactly alike). ``seconds`` is the training steps with their data waits (images_per_s is
# over it); the rest split the epoch's wall time (engine.trainer._EpochCosts).
EPOCH_TIMES = (
    "seconds",
    "images_per_s",
    "data_s",
    "step_s",
    "eval_s",
    "store_s",
    "checkpoint_s",
    "other_s",
    "wall_s",
    "resumed_s",
    "max_memory_mb",
)


class EpochLine(TypedDict, total=False):
    """One line of a run's metrics.jsonl for an epoch (``kind`` "epoch")."""

    kind: str
    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float
    seconds: float
    images_per_s: float
    best_epoch: int
    time: str
    max_memory_mb: float
    data_s: float  # waiting for the next batch
    step_s: float  # training steps (seconds - data_s)
    eval_s: float  # the validation pass
    store_s: float  # the previous line's store write
    checkpoint_s: float  # the previous epoch's checkpoint
    other_s: float
    wall_s: float  # since the previous line
    resumed_s: float  # an epoch resumed mid-way: the interrupted session's training


class StepLine(TypedDict, total=False):
    """A sparse step line (``kind`` "step", every ``train.log_every`` steps)."""

    kind: str
    epoch: int
    step: int
    loss: float
    lr: float


@dataclass(frozen=True)
class RunMetrics:
    """A run's metrics.jsonl, split by kind (damaged lines skipped, said in ``warnings``);
    ``samples``: the machine's load (engine.sysload)."""

    epochs: list[EpochLine] = field(default_factory=list)
    steps: list[StepLine] = field(default_factory=list)
    warnings: tuple[str, ...] = ()
    samples: list[SysLine] = field(default_factory=list)

    @classmethod
    def from_lines(
        cls, lines: Iterable[Mapping[str, Any]], warnings: Iterable[str] = ()
    ) -> RunMetrics:
        epochs: list[EpochLine] = []
        steps: list[StepLine] = []
        samples: list[SysLine] = []
        for line in lines:
            kind = line.get("kind", "epoch")
            if kind == "epoch" and _integer(line.get("epoch")) is not None:
                epochs.append(EpochLine(**line))  # type: ignore[typeddict-item]
            elif kind == "step":
                steps.append(StepLine(**line))  # type: ignore[typeddict-item]
            elif kind == SAMPLE_KIND:
                samples.append(SysLine(**line))  # type: ignore[typeddict-item]
        return cls(epochs, steps, tuple(warnings), samples)


@dataclass(frozen=True)
class ConfusionMatrix:
    epoch: int | None  # the weights' epoch (the best one)
    matrix: list[list[int]]  # rows: true class, columns: predicted class


@dataclass(frozen=True)
class Confusion:
    """A run's confusion.json: val and test matrices at the best epoch, with class names."""

    classes: tuple[str, ...]
    val: ConfusionMatrix | None = None
    test: ConfusionMatrix | None = None
    per_class_acc: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any) -> Confusion:
        """Raises ValueError when ``data`` is not a confusion report."""
        if not isinstance(data, Mapping) or not isinstance(data.get("classes"), list):
            raise ValueError("no class list")

        def matrix(split: str) -> ConfusionMatrix | None:
            entry = data.get(split)
            if not isinstance(entry, Mapping) or not isinstance(entry.get("matrix"), list):
                return None
            return ConfusionMatrix(_integer(entry.get("epoch")), entry["matrix"])

        return cls(
            tuple(str(c) for c in data["classes"]),
            matrix("val"),
            matrix("test"),
            _numbers(data.get("per_class_acc")),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"classes": list(self.classes)}
        for split in ("val", "test"):
            m = getattr(self, split)
            if m is not None:
                out[split] = {"epoch": m.epoch, "matrix": m.matrix}
        if self.per_class_acc:
            out["per_class_acc"] = dict(self.per_class_acc)
        return out
