"""Sweeps (seed 004's grid search, seed 003's Figure 5): ``sweep`` and
``sweeps list/show/stop/rm``.

``register(app)`` adds them. The work is the engine API's: ``compute.check_sweep``,
``create_sweep``/``join_sweep``, ``run_sweep`` or ``start_sweep`` (torch and Optuna, imported
by ``sweep`` only), and the torch-free ``api.list_sweeps``, ``sweep_summary``, ``stop_sweep``,
``delete_sweep``, ``resume_sweep``; this module parses options and renders. Only typer is
imported at the top, so ``resnet-tui --help`` never imports torch or optuna.
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
    show_warnings,
    store,
)

if TYPE_CHECKING:
    from engine import api
    from engine.api import compute


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_value(v)}" for k, v in params.items())


def _value(v: Any) -> str:
    """A swept value: a sampled float to 4 significant digits, the rest as given."""
    return f"{v:.4g}" if isinstance(v, float) else t.config_value(v)


SweepArgument = Annotated[str, typer.Argument(metavar="SWEEP", help="A sweep (name or prefix).")]


# ---------------------------------------------------------------- sweep


def sweep(
    preset: Annotated[
        str | None,
        typer.Argument(metavar="PRESET", help="A preset name or a TOML file [digits-quick]."),
    ] = None,
    grid: Annotated[
        list[str] | None,
        typer.Option(
            metavar="KEY=V1,V2", help="Sweep every combination of these values (repeatable)."
        ),
    ] = None,
    search: Annotated[
        int | None,
        typer.Option(metavar="N", help="Sample N trials with Optuna (TPE) instead of a grid."),
    ] = None,
    ranges: Annotated[
        list[str] | None,
        typer.Option(
            "--range",
            metavar="KEY=LOW:HIGH",
            help="A numeric range to search, [:log][:int] after HIGH (repeatable).",
        ),
    ] = None,
    choices: Annotated[
        list[str] | None,
        typer.Option(
            "--choice", metavar="KEY=A,B", help="A categorical choice to search (repeatable)."
        ),
    ] = None,
    sets: SetOption = None,
    name: Annotated[
        str,
        typer.Option(
            metavar="NAME", help="The sweep's name [derived from the request: re-run = continue]."
        ),
    ] = "",
    parallel: Annotated[
        int | None,
        typer.Option(metavar="N", help="Trials at once [one per GPU; 1 on the CPU]."),
    ] = None,
    storage: Annotated[
        str,
        typer.Option(
            metavar="PATH|URL",
            help="Where the Optuna study lives: a journal file, or a URL "
            "(postgresql://, mysql://, sqlite:///, redis://) [runs/sweeps/NAME.journal].",
        ),
    ] = "",
    resume: Annotated[
        str | None,
        typer.Option(metavar="SWEEP", help="Continue a sweep of this run store (name or prefix)."),
    ] = None,
    join: Annotated[
        str | None,
        typer.Option(
            metavar="NAME", help="Work on the study of this name in --storage (another machine's)."
        ),
    ] = None,
    prune: Annotated[
        bool, typer.Option(help="Search: stop trials whose val acc is below the median.")
    ] = True,
    prune_startup: Annotated[
        int,
        typer.Option(metavar="N", help="Search: trials that must finish before any is pruned."),
    ] = 3,
    seed: Annotated[int, typer.Option(metavar="N", help="The sampler's seed.")] = 0,
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
    from engine import api

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
        if join and not storage:
            fail(f"--join {join}: give the study's --storage URL (docs/SCALE.md)")
    if resume:
        sweep_name = api.resolve_sweep(s, resume)
        if detach:
            _say_detached(api.resume_sweep(s, sweep_name, parallel))
            return
    from engine.api import compute

    if join:
        sweep_name = compute.join_sweep(s, join, storage).name
        if detach:
            _say_detached(api.resume_sweep(s, sweep_name, parallel))
            return
    elif not resume:
        request = api.SweepRequest(
            preset,
            tuple(sets or ()),
            grid=tuple(grid or ()),
            ranges=tuple(ranges or ()),
            choices=tuple(choices or ()),
            search=search,
            name=name,
            prune=prune,
            prune_startup=prune_startup,
            seed=seed,
            parallel=parallel,
            storage=storage,
        )
        if detach:
            _say_detached(compute.start_sweep(s, request)[1])  # checks, records, starts
            return
        spec = compute.check_sweep(s, request)  # the same request again: continue it
        sweep_name = compute.create_sweep(s, spec, storage).name
    record = api.get_sweep(s, sweep_name)
    if not quiet:
        spec_line = "; ".join(
            p.describe() for p in api.SweepSpec.from_dict(dict(record.spec)).params
        )
        typer.echo(f"sweep {sweep_name} ({record.mode}, {record.planned} trials): {spec_line}")
    record = compute.run_sweep(s, sweep_name, parallel=parallel, on_event=None if quiet else _echo)
    print_summary(api.sweep_summary(s, sweep_name))
    typer.echo(f"sweep {sweep_name}: {record.status} ({record.message})")


def _say_detached(launched: api.Launched) -> None:
    typer.echo(
        f"sweep {launched.what} running in the background (pid {launched.pid}); follow it with "
        f"`resnet-tui sweeps show {launched.what}`; log: {launched.log}"
    )


def _echo(event: compute.SweepEvent) -> None:
    from engine.api import compute

    if isinstance(event, compute.TrialStarted):
        how = (
            "still running, followed"
            if event.adopted
            else "resumed"
            if event.resumed
            else "started"
        )
        typer.echo(f"trial {event.trial} {how}: {_params(event.params)} (run {event.run_id})")
    elif isinstance(event, compute.TrialEpoch):
        typer.echo(f"trial {event.trial} epoch {event.epoch}: val acc {t.pct(event.val_acc)}")
    elif isinstance(event, compute.TrialPruned):
        typer.echo(f"trial {event.trial} {event.message}")
    elif isinstance(event, compute.TrialEnded):
        value = f" val acc {t.pct(event.value)}" if event.value is not None else ""
        note = f" ({event.message})" if event.status not in ("finished",) and event.message else ""
        typer.echo(f"trial {event.trial} {event.status}{value}{note}")


# ---------------------------------------------------------------- sweeps list/show/stop/rm


def sweeps_list(as_json: JsonOption = False) -> None:
    """Every sweep of the run store, newest first."""
    from engine import api

    s = store()
    rows = api.list_sweeps(s)
    show_warnings(s)
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo(f"no sweeps in {s.root}; start one with `resnet-tui sweep --help`")
        return
    for row in rows:
        row["done"] = f"{row['finished']}/{row['planned']}"
    t.print_table(f"sweeps in {s.root}", SWEEP_COLUMNS, rows, console())


SWEEP_COLUMNS = (
    t.ident("name"),
    t.secondary("mode", keep=1),
    t.secondary("status", keep=2),
    t.number("done"),
    t.number("running"),
    t.accuracy("best_val_acc", "best val"),
)
STUDY_COLUMNS = (
    t.ident("trial", right=True),
    t.secondary("state", keep=1),
    t.description("params"),
    t.accuracy("value", "val acc"),
    t.secondary("worker"),
)


def sweeps_show(
    sweep_name: SweepArgument,
    study: Annotated[
        bool, typer.Option(help="Also list the study's trials from every machine (--join).")
    ] = False,
    importance: Annotated[
        bool,
        typer.Option(
            "--importance",
            help="Also how much each swept key explains the val accuracy (Optuna's fANOVA).",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """A sweep's trials, its best trial, and accuracy against each swept key (seed 003's
    "optimizer vs accuracy", "learning rate vs accuracy"); with --importance, each key's
    share of the val accuracy's variance over the finished trials."""
    from engine import api

    s = store()
    name = api.resolve_sweep(s, sweep_name)
    summary = api.sweep_summary(s, name)
    if study or importance:
        from engine.api import compute

        if study:
            summary["study"] = compute.study_trials(s, name)
        if importance:
            summary["importance"] = compute.sweep_importance(s, name).to_json()
    show_warnings(s)
    if as_json:
        print_json(summary)
        return
    print_summary(summary)
    if importance:
        print_importance(api.Importance.from_json(summary["importance"]))
    if study:
        rows = [
            {**r, "params": _params(r["params"]), "worker": r["worker"] or "-"}
            for r in summary["study"]
        ]
        t.print_table("the study (every machine)", STUDY_COLUMNS, rows, console())


def sweeps_stop(sweep_name: SweepArgument) -> None:
    """Stop a running sweep: its trials stop at a checkpoint; `sweep --resume` continues."""
    from engine import api

    s = store()
    name = api.resolve_sweep(s, sweep_name)
    api.stop_sweep(s, name)
    typer.echo(f"asked sweep {name} to stop; continue it with `resnet-tui sweep --resume {name}`")


def sweeps_rm(
    sweep_name: SweepArgument,
    runs: Annotated[
        bool, typer.Option("--runs", help="Delete its trial runs too (they stay otherwise).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete a sweep (its document, log and study); its trials stay as runs unless --runs."""
    from engine import api

    s = store()
    name = api.resolve_sweep(s, sweep_name)
    trials = sum(1 for r in api.list_runs(s) if r.sweep and r.sweep.name == name)
    what = f"sweep {name}" + (f" and its {trials} trial runs" if runs else "")
    if not yes and not typer.confirm(f"delete {what}?", default=False):
        fail("nothing deleted", 1)
    deleted = api.delete_sweep(s, name, with_runs=runs)
    kept = "" if runs else f"; its {trials} trial runs stay (`runs list`)"
    typer.echo(f"deleted sweep {name}" + (f" and {len(deleted)} runs" if runs else kept))


def print_summary(summary: dict[str, Any]) -> None:
    """A sweep's header line, its trials, its best trial and accuracy per swept value
    (``api.sweep_summary``)."""
    from engine import api

    c = console()
    sweep = api.SweepRecord.from_json(summary["sweep"])
    counts = ", ".join(f"{n} {status}" for status, n in sorted(summary["counts"].items()))
    c.print(
        f"[bold]{sweep.name}[/]  {sweep.mode} of {sweep.preset}  status "
        f"[bold]{sweep.status}[/]  trials: {counts or 'none yet'} (of {summary['planned']})"
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
        columns = [
            t.ident("trial", right=True),
            *(t.number(k, show=str) for k in keys),
            t.secondary("status"),
            t.accuracy("val_acc", "val acc"),
            t.accuracy("test_acc", "test acc"),
        ]
        t.print_table("trials", columns, rows, c)
    best = summary["best"]
    if best:
        test = f", test acc {t.pct(best['test_acc'])}" if best["test_acc"] is not None else ""
        c.print(
            f"best: trial {best['trial']} ({_params(best['params'])}): val acc "
            f"{t.pct(best['val_acc'])}{test}  run {best['run']}",
            markup=False,
        )
    for key, by_value in summary["by_param"].items():
        if not by_value:
            continue
        shown = [{**row, key: _value(row["value"])} for row in by_value]
        columns = [
            t.ident(key),
            t.number("trials"),
            t.accuracy("best_val_acc", "best val"),
            t.accuracy("mean_val_acc", "mean val"),
            t.accuracy("test_acc", "test acc"),
        ]
        t.print_table(f"{key} vs accuracy", columns, shown, c)


IMPORTANCE_BAR = 20  # cells at 100%


def print_importance(found: api.Importance) -> None:
    """Each swept key's importance, most important first, with a bar; or why there is none.
    The trials left out are named."""
    from resnet_tui.widgets import format as fmt

    c = console()
    if found.message:
        c.print(found.message, markup=False)
    else:
        where = "its study's" if found.source == "study" else "its"
        rows = [
            {
                "key": p.key,
                "importance": fmt.share(p.importance),
                "bar": fmt.bar(p.importance, IMPORTANCE_BAR).rstrip()
                if p.importance is not None
                else "(one value: no share)",
            }
            for p in found.params
        ]
        columns = (
            t.ident("key", "parameter"),
            t.number("importance", show=str),
            t.secondary("bar", "", show=str, keep=1),
        )
        title = f"parameter importance (fANOVA over {where} {found.trials} finished trials)"
        t.print_table(title, columns, rows, c)
    if found.left_out:
        left = ", ".join(
            f"trial {x.trial if x.trial is not None else '?'} ({x.status})" for x in found.left_out
        )
        c.print(f"left out: {left}", style="dim", markup=False)


def register(app: typer.Typer) -> None:
    """Add ``sweep`` and ``sweeps list/show/stop/rm`` to the CLI."""
    command(app, "sweep", sweep)
    group = typer.Typer(
        help="Sweeps: their trials and accuracy per swept key.", no_args_is_help=True
    )
    command(group, "list", sweeps_list)
    command(group, "show", sweeps_show)
    command(group, "rm", sweeps_rm)
    command(group, "stop", sweeps_stop)
    app.add_typer(group, name="sweeps")
