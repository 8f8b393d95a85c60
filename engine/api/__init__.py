"""The one surface every front-end uses: the CLI, the console and the sweep and ablation drivers
plan, check, start, stop and read runs through these verbs, and get typed records back.

Torch-free (the console imports it in its own process)::

    store = open_store("runs")
    plan = plan_run(RunRequest("digits-quick", sets=("optim.lr=0.05",)))  # every problem at once
    record = create_run(store, plan)         # a unique name (record.name_taken on a clash)
    start_run(store, record.id, plan)        # a detached worker: python -m engine.worker run
    stop_run / resume_run / delete_run / rename_run / get_run / list_runs / read_metrics ...

The checks that need torch (the model built for the data, the data, the device) and training in
this process are ``engine.api.compute``'s; the console asks them of its helper process through
``engine.api.remote.EngineHelper``, which answers with the same records and the same errors.
"""

from engine.api.experiments import (
    StackPlan,
    ablation_table,
    delete_sweep,
    existing_sweep,
    get_sweep,
    list_ablations,
    list_sweeps,
    plan_stack,
    plan_sweep,
    read_stack_report,
    resolve_sweep,
    resume_ablation,
    resume_sweep,
    start_stack,
    stop_sweep,
    sweep_summary,
)
from engine.api.reads import follow_metrics, read_confusion, read_log, read_metrics
from engine.api.runs import (
    RunPlan,
    check_resume,
    create_run,
    delete_run,
    get_run,
    is_alive,
    list_runs,
    open_store,
    plan_run,
    rename_run,
    resolve_run,
    resume_run,
    run_folder,
    start_run,
    stop_run,
)
from engine.api.types import (
    AblationRequest,
    Launched,
    RunRequest,
    StackRequest,
    SweepRequest,
)
from engine.errors import ConfigError, PlanError, StoreError, UserError
from engine.records import (
    Confusion,
    EpochLine,
    EpochStats,
    ModelSummary,
    RunCheck,
    RunMetrics,
    RunRecord,
    StepLine,
    SweepRecord,
    TestStats,
)

__all__ = [
    "AblationRequest",
    "ConfigError",
    "Confusion",
    "EpochLine",
    "EpochStats",
    "Launched",
    "ModelSummary",
    "PlanError",
    "RunCheck",
    "RunMetrics",
    "RunPlan",
    "RunRecord",
    "RunRequest",
    "StackPlan",
    "StackRequest",
    "StepLine",
    "StoreError",
    "SweepRecord",
    "SweepRequest",
    "TestStats",
    "UserError",
    "ablation_table",
    "check_resume",
    "create_run",
    "delete_run",
    "delete_sweep",
    "existing_sweep",
    "follow_metrics",
    "get_run",
    "get_sweep",
    "is_alive",
    "list_ablations",
    "list_runs",
    "list_sweeps",
    "open_store",
    "plan_run",
    "plan_stack",
    "plan_sweep",
    "read_confusion",
    "read_log",
    "read_metrics",
    "read_stack_report",
    "rename_run",
    "resolve_run",
    "resolve_sweep",
    "resume_ablation",
    "resume_run",
    "resume_sweep",
    "run_folder",
    "start_run",
    "start_stack",
    "stop_run",
    "stop_sweep",
    "sweep_summary",
]
