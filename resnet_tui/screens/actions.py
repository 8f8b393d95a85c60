"""Run actions shared by the views: launch, stop, resume, delete, stack, sweep, ablate.

Each touches the store or starts a process, so each runs in a thread worker and reports back
with a notification; a refusal (a running run cannot be deleted, a finished one cannot be
resumed) is the store's own message, shown as an error notification, never a traceback.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.markup import escape

from engine.config import RunConfig
from engine.errors import UserError
from resnet_tui.cli_client import cli_error
from resnet_tui.state import Console


def start_run(app: Console, config: RunConfig, name: str, preset: str) -> tuple[str, int]:
    """Create the run and start its trainer detached (call from a worker thread)."""
    from engine.runner import launch_detached

    doc = app.store.create_run(config.to_dict(), name=name, preset=preset)
    pid = launch_detached(app.store, doc["id"])
    app.follower.launched(pid)
    app.follower.invalidate()
    return str(doc["id"]), pid


def launched(app: Console, run_id: str, pid: int) -> None:
    """After a launch (UI thread): say so and show the run in the Monitor."""
    app.notify(
        f"{run_id} (pid {pid}) trains on its own: quitting does not stop it", title="launched"
    )
    app.state.monitor_focus = run_id
    app.switch_mode("monitor")


def launch_preset(app: Console, preset: str) -> None:
    """Quick launch: the preset as it is, under the preset's name."""

    def work() -> None:
        from engine.presets import resolve

        try:
            config, name = resolve(preset)
            run_id, pid = start_run(app, config, "", name)
        except UserError as exc:
            app.call_from_thread(app.notify, str(exc), title="not launched", severity="error")
            return
        app.call_from_thread(launched, app, run_id, pid)

    app.run_worker(work, thread=True, group="actions", name=f"launch {preset}")


def in_background(
    app: Console,
    name: str,
    act: Callable[[], str],
    title: str,
    refused: str,
    *,
    after: Callable[[], Any] | None = None,
    group: str = "actions",
    exclusive: bool = False,
) -> None:
    """Run ``act`` in a thread worker (it touches the store or starts a process); its message
    becomes a notification titled ``title``. A refusal (UserError, or an OSError starting a
    process) is an error notification titled ``refused``, never a traceback. ``after`` runs
    on the UI thread once it succeeded."""

    def work() -> None:
        try:
            message = act()
        except UserError as exc:
            text = str(exc)
        except OSError as exc:
            text = f"cannot {name}: {exc.strerror or exc}"
        else:
            app.follower.invalidate()
            app.call_from_thread(app.notify, message, title=title, markup=False)
            if after is not None:
                app.call_from_thread(after)
            return
        app.call_from_thread(app.notify, text, title=refused, severity="error", markup=False)

    app.run_worker(work, thread=True, group=group, exclusive=exclusive, name=name)


def stop_run(app: Console, run_id: str) -> None:
    def act() -> str:
        from engine.runner import request_stop
        from resnet_tui.widgets.experiments import ablation_group

        request_stop(app.store, run_id)
        resume = (
            "g in its detail resumes the ablation's queue"
            if ablation_group(app.state.runs_by_id.get(run_id))
            else "resume it with r"
        )
        return (
            f"asked run {run_id} to stop: it finishes the step, saves a checkpoint and is "
            f"marked stopped ({resume})"
        )

    in_background(app, f"stop {run_id}", act, "stopping", "not stopped")


def resume_run(app: Console, run_id: str) -> None:
    def act() -> str:
        from engine.runner import check_resumable, launch_detached

        check_resumable(app.store, run_id)
        pid = launch_detached(app.store, run_id)
        app.follower.launched(pid)
        return f"run {run_id} resumes from its checkpoint (pid {pid})"

    in_background(app, f"resume {run_id}", act, "resumed", "not resumed")


def delete_run(app: Console, doc: dict[str, Any], after: Any = None) -> None:
    """Ask, then delete the run's folder and document (the store refuses a running run)."""
    from resnet_tui.screens.dialogs import ConfirmScreen

    run_id = doc["id"]
    if doc.get("status") in ("running", "queued") and app.store.is_alive(doc):
        app.notify(
            f"run {run_id} is {doc['status']}: stop it first (x)",
            title="not deleted",
            severity="error",
        )
        return

    def act() -> str:
        app.store.delete(run_id)
        return f"deleted run {run_id}"

    def confirmed(yes: bool | None) -> None:
        if yes:
            app.state.selection.discard(run_id)
            in_background(app, f"delete {run_id}", act, "deleted", "not deleted", after=after)

    app.push_screen(
        ConfirmScreen(
            f"Delete run [b]{escape(str(doc.get('name') or run_id))}[/b] ({run_id})?\n"
            "Its folder (checkpoints, metrics, logs) is removed for good.",
            yes="Delete",
        ),
        confirmed,
    )


STACK_LOGS = "stacks"  # <store>/stacks/stack-<time>.log: the output of each stack process


def stack_runs(app: Console, run_ids: list[str], name: str = "") -> None:
    """Stack finished runs (seed 000) in a process of its own: ``resnet-tui stack ... --json``.

    The engine (torch) never loads in the console: the process checks the members, computes
    their logits and trains the stacking layer; the stacked run shows up in the store when it
    is created. It runs in its own session, so quitting the console does not stop it. Its
    refusal (members on different data, unfinished, without best.pt: exit 2) or failure is
    shown as a notification, with the error line the CLI printed.
    """

    def work() -> None:
        from textual.worker import get_current_worker

        worker = get_current_worker()
        folder = app.store.root / STACK_LOGS
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        log_path = folder / f"stack-{stamp}-{os.getpid()}-{len(run_ids)}.log"
        from engine.runner import cli_command

        command = cli_command(app.store.root, "stack", *run_ids, "--json")
        command += ["--name", name] if name else []
        try:
            folder.mkdir(parents=True, exist_ok=True)
            from engine.runner import spawn_detached

            process = spawn_detached(command, log_path)
        except OSError as exc:
            app.call_from_thread(
                app.notify,
                f"cannot start `resnet-tui stack`: {exc.strerror or exc}",
                title="not stacked",
                severity="error",
                markup=False,
            )
            return
        app.call_from_thread(
            app.notify,
            f"stacking {len(run_ids)} runs in the background (pid {process.pid}): the stacked "
            f"run appears in the Runs view when its members' logits are computed; log {log_path}",
            title="stacking",
            markup=False,
        )
        # Wait for it while the console runs (and reap it); when the console quits first,
        # the process goes on by itself.
        while process.poll() is None:
            if worker.is_cancelled or app.closing:
                return
            time.sleep(0.2)
        app.follower.invalidate()
        app.call_from_thread(_stack_ended, app, process.returncode, log_path)

    app.run_worker(work, thread=True, group="stack", name="stack", exit_on_error=False)


def _stack_ended(app: Console, code: int, log_path: Path) -> None:
    try:
        text = log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    if code == 0:
        import json

        try:
            report, _ = json.JSONDecoder().raw_decode(text[text.index("{") :])
            run_id, message = report["run_id"], report.get("message", "")
        except (ValueError, KeyError, TypeError):
            run_id, message = "", ""
        app.notify(
            f"stacked run {run_id or '(see the Runs view)'}: {message}".strip(),
            title="stacked",
            markup=False,
        )
        return
    app.notify(
        cli_error(text),
        title="not stacked" if code == 2 else f"stacking failed (exit {code})",
        severity="error",
        timeout=20,
        markup=False,
    )


# ---------------------------------------------------------------- sweeps and ablations


def new_sweep(app: Console, preset: str = "", template: dict[str, Any] | None = None) -> None:
    """The sweep form (filled from the sweep document ``template`` when given); once the
    sweep is started, the Sweeps view shows it."""
    from resnet_tui.screens.experiment_forms import SweepFormScreen

    def started(name: str | None) -> None:
        if not name:
            return
        app.notify(
            f"sweep {name} runs in the background: quitting the console does not stop it "
            "(x in the Sweeps view does)",
            title="sweep started",
            markup=False,
        )
        app.state.sweep_focus = name
        app.switch_mode("sweeps")

    app.push_screen(SweepFormScreen(preset, template), started)


def new_ablation(app: Console, preset: str = "") -> None:
    """The ablation form; once its runs are queued, the Compare view shows them."""
    from resnet_tui.screens.experiment_forms import AblationFormScreen, parse_ablation_result

    def started(result: str | None) -> None:
        started = parse_ablation_result(result)
        if started is None:
            return
        app.notify(
            f"ablation {started.group}: {len(started.run_ids)} runs train one after another "
            "in the background; x on the running one stops the queue",
            title="ablation started",
            markup=False,
        )
        app.state.selection.clear()
        app.state.selection.update(started.run_ids)
        app.switch_mode("compare")

    app.push_screen(AblationFormScreen(preset), started)


def stop_sweep(app: Console, name: str) -> None:
    def act() -> str:
        from engine.sweep import request_sweep_stop

        request_sweep_stop(app.store, name)
        return f"asked sweep {name} to stop: its trials stop at a checkpoint (r resumes it)"

    in_background(app, f"stop sweep {name}", act, "stopping", "not stopped")


def resume_sweep(app: Console, name: str) -> None:
    """Continue a sweep that is not running or finished (``sweep --resume NAME``)."""

    def act() -> str:
        from engine.sweep import get_sweep, launch_sweep_detached

        doc = get_sweep(app.store, name)
        if doc.get("status") in ("running", "finished"):
            raise UserError(f"sweep {name} is {doc.get('status')}: nothing to resume")
        pid = launch_sweep_detached(app.store, name)
        return (
            f"sweep {name} continues in the background (pid {pid}): finished trials are kept, "
            "stopped ones resume"
        )

    in_background(app, f"resume sweep {name}", act, "resumed", "not resumed")


def resume_ablation(app: Console, group: str) -> None:
    """Train the group's unfinished runs one after another, as its queue would have."""

    def act() -> str:
        from engine.ablation import resume_ablation

        run_ids, pid = resume_ablation(app.store, group)
        app.follower.launched(pid)
        return f"ablation {group}: {len(run_ids)} runs resume one after another (pid {pid})"

    in_background(
        app,
        f"resume {group}",
        act,
        "resumed",
        "not resumed",
        group="resume-ablation",
        exclusive=True,
    )


def delete_sweep(app: Console, name: str, with_runs: bool, after: Any = None) -> None:
    def act() -> str:
        from engine.sweep import delete_sweep as delete

        deleted = delete(app.store, name, with_runs=with_runs)
        runs = f" and its {len(deleted)} runs" if with_runs else "; its trials stay as runs"
        return f"deleted sweep {name}{runs}"

    in_background(app, f"delete sweep {name}", act, "deleted", "not deleted", after=after)
