"""Stacked ensembles (seed 000): which runs can be stacked, the stacked run's config, and its
report; torch-free, so the console plans and starts a stack in its own process.

A stacked ensemble is a linear layer over the concatenated logits of finished runs (its
"members"), trained by ``engine.stacking.fit``. It is a run like any other (model ``stacked``,
its members in ``stack.members`` of its record, metrics.jsonl, best/test stats, confusion.json,
best.pt/last.pt) plus ``stacking.json``: each member's val/test accuracy beside the
ensemble's and seed 000's contribution analysis (per model and per class).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from engine import provenance
from engine.config import RunConfig, deep_merge, from_dict, nest, parse_override
from engine.errors import ConfigError, StoreError, UserError
from engine.records import SCHEMA, STACKED_MODEL, StackLink
from engine.store import BEST_CHECKPOINT, RunStore

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

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StackResult:
        """The report from its stacking.json (StoreError when it is not one)."""
        try:
            return cls(
                run_id=str(data["run_id"]),
                status=str(data["status"]),
                message=str(data.get("message", "")),
                classes=[str(c) for c in data.get("classes") or []],
                members=[dict(m) for m in data.get("members") or []],
                ensemble=dict(data.get("ensemble") or {}),
                per_class=[list(row) for row in data.get("per_class") or []],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"not a stacking report ({exc})") from exc


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
                f"({short(first['classes'])} vs {short(doc['classes'])}); members must "
                "share the dataset, its split and its classes"
            )
    return docs


def short(items: Sequence[Any], n: int = 5) -> str:
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


def stack_members(doc: dict[str, Any]) -> tuple[str, ...]:
    """The member run ids of a stacked run's document (either schema)."""
    link = StackLink.from_json(doc)
    return link.members if link is not None else ()


def create_stacked_run(
    store: RunStore, members: Sequence[dict[str, Any]], config: RunConfig, name: str = ""
) -> dict[str, Any]:
    """Record the stacked run (queued), its members with it; returns its document."""
    fields, diff = provenance.collect()
    link = StackLink(tuple(m["id"] for m in members))
    doc = store.create_run(
        config.to_dict(),
        name=name or STACKED_MODEL,
        extra={"schema": SCHEMA, "stack": link.to_json(), "provenance": fields},
    )
    return provenance.record_diff(store, doc, diff)


def read_stacking(store: RunStore, run_id: str) -> dict[str, Any]:
    """A stacked run's ``stacking.json`` (StackResult.to_dict()), for tables and heatmaps."""
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
