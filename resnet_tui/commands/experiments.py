"""Experiments over several runs: stacked ensembles, ablations, the data-loader benchmark.

``register(app)`` adds ``stack``, ``ablate`` (and the hidden ``run-queue`` its detached queue
runs), and ``bench loader``. The work is done by engine functions (engine.stacking,
engine.ablation, engine.loader_bench) that the TUI can call as well; this module renders.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from resnet_tui.commands._shared import (
    JsonOption,
    SetOption,
    check_buildable,
    console,
    fail,
    print_json,
    store,
    table,
    user_errors,
)

if TYPE_CHECKING:
    from engine.store import RunStore


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4f}"


# ---------------------------------------------------------------- stack


def stack(
    runs: Annotated[
        list[str], typer.Argument(help="Two or more finished runs (ids, prefixes, names).")
    ],
    sets: SetOption = None,
    name: Annotated[str, typer.Option(help="A name for the stacked run.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Stack finished runs (seed 000): a linear layer over their concatenated logits.

    The members must be finished runs on the same dataset, split and classes. The stacking
    layer trains on the members' train-split logits with gaussian noise on its input
    (augment.noise_std, default 0.2) and stops early on val (train.patience, default 10);
    the result is a run of model "stacked" with the members' and the ensemble's accuracy and
    each member's contribution (stacking.json in its folder).
    """
    from engine.stacking import check_members, stack_config, stack_runs

    s = store()
    stack_config(check_members(s, runs), sets or [])  # refuse before the slow part starts
    if not as_json:
        typer.echo(f"stacking {len(runs)} runs: computing their logits, then the linear layer")
    result = stack_runs(s, runs, name=name, sets=sets or [])
    if as_json:
        print_json(result.to_dict())
        return
    print_stacking(result.to_dict(), s.run_dir(result.run_id))
    if result.status != "finished":
        raise typer.Exit(1)


def print_stacking(report: dict[str, Any], folder: Any = None) -> None:
    """The members beside the ensemble, then seed 000's per-class contribution table."""
    c = console()
    c.print(f"stacked run [bold]{report['run_id']}[/]: {report['status']}: {report['message']}")
    names = [m.get("name") or m["id"] for m in report["members"]]
    # runs of one preset share its name: tell them apart by the end of their ids
    names = [
        n if names.count(n) == 1 else f"{n}-{m['id'][-4:]}"
        for n, m in zip(names, report["members"], strict=True)
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
        for i, m in enumerate(report["members"])
    ]
    ensemble = report.get("ensemble") or {}
    rows.append(
        {
            "#": "ens",
            "run": "stacked ensemble",
            "model": "stacked",
            "val_acc": ensemble.get("val_acc"),
            "test_acc": ensemble.get("test_acc"),
        }
    )
    columns = ("#", "run", "model", "val_acc", "test_acc", "contribution")
    c.print(table("members and ensemble", columns, rows))
    members = [f"m{i + 1}" for i in range(len(report["members"]))]
    per_class = report.get("per_class") or []
    if per_class:
        class_rows = [
            {"class": name, **{m: per_class[k][j] for k, m in enumerate(members)}}
            for j, name in enumerate(report["classes"])
        ]
        c.print(
            table(
                "each member's share of each class",
                ("class", *members),
                class_rows,
            )
        )
    if folder is not None:
        c.print(f"folder: {folder}")


# ---------------------------------------------------------------- ablate


def ablate(
    preset: Annotated[
        str | None, typer.Argument(help="A preset name or a TOML file [digits-quick].")
    ] = None,
    remove: Annotated[
        list[str] | None,
        typer.Option(
            "--remove", "-r", help="A component to remove: relu, bn or skip (repeatable)."
        ),
    ] = None,
    sets: SetOption = None,
    name: Annotated[str, typer.Option(help="A name for the base run (others add -no-X).")] = "",
    detach: Annotated[
        bool, typer.Option(help="Train the runs one after another in the background.")
    ] = False,
    show: Annotated[
        str | None,
        typer.Option("--show", help="Show the comparison of an existing group (ablate-...)."),
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
    from engine.ablation import ablation_table

    s = store()
    if show_list:
        if preset or remove or sets or show:
            fail("--list lists the groups; drop PRESET, --remove, --set and --show")
        _print_groups(s, as_json)
        return
    if show:
        if preset or remove or sets:
            fail("--show prints an existing group; drop PRESET, --remove and --set")
        _print_ablation(ablation_table(s, show), as_json)
        return
    from engine import presets as presets_mod
    from engine.ablation import check_plan, create_ablation, launch_queue_detached, plan_ablation

    config, preset_name = presets_mod.resolve(preset, sets)
    planned = plan_ablation(config, remove or [])
    check_buildable(config)
    check_plan(planned)
    group, ids = create_ablation(s, planned, preset=preset_name, name=name)
    if detach:
        pid = launch_queue_detached(s, ids)
        typer.echo(
            f"ablation {group}: {len(ids)} runs training one after another in the background "
            f"(pid {pid}): {', '.join(ids)}\nsee the comparison with "
            f"`resnet-tui ablate --show {group}`"
        )
        return
    from engine.ablation import run_queue
    from resnet_tui.progress import train_with_progress

    c = console()
    labels = {run.ablation: run for run in planned}
    typer.echo(f"ablation {group}: {', '.join(labels)}")
    failures: list[str] = []

    def run_one(run_id: str) -> dict[str, Any]:
        doc = s.get(run_id)
        c.print(f"[bold]{doc['ablation']}[/]: run {run_id}")
        return train_with_progress(s, run_id, c)

    def on_error(run_id: str, exc: BaseException) -> None:
        failures.append(run_id)
        typer.echo(f"error: run {run_id}: {exc}", err=True)

    docs = run_queue(s, ids, run_one, on_error)
    _print_ablation(ablation_table(s, group), as_json)
    if failures or any(d.get("status") in ("stopped", "failed", "crashed") for d in docs):
        raise typer.Exit(1)


def _print_groups(s: RunStore, as_json: bool) -> None:
    from engine.ablation import list_groups

    rows = list_groups(s)
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo(f"no ablations in {s.root}; start one with `resnet-tui ablate --help`")
        return
    for row in rows:
        row["done"] = f"{row['finished']}/{row['runs']}"
    columns = ("group", "preset", "removed", "done", "base_val_acc")
    console().print(table(f"ablations in {s.root}", columns, rows))
    typer.echo("the comparison of one: `resnet-tui ablate --show GROUP`")


def _print_ablation(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print_json(rows)
        return
    shown = [
        {
            **row,
            "val_diff": _signed(row["d_val_acc"]) if row["ablation"] != "base" else "",
            "test_diff": _signed(row["d_test_acc"]) if row["ablation"] != "base" else "",
        }
        for row in rows
    ]
    c = console()
    columns: tuple[str, ...] = ("removed", "name", "status", "val_acc", "val_diff")
    columns += ("test_acc", "test_diff")
    if c.width < 100:
        columns = tuple(col for col in columns if col != "name")
    c.print(f"ablation {rows[0]['group']} (diff: accuracy minus the base run's)")
    c.print(table("", columns, shown))


def run_queue_command(
    runs: Annotated[list[str], typer.Argument(help="Queued runs, trained in this order.")],
) -> None:
    """Train queued runs one after another (what `ablate --detach` starts in the background)."""
    from engine.ablation import run_queue

    s = store()
    ids = [s.resolve(r) for r in runs]

    def on_error(run_id: str, exc: BaseException) -> None:
        typer.echo(f"error: run {run_id}: {exc}", err=True)

    run_queue(s, ids, on_error=on_error)


# ---------------------------------------------------------------- bench loader


def bench_loader(
    preset: Annotated[
        str | None, typer.Argument(help="A preset name or a TOML file [digits-quick].")
    ] = None,
    workers: Annotated[
        str, typer.Option(help="Comma-separated num_workers values to time.")
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
    from engine import presets as presets_mod
    from engine.errors import ConfigError

    if as_json and as_jsonl:
        raise ConfigError("--json and --jsonl: pick one")
    # the preset first: a bad name or file is refused before torch loads (seconds)
    config, preset_name = presets_mod.resolve(preset, sets)

    from engine.data import dataset_info
    from engine.loader_bench import ON_DEVICE, LoaderTiming, bench_loader, parse_workers, planned
    from engine.trainer import pick_device

    counts = parse_workers(workers)
    info = dataset_info(config.data)
    device = pick_device(config.train.device)
    if as_jsonl:
        import json

        def line(data: dict[str, Any]) -> None:
            typer.echo(json.dumps(data))  # click flushes: a reader sees each row as it comes

        def loaded(train_images: int) -> None:
            setup = {
                "preset": preset_name,
                "dataset": info.name,
                "in_memory": info.in_memory,
                "device": str(device),
                "batch_size": config.data.batch_size,
                "train_images": train_images,
                "workers": counts,
                "rows": [
                    {"path": path, "workers": None if path == ON_DEVICE else n}
                    for path, n in planned(info.in_memory, counts)
                ],
            }
            line({"setup": setup})

        def timed(r: LoaderTiming) -> None:
            line(
                {
                    "path": r.path,
                    "workers": None if r.path == ON_DEVICE else r.workers,
                    "seconds": round(r.seconds, 6),
                    "images": r.images,
                    "images_per_s": round(r.images_per_s, 3),
                }
            )

        bench_loader(config, counts, device, on_timing=timed, on_loaded=loaded)
        return
    c = console()
    if not as_json:
        if info.in_memory:
            c.print(
                f"{info.name} is held in memory: training slices batches on the device and "
                "needs no loader workers. Timing torchvision's per-image PIL transforms "
                "through a DataLoader instead (seed 003's setting), and the on-device path "
                "once for comparison."
            )
        else:
            c.print(f"{info.name}: timing the DataLoader that decodes the image files.")
    rows = [
        {
            "path": r.path,
            "workers": "-" if r.path == ON_DEVICE else r.workers,
            "seconds": f"{r.seconds:.3f}",
            "images": r.images,
            "images_per_s": f"{r.images_per_s:,.0f}",
        }
        for r in bench_loader(config, counts, device)
    ]
    if as_json:
        print_json(rows)
        return
    c.print(f"one epoch of {preset_name}'s train split on {device}, batch {config.data.batch_size}")
    c.print(table("", ("path", "workers", "seconds", "images", "images_per_s"), rows))


# ---------------------------------------------------------------- registration


def register(app: typer.Typer) -> None:
    """Add stack, ablate, run-queue (hidden) and bench loader to the CLI."""
    app.command("stack")(user_errors(stack))
    app.command("ablate")(user_errors(ablate))
    app.command("run-queue", hidden=True)(user_errors(run_queue_command))
    bench = typer.Typer(help="Benchmarks that print tables.", no_args_is_help=True)
    bench.command("loader")(user_errors(bench_loader))
    app.add_typer(bench, name="bench")
