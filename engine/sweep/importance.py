"""A sweep's parameter importance: Optuna's ``get_param_importances`` (fANOVA, a fixed seed so
that the same trials always give the same numbers) over its finished trials.

A search whose Optuna study can be read uses the study's complete trials (every machine's, as
``--join`` adds them); otherwise (a grid, or a study that is gone) an in-memory study is made
from the trial runs of this store. Imports optuna (and, through fANOVA, scikit-learn) when
called: the CLI calls it in its own process, the console through its helper.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.store import RunStore
from engine.sweep.analysis import (
    Importance,
    LeftOut,
    ParamImportance,
    Scored,
    importance_refusal,
    split_trials,
    varying_keys,
)
from engine.sweep.docs import get_sweep, sweep_storage
from engine.sweep.report import trial_rows
from engine.sweep.spec import SweepSpec

if TYPE_CHECKING:
    import optuna

SEED = 0  # fANOVA's forest: the same trials always give the same importances


def sweep_importance(store: RunStore, name: str, *, use_study: bool = True) -> Importance:
    """The importance of each swept key for the sweep's val accuracy (``name``: resolved)."""
    doc = get_sweep(store, name)
    spec = SweepSpec.from_dict(doc["spec"])
    keys = spec.keys
    found = _from_study(store, doc, keys) if use_study and spec.mode == "search" else None
    if found is not None:
        scored, left, source = *found, "study"
    else:
        scored, left = split_trials(keys, trial_rows(store, name))
        source = "runs"
    message = importance_refusal(name, keys, scored)
    if message:
        params = tuple(ParamImportance(k, None) for k in keys)
        return Importance(name, len(scored), params, tuple(left), message, source)
    varying = varying_keys(keys, scored)
    shares = _fanova(spec, varying, scored)
    ranked = sorted(varying, key=lambda k: (-shares.get(k, 0.0), keys.index(k)))
    params = tuple(ParamImportance(k, shares.get(k, 0.0)) for k in ranked) + tuple(
        ParamImportance(k, None) for k in keys if k not in varying
    )
    return Importance(name, len(scored), params, tuple(left), "", source)


def _from_study(
    store: RunStore, doc: Mapping[str, Any], keys: Sequence[str]
) -> tuple[list[Scored], list[LeftOut]] | None:
    """The study's trials as (complete ones, the rest), or None when it cannot be read (a
    journal file that is not there is not created)."""
    import optuna

    from engine.sweep.study import load_study

    storage = sweep_storage(store, dict(doc))
    if "://" not in storage and not Path(storage).is_file():
        return None
    try:
        study = load_study(str(doc["name"]), storage)
        trials = study.get_trials(deepcopy=False)
    except Exception:  # a server unreachable, a study gone: this store's runs say enough
        return None
    scored, left = [], []
    for t in trials:
        if t.user_attrs.get("abandoned"):
            continue
        run = t.user_attrs.get("run_id")
        value = t.value if t.state == optuna.trial.TrialState.COMPLETE else None
        if value is not None and all(k in t.params for k in keys):
            scored.append(Scored(t.number, str(run), dict(t.params), float(value)))
        else:
            left.append(LeftOut(t.number, run, t.state.name.lower()))
    return scored, left


def _fits(dist: optuna.distributions.BaseDistribution, value: Any) -> bool:
    """Whether a trial's value lies in the distribution its key was swept over."""
    import optuna

    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        return any(type(c) is type(value) and c == value for c in dist.choices)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    bounds = (optuna.distributions.IntDistribution, optuna.distributions.FloatDistribution)
    return isinstance(dist, bounds) and number and dist.low <= value <= dist.high


def _distributions(
    spec: SweepSpec, keys: Sequence[str], scored: Sequence[Scored]
) -> dict[str, optuna.distributions.BaseDistribution]:
    """The distribution each key was swept over; a key whose values fall outside it (a
    sweep document edited by hand) over the values the trials took."""
    import optuna

    from engine.sweep.study import distribution

    by_key = {p.key: p for p in spec.params}
    out: dict[str, optuna.distributions.BaseDistribution] = {}
    for key in keys:
        declared = distribution(by_key[key])
        if not all(_fits(declared, s.params[key]) for s in scored):
            seen = list(dict.fromkeys(s.params[key] for s in scored))
            declared = optuna.distributions.CategoricalDistribution(seen)
        out[key] = declared
    return out


def _fanova(spec: SweepSpec, keys: Sequence[str], scored: Sequence[Scored]) -> dict[str, float]:
    """fANOVA's share of each key (summing to 1) over an in-memory study of ``scored``."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = _distributions(spec, keys, scored)
    study = optuna.create_study(direction="maximize")
    for s in scored:
        study.add_trial(
            optuna.trial.create_trial(
                params={k: s.params[k] for k in keys}, distributions=dists, value=s.value
            )
        )
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=SEED)
    found = optuna.importance.get_param_importances(study, evaluator=evaluator, params=list(keys))
    return {k: float(v) for k, v in found.items()}
