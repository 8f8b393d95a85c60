"""Experiments over several runs: stacked ensembles, ablations, the data-loader benchmark.

``register(app)`` adds ``stack``, ``ablate`` and ``bench loader``. The work is the engine
API's (``api.plan_stack`` / ``compute.stack``, ``compute.plan_ablation`` and the queue,
``compute.bench_loader``), which the console calls as well; this module renders.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from resnet_tui.commands import _table as t
from resnet_tui.commands._shared import (
    JsonOption,
    SetOption,
    command,
    console,
    fail,
    print_json,
    store,
)

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console

    from engine import api
    from engine.api import compute


PresetArgument = Annotated[
    str | None,
    typer.Argument(metavar="PRESET", help="A preset name or a TOML file [digits-quick]."),
]


# ---------------------------------------------------------------- stack


def stack(
    runs: Annotated[
        list[str],
        typer.Argument(metavar="RUN", help="Two or more finished runs (ids, prefixes, names)."),
    ],
    sets: SetOption = None,
    name: Annotated[str, typer.Option(metavar="NAME", help="A name for the stacked run.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Stack finished runs (seed 000): a linear layer over their concatenated logits.

    The members must be finished runs on the same dataset, split and classes. The stacking
    layer trains on the members' train-split logits with gaussian noise on its input
    (augment.noise_std, default 0.2) and stops early on val (train.patience, default 10);
    the result is a run of model "stacked" with the members' and the ensemble's accuracy and
    each member's contribution (stacking.json in its folder).
    """
    from engine import api

    s = store()
    request = api.StackRequest(tuple(runs), name, tuple(sets or ()))
    api.plan_stack(s, request)  # refuse before the slow part starts (and before torch loads)
    if not as_json:
        typer.echo(f"stacking {len(runs)} runs: computing their logits, then the linear layer")
    from engine.api import compute

    result = compute.stack(s, request)
    record = api.get_run(s, result.run_id)
    if name and record.name != name:
        typer.echo(f"note: a run named '{name}' exists; this run is '{record.name}'", err=True)
    if as_json:
        print_json(result.to_dict())
        return
    print_stacking(result, api.run_folder(s, result.run_id))
    if result.status != "finished":
        raise typer.Exit(1)


def print_stacking(report: compute.StackResult, folder: Path | None = None) -> None:
    """The members beside the ensemble, then seed 000's per-class contribution table."""
    c = console()
    c.print(f"stacked run [bold]{report.run_id}[/]: {report.status}: {report.message}")
    names = [m.get("name") or m["id"] for m in report.members]
    # runs of one preset share its name: tell them apart by the end of their ids
    names = [
        n if names.count(n) == 1 else f"{n}-{m['id'][-4:]}"
        for n, m in zip(names, report.members, strict=True)
    ]
    rows = [
        {
            "#": f"m{i + 1}",
            "run": names[i],
            "model": m.get("model"),
            "val_acc": m.get("val_acc"),
            "test_acc": m.get("test_acc"),
            "contribution": m.get("contribution"),
        }
        for i, m in enumerate(report.members)
    ]
    rows.append(
        {
            "#": "ens",
            "run": "stacked ensemble",
            "model": "stacked",
            "val_acc": report.ensemble.get("val_acc"),
            "test_acc": report.ensemble.get("test_acc"),
        }
    )
    columns = (
        t.ident("#"),
        t.ident("run"),
        t.secondary("model"),
        t.accuracy("val_acc", "val acc"),
        t.accuracy("test_acc", "test acc"),
        t.number("contribution", show=t.pct),
    )
    t.print_table("members and ensemble", columns, rows, c)
    members = [f"m{i + 1}" for i in range(len(report.members))]
    if report.per_class:
        class_rows = [
            {"class": name, **{m: report.per_class[k][j] for k, m in enumerate(members)}}
            for j, name in enumerate(report.classes)
        ]
        share_columns = (t.ident("class"), *(t.number(m, show=t.pct) for m in members))
        t.print_table("each member's share of each class", share_columns, class_rows, c)
    if folder is not None:
        c.print(f"folder: {folder}")


# ---------------------------------------------------------------- ablate


def ablate(
    preset: PresetArgument = None,
    remove: Annotated[
        list[str] | None,
        typer.Option(
            "--remove",
            "-r",
            metavar="PART",
            help="A component to remove: relu, bn or skip (repeatable).",
        ),
    ] = None,
    sets: SetOption = None,
    name: Annotated[
        str, typer.Option(metavar="NAME", help="A name for the base run (others add -no-X).")
    ] = "",
    detach: Annotated[
        bool, typer.Option(help="Train the runs one after another in the background.")
    ] = False,
    show: Annotated[
        str | None,
        typer.Option(
            "--show", metavar="GROUP", help="Show the comparison of an existing group (ablate-...)."
        ),
    ] = None,
    show_list: Annotated[
        bool, typer.Option("--list", help="List the ablation groups of the run store.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Ablation study (seed 002): the base run and one run per removed component.

    relu -> model.act=none, bn -> model.norm=none, skip -> model.skip=false; everything else
    stays equal. The runs form a group (ablate-...) and train one after another, then the
    table compares their val and test accuracy with the base.
    """
    from engine import api

    s = store()
    if show_list:
        if preset or remove or sets or show:
            fail("--list lists the groups; drop PRESET, --remove, --set and --show")
        _print_groups(s, as_json)
        return
    if show:
        if preset or remove or sets:
            fail("--show prints an existing group; drop PRESET, --remove and --set")
        _print_ablation(api.ablation_table(s, show), as_json)
        return
    from engine.api import compute

    request = api.AblationRequest(preset, tuple(remove or ()), tuple(sets or ()), name)
    if detach:
        launched = compute.start_ablation(s, request)  # plans, checks, records, starts
        typer.echo(
            f"ablation {launched.what}: {len(launched.run_ids)} runs training one after "
            f"another in the background (pid {launched.pid}): {', '.join(launched.run_ids)}"
            f"\nsee the comparison with `resnet-tui ablate --show {launched.what}`"
        )
        return
    plan = compute.plan_ablation(request)
    group, ids = compute.create_ablation(s, plan)
    from resnet_tui.progress import train_with_progress

    c = console()
    typer.echo(f"ablation {group}: {', '.join(plan.removed)}")
    failures: list[str] = []

    def run_one(run_id: str) -> api.RunRecord:
        record = api.get_run(s, run_id)
        removed = record.ablation.removed if record.ablation else "?"
        c.print(f"[bold]{removed}[/]: run {run_id}")
        return train_with_progress(s, run_id, c)

    def on_error(run_id: str, exc: BaseException) -> None:
        failures.append(run_id)
        typer.echo(f"error: run {run_id}: {exc}", err=True)

    records = compute.run_ablation(s, ids, run_one, on_error)
    _print_ablation(api.ablation_table(s, group), as_json)
    if failures or any(r.status in ("stopped", "failed", "crashed") for r in records):
        raise typer.Exit(1)


def _print_groups(s: api.RunStore, as_json: bool) -> None:
    from engine import api

    rows = api.list_ablations(s)
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo(f"no ablations in {s.root}; start one with `resnet-tui ablate --help`")
        return
    for row in rows:
        row["done"] = f"{row['finished']}/{row['runs']}"
    columns = (
        t.ident("group"),
        t.ident("preset"),
        t.secondary("removed"),
        t.number("done"),
        t.accuracy("base_val_acc", "base val"),
    )
    t.print_table(f"ablations in {s.root}", columns, rows, console())
    typer.echo("the comparison of one: `resnet-tui ablate --show GROUP`")


def _print_ablation(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print_json(rows)
        return
    shown = [
        {
            **row,
            "val_diff": t.pp(row["d_val_acc"]) if row["ablation"] != "base" else "",
            "test_diff": t.pp(row["d_test_acc"]) if row["ablation"] != "base" else "",
        }
        for row in rows
    ]
    columns = (
        t.ident("removed"),
        t.ident("name"),
        t.secondary("status"),
        t.accuracy("val_acc", "val acc"),
        t.number("val_diff", "Δ val", show=str),
        t.accuracy("test_acc", "test acc"),
        t.number("test_diff", "Δ test", show=str),
    )
    title = f"ablation {rows[0]['group']} (Δ: accuracy minus the base run's, in points)"
    t.print_table(title, columns, shown, console())


# ---------------------------------------------------------------- bench loader


def bench_loader(
    preset: PresetArgument = None,
    workers: Annotated[
        str, typer.Option(metavar="N,N,...", help="The num_workers values to time.")
    ] = "0,2,4,8",
    sets: SetOption = None,
    as_json: JsonOption = False,
    as_jsonl: Annotated[
        bool,
        typer.Option(
            "--jsonl",
            help='Stream JSON lines: first {"setup": {...}}, then one row per line as it is '
            "measured (numbers as numbers; workers null for the on-device row).",
        ),
    ] = False,
) -> None:
    """Seed 003's Table 2: one epoch of data loading per num_workers value.

    Image folders are timed through their DataLoader (decoding in the workers). In-memory
    datasets need no workers (their batches are slices of a tensor on the device): for them
    the table times torchvision's per-image PIL transforms through a DataLoader, as seed 003
    did, and adds one row for the on-device path.
    """
    import json

    from engine import api

    if as_json and as_jsonl:
        fail("--json and --jsonl: pick one")
    request = api.RunRequest(preset, tuple(sets or ()))
    api.plan_run(request)  # a bad preset or --set is refused before torch loads (seconds)
    from engine.api import compute

    c = console()
    setup: dict[str, Any] = {}

    def on_line(data: dict[str, Any]) -> None:
        if as_jsonl:
            typer.echo(json.dumps(data))  # click flushes: a reader sees each row as it comes
        elif "setup" in data:
            setup.update(data["setup"])
            if not as_json:
                _say_what_is_timed(c, setup)

    rows = compute.bench_loader(request, workers, on_line)
    if as_jsonl:
        return
    if as_json:
        print_json(rows)
        return
    shown = [
        {
            "path": r["path"],
            "workers": "-" if r["workers"] is None else r["workers"],
            "seconds": f"{r['seconds']:.3f}",
            "images": r["images"],
            "images_per_s": f"{r['images_per_s']:,.0f}",
        }
        for r in rows
    ]
    columns = (
        t.ident("path"),
        t.number("workers"),
        t.number("seconds"),
        t.number("images"),
        t.number("images_per_s", "images/s"),
    )
    c.print(
        f"one epoch of {setup.get('preset')}'s train split on {setup.get('device')}, "
        f"batch {setup.get('batch_size')}"
    )
    t.print_table("", columns, shown, c)


def _say_what_is_timed(c: Console, setup: dict[str, Any]) -> None:
    if setup.get("in_memory"):
        c.print(
            f"{setup['dataset']} is held in memory: training slices batches on the device and "
            "needs no loader workers. Timing torchvision's per-image PIL transforms through a "
            "DataLoader instead (seed 003's setting), and the on-device path once for "
            "comparison."
        )
    else:
        c.print(f"{setup['dataset']}: timing the DataLoader that decodes the image files.")


# ---------------------------------------------------------------- registration


def register(app: typer.Typer) -> None:
    """Add stack, ablate and bench loader to the CLI."""
    command(app, "stack", stack)
    command(app, "ablate", ablate)
    bench = typer.Typer(help="Benchmarks that print tables.", no_args_is_help=True)
    command(bench, "loader", bench_loader)
    app.add_typer(bench, name="bench")
