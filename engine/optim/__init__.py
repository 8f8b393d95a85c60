"""Optimizers and learning-rate schedules by name (``optim.name``, ``schedule.name``).

Both are ``engine.registry.Registry`` instances whose entries carry their behaviour: an
optimizer entry its builder, a schedule entry its curve. ``build_optimizer(model, cfg.optim)``
and ``LRSchedule(optimizer, cfg.schedule, lr, epochs, steps)`` are what the trainer uses.
"""

from engine.optim.optimizers import (
    ALWAYS_OPTIM,
    OPTIMIZERS,
    OptimizerInfo,
    build_optimizer,
    list_optimizers,
    optimizer_info,
    param_groups,
    register_optimizer,
)
from engine.optim.schedules import (
    ALWAYS_SCHEDULE,
    SCHEDULES,
    LRSchedule,
    Progress,
    ScheduleInfo,
    list_schedules,
    schedule_info,
)

__all__ = [
    "ALWAYS_OPTIM",
    "ALWAYS_SCHEDULE",
    "OPTIMIZERS",
    "SCHEDULES",
    "LRSchedule",
    "OptimizerInfo",
    "Progress",
    "ScheduleInfo",
    "build_optimizer",
    "list_optimizers",
    "list_schedules",
    "optimizer_info",
    "param_groups",
    "register_optimizer",
    "schedule_info",
]
