"""The Optuna side of a sweep: its storage and study, creating or joining a sweep, the study's
trials from every machine, and the registry check of swept names.

A sweep is a document (``engine.sweep.docs``) plus an Optuna study of the same name, kept in
any Optuna storage (default: the journal file ``runs/sweeps/<name>.journal``). Imports optuna.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend, JournalRedisBackend

from engine.errors import StoreError
from engine.provenance import command_line
from engine.store import RunStore
from engine.sweep.docs import (
    default_storage,
    existing_sweep,
    get_sweep,
    now,
    sweep_path,
    sweep_storage,
    write_doc,
)
from engine.sweep.spec import Param, SweepSpec


def create_sweep(store: RunStore, spec: SweepSpec, storage: str = "") -> dict[str, Any]:
    """Record the sweep and create its study; the same request again finds the same sweep
    (``existing_sweep``)."""
    doc = existing_sweep(store, spec, storage)
    if doc is not None:
        return doc
    storage = storage or default_storage(store, spec.name)
    doc = {
        "id": spec.name,
        "name": spec.name,
        "kind": "sweep",
        "mode": spec.mode,
        "preset": spec.preset,
        "spec": spec.to_dict(),
        "storage": storage,
        "status": "queued",
        "pid": None,
        "host": None,
        "created": now(),
        "started": None,
        "finished": None,
        "message": "",
        "command": command_line(),  # its trials' provenance says what the user ran
    }
    write_doc(store, doc)
    try:
        open_study(spec, storage)  # create it now: --join and the TUI find it
    except BaseException:
        sweep_path(store, spec.name).unlink(missing_ok=True)
        raise
    return doc


def join_sweep(store: RunStore, name: str, storage: str) -> dict[str, Any]:
    """This run store as one more worker of the study ``name`` in ``storage``."""
    study = load_study(name, storage)
    data = study.user_attrs.get("sweep")
    if not isinstance(data, dict):
        raise StoreError(f"study '{name}' in {storage} was not made by `resnet-tui sweep`")
    spec = SweepSpec.from_dict(data)
    return create_sweep(store, spec, storage)


def open_storage(url: str) -> Any:
    """An Optuna storage: a journal file (a path), ``redis://`` (journal) or an RDB URL."""
    if url.startswith(("redis://", "rediss://")):
        return JournalStorage(JournalRedisBackend(url))
    if "://" in url:
        try:
            return optuna.storages.RDBStorage(url)
        except Exception as exc:  # a driver missing, a server unreachable
            raise StoreError(f"--storage {url}: {str(exc).splitlines()[0]}") from exc
    path = Path(url)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"--storage {url}: cannot create its folder ({exc})") from exc
    return JournalStorage(JournalFileBackend(str(path)))


def _quiet_optuna() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def load_study(name: str, storage: str) -> optuna.Study:
    _quiet_optuna()
    try:
        return optuna.load_study(study_name=name, storage=open_storage(storage))
    except KeyError:
        raise StoreError(f"no study '{name}' in {storage}") from None


def open_study(spec: SweepSpec, storage: str) -> optuna.Study:
    """Create or load the study; refuse one that another request made."""
    _quiet_optuna()
    backend = open_storage(storage)
    # A grid's trials all come from the study's queue (enqueue_trial), so its sampler never
    # picks a value; a search samples with TPE.
    sampler: optuna.samplers.BaseSampler = (
        optuna.samplers.RandomSampler(seed=spec.seed)
        if spec.mode == "grid"
        else optuna.samplers.TPESampler(seed=spec.seed)
    )
    pruner: optuna.pruners.BasePruner = (
        optuna.pruners.MedianPruner(n_startup_trials=spec.prune_startup, n_warmup_steps=0)
        if spec.prune
        else optuna.pruners.NopPruner()
    )
    study = optuna.create_study(
        storage=backend,
        study_name=spec.name,
        direction="maximize",
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )
    stored = study.user_attrs.get("sweep")
    if stored is None:
        study.set_user_attr("sweep", spec.to_dict())
    elif SweepSpec.from_dict(stored).request() != spec.request():
        raise StoreError(
            f"the study '{spec.name}' in {storage} belongs to another sweep definition"
        )
    if spec.mode == "search":
        # A restarted TPE must not replay the random draws of the previous process.
        study.sampler = optuna.samplers.TPESampler(seed=spec.seed + len(study.trials))
    return study


def study_trials(store: RunStore, name: str) -> list[dict[str, Any]]:
    """Every trial of the sweep's study, from every machine that works on it (the tables
    above list this run store's trials only)."""
    doc = get_sweep(store, name)
    study = load_study(name, sweep_storage(store, doc))
    return [
        {
            "trial": t.number,
            "state": t.state.name.lower(),
            "params": dict(t.params),
            "value": t.value,
            "worker": t.user_attrs.get("worker"),
            "run": t.user_attrs.get("run_id"),
        }
        for t in study.get_trials(deepcopy=False)
        if not t.user_attrs.get("abandoned")
    ]


def distribution(param: Param) -> optuna.distributions.BaseDistribution:
    """The Optuna distribution a swept key is sampled from."""
    if param.kind in ("grid", "choice"):
        return optuna.distributions.CategoricalDistribution(list(param.values))
    if param.kind == "int":
        return optuna.distributions.IntDistribution(int(param.low), int(param.high), log=param.log)
    return optuna.distributions.FloatDistribution(
        float(param.low), float(param.high), log=param.log
    )


def distributions(spec: SweepSpec) -> dict[str, optuna.distributions.BaseDistribution]:
    return {p.key: distribution(p) for p in spec.params}
