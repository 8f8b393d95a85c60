"""Sweeps (seed 004's grid search, seed 003's Figure 5): ``sweep`` and ``sweeps list/show/stop``.

``register(app)`` adds them. The work is done by ``engine.sweep`` (which the TUI can call as
well); this module parses options and renders. Only typer is imported at the top, so
``resnet-tui --help`` never imports torch or optuna.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from resnet_tui.commands._shared import (
    JsonOption,
    SetOption,
    console,
    fail,
    print_json,
    show_warnings,
    store,
    table,
    user_errors,
)


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_value(v)}" for k, v in params.items())


def _value(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


# ---------------------------------------------------------------- sweep


def sweep(
    preset: Annotated[
        str | None, typer.Argument(help="A preset name or a TOML file [digits-quick].")
    ] = None,
    grid: Annotated[
        list[str] | None,
        typer.Option(help="KEY=V1,V2,...: sweep every combination of these (repeatable)."),
    ] = None,
    search: Annotated[
        int | None, typer.Option(help="Sample N trials with Optuna (TPE) instead of a grid.")
    ] = None,
    ranges: Annotated[
        list[str] | None,
        typer.Option(
            "--range", help="KEY=LOW:HIGH[:log][:int]: a numeric range to search (repeatable)."
        ),
    ] = None,
    choices: Annotated[
        list[str] | None,
        typer.Option("--choice", help="KEY=A,B,...: a categorical choice to search (repeatable)."),
    ] = None,
    sets: SetOption = None,
    name: Annotated[
        str, typer.Option(help="The sweep's name [derived from the request: re-run = continue].")
    ] = "",
    parallel: Annotated[
        int | None, typer.Option(help="Trials at once [one per GPU; 1 on the CPU].")
    ] = None,
    storage: Annotated[
        str,
        typer.Option(
            help="Where the Optuna study lives: a journal file, or a URL "
            "(postgresql://, mysql://, sqlite:///, redis://) [runs/sweeps/NAME.journal]."
        ),
    ] = "",
    resume: Annotated[
        str | None, typer.Option(help="Continue a sweep of this run store (name or prefix).")
    ] = None,
    join: Annotated[
        str | None,
        typer.Option(help="Work on the study of this name in --storage (another machine's)."),
    ] = None,
    prune: Annotated[
        bool, typer.Option(help="Search: stop trials whose val_acc is below the median.")
    ] = True,
    prune_startup: Annotated[
        int, typer.Option(help="Search: trials that must finish before any is pruned.")
    ] = 3,
    seed: Annotated[int, typer.Option(help="The sampler's seed.")] = 0,
    detach: Annotated[
        bool, typer.Option(help="Run the sweep in the background (log: runs/sweeps/NAME.log).")
    ] = False,
    quiet: Annotated[bool, typer.Option(help="Print only the final tables.")] = False,
) -> None:
    """Train a preset over a grid (--grid) or an Optuna search (--search N with --range and
    --choice), queued over the devices; every trial is an ordinary run.

    Stopping it (Ctrl-C, SIGTERM) stops its trials at a checkpoint; running the same command
    again (or `sweep --resume NAME`) continues: finished trials are kept, stopped or crashed
    ones resume, trials still training are waited for. Results: `resnet-tui sweeps show NAME`.
    """
    from engine import sweep as sweeps

    s = store()
    if parallel is not None and parallel < 1:
        fail(f"--parallel: must be at least 1, got {parallel}")
    if resume or join:
        given = [o for o, v in (("PRESET", preset), ("--grid", grid), ("--search", search),
                                ("--range", ranges), ("--choice", choices), ("--set", sets),
                                ("--name", name)) if v]  # fmt: skip
        if given:
            fail(f"--resume/--join continue a sweep as it was defined; drop {given[0]}")
        if resume and join:
            fail("give --resume NAME (this run store) or --join NAME --storage URL, not both")
    if resume:
        sweep_name = sweeps.resolve_sweep(s, resume)
    elif join:
        if not storage:
            fail(f"--join {join}: give the study's --storage URL (docs/SCALE.md)")
        sweep_name = sweeps.join_sweep(s, join, storage)["name"]
    else:
        from engine.runner import preflight

        spec = sweeps.plan_sweep(
            preset,
            sets,
            grid=grid,
            ranges=ranges,
            choices=choices,
            search=search,
            name=name,
            prune=prune,
            prune_startup=prune_startup,
            seed=seed,
        )
        if sweeps.existing_sweep(s, spec, storage) is None:  # the same command again: continue
            from engine.config import from_dict

            sweeps.check_names(spec)
            preflight(from_dict(spec.base))  # the preset itself must train (data, model, device)
        sweep_name = sweeps.create_sweep(s, spec, storage)["name"]
    if detach:
        pid = sweeps.launch_sweep_detached(s, sweep_name, parallel)
        typer.echo(
            f"sweep {sweep_name} running in the background (pid {pid}); follow it with "
            f"`resnet-tui sweeps show {sweep_name}`; log: "
            f"{sweeps.sweeps_dir(s) / (sweep_name + '.log')}"
        )
        return
    doc = sweeps.get_sweep(s, sweep_name)
    if not quiet:
        spec_line = "; ".join(p.describe() for p in sweeps.SweepSpec.from_dict(doc["spec"]).params)
        typer.echo(
            f"sweep {sweep_name} ({doc['mode']}, {doc['spec']['trials']} trials): {spec_line}"
        )
    doc = sweeps.run_sweep(s, sweep_name, parallel=parallel, on_event=None if quiet else _echo)
    print_summary(sweeps.sweep_summary(s, sweep_name))
    typer.echo(f"sweep {sweep_name}: {doc['status']} ({doc.get('message', '')})")


def _echo(event: Any) -> None:
    from engine.sweep import SweepEnded, TrialEnded, TrialEpoch, TrialPruned, TrialStarted

    if isinstance(event, TrialStarted):
        how = (
            "still running, followed"
            if event.adopted
            else "resumed"
            if event.resumed
            else "started"
        )
        typer.echo(f"trial {event.trial} {how}: {_params(event.params)} (run {event.run_id})")
    elif isinstance(event, TrialEpoch):
        typer.echo(f"trial {event.trial} epoch {event.epoch}: val_acc {event.val_acc:.4f}")
    elif isinstance(event, TrialPruned):
        typer.echo(f"trial {event.trial} {event.message}")
    elif isinstance(event, TrialEnded):
        value = f" val_acc {event.value:.4f}" if event.value is not None else ""
        note = f" ({event.message})" if event.status not in ("finished",) and event.message else ""
        typer.echo(f"trial {event.trial} {event.status}{value}{note}")
    elif isinstance(event, SweepEnded):
        pass


# ---------------------------------------------------------------- sweeps list/show/stop


def sweeps_list(as_json: JsonOption = False) -> None:
    """Every sweep of the run store, newest first."""
    from engine.sweep import list_sweeps

    s = store()
    rows = list_sweeps(s)
    show_warnings(s)
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo(f"no sweeps in {s.root}; start one with `resnet-tui sweep --help`")
        return
    for row in rows:
        row["done"] = f"{row['finished']}/{row['planned']}"
    columns = ("name", "mode", "status", "done", "running", "best_val_acc")
    console().print(table(f"sweeps in {s.root}", columns, rows))


def sweeps_show(
    sweep_name: Annotated[str, typer.Argument(metavar="SWEEP")],
    study: Annotated[
        bool, typer.Option(help="Also list the study's trials from every machine (--join).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """A sweep's trials, its best trial, and accuracy against each swept key (seed 003's
    "optimizer vs accuracy", "learning rate vs accuracy")."""
    from engine.sweep import resolve_sweep, study_trials, sweep_summary

    s = store()
    name = resolve_sweep(s, sweep_name)
    summary = sweep_summary(s, name)
    if study:
        summary["study"] = study_trials(s, name)
    show_warnings(s)
    if as_json:
        print_json(summary)
        return
    print_summary(summary)
    if study:
        rows = [
            {**r, "params": _params(r["params"]), "worker": r["worker"] or "-"}
            for r in summary["study"]
        ]
        columns = ("trial", "state", "params", "value", "worker")
        console().print(table("the study (every machine)", columns, rows))


def sweeps_stop(sweep_name: Annotated[str, typer.Argument(metavar="SWEEP")]) -> None:
    """Stop a running sweep: its trials stop at a checkpoint; `sweep --resume` continues."""
    from engine.sweep import request_sweep_stop, resolve_sweep

    s = store()
    name = resolve_sweep(s, sweep_name)
    request_sweep_stop(s, name)
    typer.echo(f"asked sweep {name} to stop; continue it with `resnet-tui sweep --resume {name}`")


def sweeps_rm(
    sweep_name: Annotated[str, typer.Argument(metavar="SWEEP")],
    runs: Annotated[
        bool, typer.Option("--runs", help="Delete its trial runs too (they stay otherwise).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete a sweep (its document, log and study); its trials stay as runs unless --runs."""
    from engine.sweep import delete_sweep, resolve_sweep

    s = store()
    name = resolve_sweep(s, sweep_name)
    trials = sum(1 for d in s.list_runs() if d.get("sweep") == name)
    what = f"sweep {name}" + (f" and its {trials} trial runs" if runs else "")
    if not yes and not typer.confirm(f"delete {what}?", default=False):
        fail("nothing deleted", 1)
    deleted = delete_sweep(s, name, with_runs=runs)
    kept = "" if runs else f"; its {trials} trial runs stay (`runs list`)"
    typer.echo(f"deleted sweep {name}" + (f" and {len(deleted)} runs" if runs else kept))


def print_summary(summary: dict[str, Any]) -> None:
    c = console()
    doc = summary["sweep"]
    counts = ", ".join(f"{n} {status}" for status, n in sorted(summary["counts"].items()))
    c.print(
        f"[bold]{doc['name']}[/]  {doc.get('mode')} of {doc.get('preset')}  status "
        f"[bold]{doc['status']}[/]  trials: {counts or 'none yet'} (of {summary['planned']})"
    )
    keys = summary["keys"]
    rows = [
        {
            "trial": r["trial"],
            **{k: _value(r["params"][k]) if k in r["params"] else None for k in keys},
            "status": r["status"],
            "val_acc": r["val_acc"],
            "test_acc": r["test_acc"],
        }
        for r in summary["trials"]
    ]
    if rows:
        c.print(table("trials", ["trial", *keys, "status", "val_acc", "test_acc"], rows))
    best = summary["best"]
    if best:
        test = f", test_acc {best['test_acc']:.4f}" if best["test_acc"] is not None else ""
        c.print(
            f"best: trial {best['trial']} ({_params(best['params'])}): val_acc "
            f"{best['val_acc']:.4f}{test}  run {best['run']}"
        )
    for key, by_value in summary["by_param"].items():
        if not by_value:
            continue
        shown = [{key: _value(row["value"]), **row} for row in by_value]
        columns = [key, "trials", "best_val_acc", "mean_val_acc", "test_acc"]
        c.print(table(f"{key} vs accuracy", columns, shown))


def register(app: typer.Typer) -> None:
    """Add ``sweep`` and ``sweeps list/show/stop`` to the CLI."""
    app.command("sweep")(user_errors(sweep))
    group = typer.Typer(
        help="Sweeps: their trials and accuracy per swept key.", no_args_is_help=True
    )
    group.command("list")(user_errors(sweeps_list))
    group.command("show")(user_errors(sweeps_show))
    group.command("rm")(user_errors(sweeps_rm))
    group.command("stop")(user_errors(sweeps_stop))
    app.add_typer(group, name="sweeps")
