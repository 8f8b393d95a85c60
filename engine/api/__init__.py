"""The one surface every front-end uses: the CLI, the console and the sweep and ablation drivers
plan, check, start, stop and read runs through these verbs, and get typed records back.

Torch-free (the console imports it in its own process)::

    store = open_store("runs")
    plan = plan_run(RunRequest("digits-quick", sets=("optim.lr=0.05",)))  # every problem at once
    record = create_run(store, plan)         # a unique name (record.name_taken on a clash)
    start_run(store, record.id, plan)        # a detached worker: python -m engine.worker run
    stop_run / resume_run / delete_run / rename_run / get_run / list_runs / read_metrics ...
    query = parse_query("model=resnet24 and best.val_acc>90%")  # QueryError names the column
    [r for r in list_runs(store) if query.matches(r)]

The checks that need torch (the model built for the data, the data, the device) and training in
this process are ``engine.api.compute``'s; the console asks them of its helper process through
``engine.api.remote.EngineHelper``, which answers with the same records and the same errors.
"""

from engine.ablation.groups import ablation_rows, list_components
from engine.alerts import ALERTS_LOG, record_crashes, try_command
from engine.alerts import ENDS as ALERT_ENDS
from engine.answers import ModelSummary, RunCheck
from engine.api.experiments import (
    StackPlan,
    ablation_table,
    delete_sweep,
    existing_sweep,
    get_sweep,
    list_ablations,
    list_sweeps,
    loader_bench_command,
    plan_stack,
    plan_sweep,
    read_stack_report,
    resolve_sweep,
    resume_ablation,
    resume_sweep,
    start_stack,
    stop_sweep,
    sweep_parallel,
    sweep_summary,
)
from engine.api.predictions import (
    Flips,
    Mistake,
    flips,
    mistakes,
    read_calibration,
    read_predictions,
)
from engine.api.reads import (
    follow_metrics,
    provenance_lines,
    read_confusion,
    read_log,
    read_metrics,
    read_progress,
    store_version,
    system_summary,
)
from engine.api.runs import (
    RunPlan,
    archive_run,
    check_resume,
    create_run,
    delete_run,
    get_run,
    is_alive,
    list_runs,
    newest_runs,
    note_run,
    open_store,
    pin_run,
    plan_run,
    rename_run,
    resolve_run,
    resume_run,
    run_folder,
    start_run,
    stop_run,
    tag_run,
    untag_run,
)
from engine.api.types import (
    AblationRequest,
    Launched,
    RunRequest,
    StackRequest,
    SweepRequest,
)
from engine.calibration import Bin as CalibrationBin
from engine.calibration import Calibration
from engine.catalog import Catalog, ModelEntry
from engine.config import (
    OWN_DATASETS,
    FieldInfo,
    RunConfig,
    base_key,
    check_dict,
    field_info,
    field_infos,
    read_field,
    to_toml,
)
from engine.config.augmentations import AugmentationInfo, list_augmentations
from engine.errors import ConfigError, PlanError, StoreError, UserError
from engine.events import VAL_SKIPPED
from engine.gallery import GALLERY_LIMIT, flip_labels, flips_grid, mistakes_grid
from engine.lr_schedule import (
    MAX_MARKS as LR_MAX_MARKS,
)
from engine.lr_schedule import (
    LRCurve,
    describe_curve,
    describe_steps,
    lr_preview,
    lr_preview_for,
)
from engine.metrics import best_stats_row, config_differences, to_csv, to_markdown
from engine.pictures import GridRow, PictureGrid, Tile, render_picture, save_image, save_png
from engine.pictures import strip as picture_strip
from engine.presets import DEFAULT_PRESET, Preset, list_presets, load_preset, save_preset
from engine.query import Query, QueryError
from engine.query import parse as parse_query
from engine.records import (
    Confusion,
    EpochLine,
    EpochStats,
    RunMetrics,
    RunRecord,
    StepLine,
    SweepRecord,
    TestStats,
)
from engine.report.diff import DiffRow, RunDiff, baseline_first, diff_runs
from engine.report.export import export_columns, export_row, require_metrics, text_cells
from engine.settings import (
    SETTINGS,
    Setting,
    Settings,
    SettingsError,
    load_settings,
    set_setting,
    settings_path,
    settings_toml,
)
from engine.store import ACTIVE, STATUSES, MetricsReader, RunStore
from engine.store.progress import Progress
from engine.sweep.analysis import (
    Axis,
    Importance,
    LeftOut,
    ParallelCoordinates,
    ParamImportance,
    TrialLine,
    log_axis,
    parallel_coordinates,
)
from engine.sweep.report import best_trial, by_param, read_sweeps, rows_from_runs, status_counts
from engine.sweep.spec import Param, SweepSpec
from engine.sysload import (
    DATA_WAIT_LIMIT,
    SysLine,
    SystemSummary,
    bottleneck_words,
    data_wait_share,
    steady_data_wait,
)
from engine.sysload import series as sys_series
from engine.timing import TimeSplit, time_split

__all__ = [
    "Calibration",
    "CalibrationBin",
    "ACTIVE",
    "ALERTS_LOG",
    "ALERT_ENDS",
    "AblationRequest",
    "AugmentationInfo",
    "Axis",
    "Catalog",
    "ConfigError",
    "Confusion",
    "DATA_WAIT_LIMIT",
    "DEFAULT_PRESET",
    "DiffRow",
    "EpochLine",
    "EpochStats",
    "FieldInfo",
    "GALLERY_LIMIT",
    "GridRow",
    "Importance",
    "Launched",
    "LRCurve",
    "LR_MAX_MARKS",
    "LeftOut",
    "MetricsReader",
    "ModelEntry",
    "ModelSummary",
    "OWN_DATASETS",
    "ParallelCoordinates",
    "Param",
    "PictureGrid",
    "ParamImportance",
    "PlanError",
    "Preset",
    "Progress",
    "Query",
    "QueryError",
    "RunCheck",
    "RunConfig",
    "RunDiff",
    "RunMetrics",
    "RunPlan",
    "RunRecord",
    "RunRequest",
    "RunStore",
    "SETTINGS",
    "STATUSES",
    "Setting",
    "Settings",
    "SettingsError",
    "StackPlan",
    "StackRequest",
    "StepLine",
    "StoreError",
    "SweepRecord",
    "SweepRequest",
    "SweepSpec",
    "SysLine",
    "SystemSummary",
    "TestStats",
    "Tile",
    "TimeSplit",
    "TrialLine",
    "UserError",
    "ablation_rows",
    "ablation_table",
    "archive_run",
    "base_key",
    "baseline_first",
    "best_stats_row",
    "best_trial",
    "bottleneck_words",
    "by_param",
    "check_dict",
    "check_resume",
    "config_differences",
    "create_run",
    "data_wait_share",
    "delete_run",
    "delete_sweep",
    "describe_curve",
    "describe_steps",
    "diff_runs",
    "existing_sweep",
    "export_columns",
    "export_row",
    "field_info",
    "field_infos",
    "follow_metrics",
    "get_run",
    "get_sweep",
    "is_alive",
    "list_ablations",
    "list_augmentations",
    "list_components",
    "list_presets",
    "list_runs",
    "lr_preview",
    "lr_preview_for",
    "list_sweeps",
    "load_preset",
    "load_settings",
    "loader_bench_command",
    "log_axis",
    "newest_runs",
    "note_run",
    "open_store",
    "parallel_coordinates",
    "parse_query",
    "pin_run",
    "plan_run",
    "plan_stack",
    "plan_sweep",
    "provenance_lines",
    "read_confusion",
    "read_field",
    "read_log",
    "read_metrics",
    "read_progress",
    "read_stack_report",
    "read_sweeps",
    "record_crashes",
    "rename_run",
    "require_metrics",
    "resolve_run",
    "resolve_sweep",
    "resume_ablation",
    "resume_run",
    "resume_sweep",
    "rows_from_runs",
    "run_folder",
    "flip_labels",
    "flips_grid",
    "mistakes_grid",
    "picture_strip",
    "render_picture",
    "VAL_SKIPPED",
    "save_image",
    "save_png",
    "save_preset",
    "set_setting",
    "settings_path",
    "settings_toml",
    "start_run",
    "start_stack",
    "status_counts",
    "steady_data_wait",
    "stop_run",
    "stop_sweep",
    "store_version",
    "sweep_parallel",
    "sweep_summary",
    "sys_series",
    "system_summary",
    "tag_run",
    "text_cells",
    "time_split",
    "to_csv",
    "to_markdown",
    "to_toml",
    "try_command",
    "untag_run",
    "Flips",
    "Mistake",
    "flips",
    "mistakes",
    "read_calibration",
    "read_predictions",
]
