"""Checking an ablation request against the model registry: which components the model can
remove, and that every variant builds for the data (imports torch through the registry)."""

from __future__ import annotations

from collections.abc import Sequence

from engine.ablation.groups import BASE, COMPONENTS, AblationError, PlannedRun
from engine.config import RunConfig
from engine.data import dataset_info
from engine.errors import ConfigError, nearest
from engine.models import model_info
from engine.models.build import build_model
from engine.models.transfer import no_imagenet_weights


def plan_ablation(config: RunConfig, remove: Sequence[str]) -> list[PlannedRun]:
    """The base run and one run per removed component; refuses unknown components, a
    component the model cannot remove, and one the base config already lacks."""
    if not remove:
        raise AblationError(
            f"name at least one component to remove (--remove {' --remove '.join(COMPONENTS)})"
        )
    info = model_info(config.model.name)
    planned = [PlannedRun(BASE, config)]
    seen: set[str] = set()
    for name in remove:
        key = name.strip().lower()
        if key not in COMPONENTS:
            raise AblationError(
                f"--remove {name}: unknown component{nearest(key, COMPONENTS)}; "
                f"valid: {', '.join(COMPONENTS)}"
            )
        if key in seen:
            continue
        seen.add(key)
        component = COMPONENTS[key]
        if component.field not in info.fields:
            raise AblationError(
                f"--remove {key}: model '{info.name}' cannot remove it (it has no "
                f"model.{component.field}); models with it: see `resnet-tui models list` "
                "(the ResNets and BaseNet have all three)"
            )
        if getattr(config.model, component.field) == component.removed:
            raise AblationError(
                f"--remove {key}: the base config already has model.{component.field} = "
                f"{component.removed!r}, so there is nothing to remove"
            )
        try:
            ablated = config.replace({f"model.{component.field}": component.removed})
        except ConfigError as exc:
            raise AblationError(f"--remove {key}: {exc}") from exc
        planned.append(PlannedRun(key, ablated))
    return planned


def check_plan(planned: Sequence[PlannedRun]) -> None:
    """Build each planned model once (on the dataset's shape) so a variant the registry
    refuses is refused before any run is created."""
    info = dataset_info(planned[0].config.data)
    for run in planned:
        try:
            with no_imagenet_weights():
                build_model(run.config, info)
        except ConfigError as exc:
            raise AblationError(
                f"the {run.ablation} run cannot be built: {exc}"
                if run.ablation != BASE
                else str(exc)
            ) from exc
