"""Run actions shared by the views: launch, stop, resume, delete, stack, sweep, ablate.

Each goes through the engine API (``engine.api``; what needs torch through the engine's helper
process, ``app.helper``), touches the store or starts a process, so each runs in a thread
worker and reports back with a notification. A refusal is the engine's own message, in the
same words the CLI prints, shown as an error notification, never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.markup import escape

from engine import api
from engine.api.remote import HelperError
from resnet_tui.state import Console


def launch(app: Console, request: api.RunRequest) -> tuple[api.RunRecord, api.Launched]:
    """The console's one way to start a run (call from a worker thread): the request planned,
    checked by the same code as the CLI's (the helper process runs the torch half), recorded
    and started in a detached worker. A refusal is raised before anything is written."""
    plan = api.plan_run(request)
    try:
        app.helper.check_run(request, app.store.root)
    except HelperError as exc:  # no helper: the trainer checks the model and data itself
        app.call_from_thread(app.notify, f"not checked before launching: {exc}", severity="warning")
    record = api.create_run(app.store, plan)
    launched = api.start_run(app.store, record.id, plan)
    app.follower.invalidate()
    return record, launched


def launched(app: Console, record: api.RunRecord, pid: int) -> None:
    """After a launch (UI thread): say so and show the run in the Monitor."""
    clash = (
        f"; a run named {record.name_taken} exists, so this one is {record.name}"
        if record.name_taken
        else ""
    )
    app.notify(
        f"{record.id} (pid {pid}) trains on its own: quitting does not stop it{clash}",
        title="launched",
    )
    app.state.monitor_focus = record.id
    app.switch_mode("monitor")


def launch_preset(app: Console, preset: str) -> None:
    """Train a preset as it is: first asked once, with the run's name (editable), its data
    and its device; enter trains it, escape does not."""
    from resnet_tui.screens.dialogs import NameRunScreen

    try:
        plan = api.plan_run(api.RunRequest(preset))
    except api.UserError as exc:
        app.notify(str(exc), title="not launched", severity="error", markup=False)
        return

    def named(name: str | None) -> None:
        if name is None:
            return

        def work() -> None:
            try:
                record, started = launch(app, api.RunRequest(preset, name=name))
            except api.UserError as exc:
                app.call_from_thread(
                    app.notify, str(exc), title="not launched", severity="error", markup=False
                )
                return
            app.call_from_thread(launched, app, record, started.pid)

        app.run_worker(work, thread=True, group="actions", name=f"launch {preset}")

    app.push_screen(
        NameRunScreen(
            f"Train preset {preset}",
            escape(describe_plan(plan)),
            plan.preset or preset,
            go="Train",
        ),
        named,
    )


def describe_plan(plan: api.RunPlan) -> str:
    """What a run of ``plan`` trains, on what data and where, in three lines."""
    c = plan.config
    data, train = c.data, c.train
    device = (
        "auto (cuda if this machine has it, else mps, else cpu)"
        if train.device == "auto"
        else train.device
    )
    processes = f" · {train.devices} processes" if train.devices > 1 else ""
    return (
        f"model {c.model.name} · {train.epochs} epochs · batch {data.batch_size}\n"
        f"data {data.name} (from {data.root}; val {data.val_fraction:g}, "
        f"test {data.test_fraction:g})\n"
        f"device {device}{processes}\n"
        "It trains in a process of its own: quitting the console does not stop it. "
        "To change it first: e in the Presets view (the Launch form)."
    )


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
        except (api.UserError, HelperError) as exc:
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
    """Ask (naming the run; y or enter stops it, n or escape does not), then ask its trainer
    to stop. A run that is not running is refused at once, in the engine's words."""
    from resnet_tui.screens.dialogs import ConfirmScreen
    from resnet_tui.widgets.experiments import ablation_group

    run = app.state.runs_by_id.get(run_id)
    resume = (
        "g in its detail resumes the ablation's queue"
        if ablation_group(run)
        else "resume it with r"
    )

    def act() -> str:
        api.stop_run(app.store, run_id)
        return (
            f"asked run {run_id} to stop: it finishes the step, saves a checkpoint and is "
            f"marked stopped ({resume})"
        )

    def confirmed(yes: bool | None) -> None:
        if yes:
            in_background(app, f"stop {run_id}", act, "stopping", "not stopped")

    if run is None or not run.active:
        confirmed(True)  # nothing to ask: the engine says why it cannot stop
        return
    queue = " and the ablation's queue after it" if ablation_group(run) else ""
    app.push_screen(
        ConfirmScreen(
            f"Stop run [b]{escape(run.name or run.id)}[/b] ({escape(run.id)}){queue}?\n"
            f"It finishes the step, saves a checkpoint and is marked stopped ({resume}).",
            yes="Stop",
            enter_confirms=True,
        ),
        confirmed,
    )


def resume_run(app: Console, run_id: str) -> None:
    def act() -> str:
        started = api.resume_run(app.store, run_id)
        return f"run {run_id} resumes from its checkpoint (pid {started.pid})"

    in_background(app, f"resume {run_id}", act, "resumed", "not resumed")


def rename_run(app: Console, run: api.RunRecord) -> None:
    """Ask for a new name, then rename (the engine refuses a name another run has, in the
    CLI's words)."""
    from resnet_tui.screens.dialogs import NameRunScreen

    def named(name: str | None) -> None:
        if not name or name == run.name:
            return

        def act() -> str:
            record = api.rename_run(app.store, run.id, name)
            return f"renamed run {record.id}: '{run.name}' -> '{record.name}'"

        in_background(app, f"rename {run.id}", act, "renamed", "not renamed")

    app.push_screen(
        NameRunScreen(
            "Rename run", f"{escape(run.id)}", run.name, go="Rename", label="its new name"
        ),
        named,
    )


def delete_run(app: Console, run: api.RunRecord, after: Any = None) -> None:
    """Ask, then delete the run's folder and record (the engine refuses a running run)."""
    from resnet_tui.screens.dialogs import ConfirmScreen

    if run.active and api.is_alive(run):
        app.notify(
            f"run {run.id} is {run.status}: stop it first (x)",
            title="not deleted",
            severity="error",
        )
        return

    def act() -> str:
        return f"deleted run {api.delete_run(app.store, run.id)}"

    def confirmed(yes: bool | None) -> None:
        if yes:
            app.state.selection.discard(run.id)
            in_background(app, f"delete {run.id}", act, "deleted", "not deleted", after=after)

    app.push_screen(
        ConfirmScreen(
            f"Delete run [b]{escape(run.name or run.id)}[/b] ({run.id})?\n"
            "Its folder (checkpoints, metrics, logs) is removed for good.",
            yes="Delete",
        ),
        confirmed,
    )


def stack_selected(app: Console) -> None:
    """Stack the selected runs into an ensemble, after asking (the members, an editable
    name); the engine says which cannot be stacked."""
    from resnet_tui.screens.dialogs import NameRunScreen

    if len(app.state.selection) < 2:
        app.notify(
            "select two or more finished runs with space in the Runs view (4) first, "
            "then k stacks them",
            severity="warning",
        )
        return
    # Oldest first: members are numbered m1, m2, ... in the order they were made.
    docs = [app.state.runs_by_id[run_id] for run_id in app.state.selection]
    docs.sort(key=lambda d: (str(d.created or ""), d.id))
    members = [d.id for d in docs]
    names = [d.name or d.id for d in docs]
    default = "stacked-" + "-".join(dict.fromkeys(names))
    default = default if len(default) <= 48 else f"stacked-{len(names)}-runs"

    def confirmed(name: str | None) -> None:
        if name is not None:
            stack_runs(app, members, name)

    shown = "\n".join(
        f"  m{i + 1}  {escape(n)}  ({d.id})"
        for i, (n, d) in enumerate(zip(names, docs, strict=True))
    )
    app.push_screen(
        NameRunScreen(
            f"Stacked ensemble of {len(members)} finished runs [seed 000]",
            f"A linear layer over their logits, trained on the train split:\n{shown}",
            default,
            go="Stack",
        ),
        confirmed,
    )


def stack_runs(app: Console, run_ids: list[str], name: str = "") -> None:
    """Stack finished runs (seed 000): the engine checks the members here (torch-free),
    records the stacked run (queued) and trains it in a worker process of its own session,
    so quitting the console does not stop it; the run shows in the Runs view at once, and
    its status and message say how it went."""

    def act() -> str:
        record, started = api.start_stack(app.store, api.StackRequest(tuple(run_ids), name))
        return (
            f"stacked run {record.name} ({record.id}) trains in the background (pid "
            f"{started.pid}): its members' logits first, then the linear layer"
        )

    in_background(app, "stack", act, "stacking", "not stacked", group="stack")


# ---------------------------------------------------------------- sweeps and ablations


def new_sweep(app: Console, preset: str = "", template: api.SweepRecord | None = None) -> None:
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
    from resnet_tui.screens.experiment_forms import AblationFormScreen

    def started(started: api.Launched | None) -> None:
        if started is None:
            return
        app.notify(
            f"ablation {started.what}: {len(started.run_ids)} runs train one after another "
            "in the background; x on the running one stops the queue",
            title="ablation started",
            markup=False,
        )
        app.state.selection.clear()
        app.state.selection.update(started.run_ids)
        app.switch_mode("compare")

    app.push_screen(AblationFormScreen(preset), started)


def stop_sweep(app: Console, name: str) -> None:
    """Ask (naming the sweep; y or enter stops it), then stop its process."""
    from resnet_tui.screens.dialogs import ConfirmScreen

    def act() -> str:
        api.stop_sweep(app.store, name)
        return f"asked sweep {name} to stop: its trials stop at a checkpoint (r resumes it)"

    def confirmed(yes: bool | None) -> None:
        if yes:
            in_background(app, f"stop sweep {name}", act, "stopping", "not stopped")

    try:
        running = api.get_sweep(app.store, name).status in ("queued", "running")
    except api.UserError:
        running = False
    if not running:
        confirmed(True)  # nothing to ask: the engine says why it cannot stop
        return
    app.push_screen(
        ConfirmScreen(
            f"Stop sweep [b]{escape(name)}[/b]?\nIts running trials stop at a checkpoint; "
            "r resumes the sweep where it stopped.",
            yes="Stop",
            enter_confirms=True,
        ),
        confirmed,
    )


def resume_sweep(app: Console, name: str) -> None:
    """Continue a sweep that is not running or finished (``sweep --resume NAME``)."""

    def act() -> str:
        started = api.resume_sweep(app.store, name)
        return (
            f"sweep {name} continues in the background (pid {started.pid}): finished trials "
            "are kept, stopped ones resume"
        )

    in_background(app, f"resume sweep {name}", act, "resumed", "not resumed")


def resume_ablation(app: Console, group: str) -> None:
    """Train the group's unfinished runs one after another, as its queue would have."""

    def act() -> str:
        started = api.resume_ablation(app.store, group)
        count = len(started.run_ids)
        return f"ablation {group}: {count} runs resume one after another (pid {started.pid})"

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
        deleted = api.delete_sweep(app.store, name, with_runs=with_runs)
        runs = f" and its {len(deleted)} runs" if with_runs else "; its trials stay as runs"
        return f"deleted sweep {name}{runs}"

    in_background(app, f"delete sweep {name}", act, "deleted", "not deleted", after=after)
