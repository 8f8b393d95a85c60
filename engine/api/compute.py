"""The engine API's verbs that need torch (or Optuna): the checks before a run, training in
this process, model summaries, starting sweeps and ablations, stacking in the foreground, the
catalog of registries.

The CLI calls these in its own process. The console never imports this module: its helper
process (``engine.api.helper``) calls them for it and answers in JSON, so a request is
checked by the same code, with the same words, whichever front-end sent it.

Each verb imports what it needs when it is called (torch costs seconds): importing this
module is cheap, and a verb that needs no torch (``run_sweep``, ``create_sweep``: Optuna)
never loads it, so continuing a sweep starts at once.

The events ``train`` and ``run_sweep`` report through ``on_event`` (plain dataclasses) and
``stack``'s report are named here too, so that the CLI, which renders them, names them
through the API.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.ablation import groups as ablation_groups
from engine.answers import ModelSummary, RunCheck
from engine.api.experiments import existing_sweep, plan_sweep
from engine.api.runs import RunPlan, get_run, plan_run
from engine.api.types import (
    AblationRequest,
    Launched,
    RunRequest,
    StackRequest,
    SweepRequest,
)
from engine.catalog import (
    AugmentationEntry,
    Catalog,
    DatasetEntry,
    FieldEntry,
    ModelEntry,
    OptimizerEntry,
    ScheduleEntry,
    shown,
)
from engine.config import OWN_DATASETS, RunConfig, field_infos, from_dict, type_name
from engine.config.augmentations import list_augmentations
from engine.events import EpochDone, Event, FitDone, FitStarted, StepDone
from engine.pictures import PictureGrid, Tile
from engine.presets import resolve
from engine.records import RunRecord, SweepRecord
from engine.stacking.plan import StackResult
from engine.store import RunStore
from engine.sweep import docs as sweep_docs
from engine.sweep.analysis import Importance
from engine.sweep.events import (
    SweepEnded,
    SweepEvent,
    TrialEnded,
    TrialEpoch,
    TrialPruned,
    TrialStarted,
)
from engine.sweep.spec import SweepSpec


def catalog() -> Catalog:
    """Every registry (models, datasets, optimizers, schedules, augmentations) and the config
    field metadata, for forms and help (imports the registries: torch)."""
    from engine.data import list_datasets
    from engine.models import list_models
    from engine.optim import list_optimizers, list_schedules

    optimizers = tuple(
        OptimizerEntry(o.name, o.description, o.keys, o.always) for o in list_optimizers()
    )
    schedules = tuple(
        ScheduleEntry(s.name, s.description, s.keys, s.always) for s in list_schedules()
    )
    readers: dict[str, tuple[OptimizerEntry, ...] | tuple[ScheduleEntry, ...]] = {
        "optim": optimizers,
        "schedule": schedules,
    }
    fields = tuple(
        FieldEntry(
            key=info.key,
            section=info.section,
            name=info.name,
            type=type_name(info.type),
            accepts=info.describe(),
            default=info.default,
            help=info.help,
            min=info.min,
            min_exclusive=info.min_exclusive,
            max=info.max,
            max_exclusive=info.max_exclusive,
            choices=info.choices,
            registry=info.registry,
            used_by=(
                tuple(e.name for e in readers[info.section] if info.name in shown(e))
                if info.section in readers
                else None
            ),
        )
        for info in field_infos()
    )
    return Catalog(
        models=tuple(
            ModelEntry(m.name, m.description, m.family, m.fields, dict(m.defaults))
            for m in list_models()
        ),
        datasets=tuple(
            DatasetEntry(
                d.name,
                d.description,
                d.channels,
                d.image_size,
                d.num_classes,
                d.classes,
                d.has_test_split,
                d.in_memory,
                d.train_images,
            )
            for d in list_datasets()
        ),
        optimizers=optimizers,
        schedules=schedules,
        augmentations=tuple(
            AugmentationEntry(a.name, a.label, a.description, a.keys, dict(a.switches), a.params)
            for a in list_augmentations()
        ),
        fields=fields,
    )


# ---------------------------------------------------------------- runs


def check_run(request: RunRequest | RunPlan, store_root: str | Path | None = None) -> RunCheck:
    """``plan_run`` and then what needs torch: the registry names, the model built for the
    data, the data itself (downloaded when allowed), the batch against the training split,
    the device and the disk of the store. Raises every problem it can find at once."""
    from engine import checks

    plan = plan_run(request) if isinstance(request, RunRequest) else request
    return checks.check_config(plan.config, store_root)


def train(
    store: RunStore,
    run_id: str,
    *,
    nnodes: int = 1,
    rdzv_endpoint: str = "",
    on_event: Callable[[Event], None] | None = None,
) -> RunRecord:
    """Train a created (or resumable) run in this process; over torchrun when its config asks
    for several processes or the call for several machines. ``on_event`` receives the
    trainer's events (a single process only; torchrun's rank 0 writes the store)."""
    record = get_run(store, run_id)
    devices = int(record.config.get("train", {}).get("devices", 1))
    if devices > 1 or nnodes > 1 or rdzv_endpoint:
        from engine.launch import launch

        doc = launch(store, run_id, devices, nnodes, rdzv_endpoint)
    else:
        from engine.runner import execute

        doc = execute(store, run_id, on_event)
    return RunRecord.from_json(doc)


def model_summary(request: RunRequest, layers: bool = True) -> ModelSummary:
    """The model a run request describes, built for its dataset's shape (no data is read):
    its size and, with ``layers``, its layer table (torchinfo: a forward pass, slower; the
    console's live count as a form is typed leaves it out)."""
    from engine.models import count_params, summary
    from engine.models.build import build_model

    plan = plan_run(request)
    built = build_model(plan.config)
    return ModelSummary(
        text=summary(built.model, built.in_chans, built.input_size) if layers else "",
        params=count_params(built.model),
        total_params=count_params(built.model, trainable_only=False),
        channels=built.in_chans,
        size=built.input_size,
        num_classes=built.num_classes,
        dataset=plan.config.data.name,
    )


def bench_loader(
    request: RunRequest, workers: str, on_line: Callable[[dict[str, Any]], None]
) -> list[dict[str, Any]]:
    """Seed 003's Table 2 for a run request: one timed epoch of its train split per
    ``num_workers`` value ("0,2,4,8"). ``on_line`` receives ``{"setup": {...}}`` once the data
    is read, then each row as soon as it is measured (``engine.loader_bench.stream``); the rows
    are returned too."""
    from engine.loader_bench import parse_workers, stream

    counts = parse_workers(workers)  # refused before torch reads any data
    plan = plan_run(request)
    rows: list[dict[str, Any]] = []

    def line(data: dict[str, Any]) -> None:
        if "setup" not in data:
            rows.append(data)
        on_line(data)

    stream(plan.config, plan.preset, counts, line)
    return rows


# ---------------------------------------------------------------- pictures


def preview(
    request: RunRequest | RunPlan,
    augmented: bool = False,
    seed: int = 0,
    per_class: int = 6,
) -> PictureGrid:
    """A grid of ``per_class`` training images of each class as the model would see them,
    plain or through the request's augmentations (mixup/cutmix mixing tiles of the grid, the
    captions saying with what); the trainer's own data pipeline, on the CPU. Refuses what
    ``plan_run`` refuses and data that is not there (a DataError)."""
    from engine.preview import preview_grid

    plan = plan_run(request) if isinstance(request, RunRequest) else request
    return preview_grid(plan.config, augmented, seed, per_class)


def sample_images(store: RunStore, run_ref: str, split: str, indices: Sequence[int]) -> list[Tile]:
    """The images of a run's ``split`` (``test``: the order of its predictions) at
    ``indices``, as its evaluation saw them; each tile carries its index."""
    from engine.config import from_dict
    from engine.preview import split_tiles

    record = get_run(store, run_ref)
    return split_tiles(from_dict(record.config), split, [int(i) for i in indices])


# ---------------------------------------------------------------- sweeps


def check_sweep(store: RunStore, request: SweepRequest) -> SweepSpec:
    """``plan_sweep`` and the registry names it sweeps; a new sweep's preset must also train
    here (its data, model and device: ``check_run``). A sweep recorded already with the same
    request is not checked again: starting it continues it."""
    spec = plan_sweep(request)
    if existing_sweep(store, spec) is None:
        from engine import checks

        checks.check_sweep_names(spec)
        checks.check_config(from_dict(spec.base), store.root)
    return spec


def create_sweep(store: RunStore, spec: SweepSpec, storage: str = "") -> SweepRecord:
    """Record the sweep and create its Optuna study (the same request finds the same sweep)."""
    from engine.sweep import study

    return SweepRecord.from_json(study.create_sweep(store, spec, storage))


def start_sweep(store: RunStore, request: SweepRequest) -> tuple[SweepRecord, Launched]:
    """Check, record and start a sweep in a detached process (its own session)."""
    spec = check_sweep(store, request)
    sweep = create_sweep(store, spec, request.storage)
    pid = sweep_docs.launch_sweep_detached(store, sweep.name, request.parallel)
    return sweep, Launched(
        sweep.name, pid, log=str(sweep_docs.sweep_path(store, sweep.name, ".log"))
    )


def join_sweep(store: RunStore, name: str, storage: str) -> SweepRecord:
    """This run store as one more worker of another machine's sweep study."""
    from engine.sweep import study

    return SweepRecord.from_json(study.join_sweep(store, name, storage))


def run_sweep(
    store: RunStore,
    name: str,
    *,
    parallel: int | None = None,
    on_event: Callable[[SweepEvent], None] | None = None,
) -> SweepRecord:
    """Drive a sweep in this process until its trials end (or a stop is asked for)."""
    from engine.sweep import driver

    return SweepRecord.from_json(
        driver.run_sweep(store, name, parallel=parallel, on_event=on_event)
    )


def sweep_importance(store: RunStore, ref: str) -> Importance:
    """How much each swept key explains the sweep's val accuracy (Optuna's fANOVA, seeded):
    over its study's complete trials (a search) or its finished trial runs (a grid). Fewer
    than 2 finished trials, or keys that took one value: ``Importance.message`` says so."""
    from engine.sweep import importance

    return importance.sweep_importance(store, sweep_docs.resolve_sweep(store, ref))


def study_trials(store: RunStore, name: str) -> list[dict[str, Any]]:
    """Every trial of a sweep's study, from every machine that works on it."""
    from engine.sweep import study

    return study.study_trials(store, name)


# ---------------------------------------------------------------- ablations


@dataclass(frozen=True)
class AblationPlan:
    """The runs of an ablation: the base (``removed`` "base") and one per component."""

    runs: tuple[ablation_groups.PlannedRun, ...]
    preset: str
    name: str

    @property
    def removed(self) -> list[str]:
        return [r.ablation for r in self.runs]


def plan_ablation(request: AblationRequest) -> AblationPlan:
    """The base config and one variant per removed component, each built for the data, and
    the base config's data, device and disk checked; writes nothing."""
    from engine import checks
    from engine.ablation.plan import check_plan
    from engine.ablation.plan import plan_ablation as _plan_ablation

    config, preset = resolve(request.preset, list(request.sets))
    planned = _plan_ablation(config, list(request.remove))
    checks.check_config(config)
    check_plan(planned)
    return AblationPlan(tuple(planned), preset, request.name)


def create_ablation(store: RunStore, plan: AblationPlan) -> tuple[str, list[str]]:
    """Record the planned runs (queued) as one group; returns (group, run ids)."""
    return ablation_groups.create_ablation(store, plan.runs, preset=plan.preset, name=plan.name)


def start_ablation(store: RunStore, request: AblationRequest) -> Launched:
    """Check, record and start an ablation: its runs train one after another in a detached
    queue process."""
    group, run_ids = create_ablation(store, plan_ablation(request))
    pid = ablation_groups.launch_queue_detached(store, run_ids)
    return Launched(group, pid, tuple(run_ids), str(store.run_dir(run_ids[0]) / "queue.log"))


def run_ablation(
    store: RunStore,
    run_ids: Sequence[str],
    run_one: Callable[[str], RunRecord] | None = None,
    on_error: Callable[[str, BaseException], None] | None = None,
) -> list[RunRecord]:
    """Train queued runs one after another in this process (a stop stops the queue).
    ``run_one(run_id)`` trains one and returns its final record (a progress bar's; default:
    the trainer, quiet)."""
    from engine.ablation.queue import run_queue

    one = None if run_one is None else (lambda run_id: run_one(run_id).to_json())
    return [RunRecord.from_json(d) for d in run_queue(store, run_ids, one, on_error)]


# ---------------------------------------------------------------- stacked ensembles


def stack(
    store: RunStore, request: StackRequest, on_event: Callable[[Event], None] | None = None
) -> StackResult:
    """Stack finished runs in this process (everything that can be refused is refused
    before the stacked run exists)."""
    from engine.stacking.fit import stack_runs

    return stack_runs(
        store, list(request.members), name=request.name, sets=list(request.sets), on_event=on_event
    )


__all__ = [
    "AblationPlan",
    "EpochDone",
    "Event",
    "FitDone",
    "FitStarted",
    "ModelSummary",
    "RunCheck",
    "StackResult",
    "StepDone",
    "SweepEnded",
    "SweepEvent",
    "TrialEnded",
    "TrialEpoch",
    "TrialPruned",
    "TrialStarted",
    "bench_loader",
    "catalog",
    "check_run",
    "check_sweep",
    "create_ablation",
    "create_sweep",
    "join_sweep",
    "model_summary",
    "inspect_data",
    "inspect_request",
    "plan_ablation",
    "preview",
    "run_ablation",
    "sample_images",
    "run_sweep",
    "stack",
    "start_ablation",
    "start_sweep",
    "study_trials",
    "train",
]


def inspect_data(root: str, sets: Sequence[str] = ()) -> dict[str, Any]:
    """What a run would make of the image folder ``root`` (with ``data.*`` overrides):
    classes and counts per split, sizes, channels, imbalance, files skipped, the input size
    and the loading path. Reads headers only. A DataError when the folder cannot be used."""
    from engine.presets import resolve

    config, _ = resolve(None, ["data.name=imagefolder", f"data.root={root}", *sets])
    return inspect_request(config)


def inspect_request(request: RunRequest | RunPlan | RunConfig) -> dict[str, Any]:
    """``inspect_data`` for the data of a request (the Launch form's config)."""
    from engine.data.inspect import inspect_folder
    from engine.errors import ConfigError

    if isinstance(request, RunRequest):
        request = plan_run(request)
    config = request.config if isinstance(request, RunPlan) else request
    if config.data.name not in OWN_DATASETS:
        raise ConfigError(
            f"data.name is {config.data.name!r}: `data inspect` looks at your own images "
            "(data.name=imagefolder or csv)",
            "data.name",
        )
    return inspect_folder(config.data)
