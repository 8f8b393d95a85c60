"""Sweeps: request parsing, bad requests, and real sweeps of digits trials (subprocesses)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO
from fixtures import store_snapshot
from typer.testing import CliRunner

from engine.errors import ConfigError
from engine.records import RunRecord
from engine.store import RunStore
from engine.sweep.driver import run_sweep
from engine.sweep.report import list_sweeps, sweep_summary
from engine.sweep.spec import Param, parse_grid, parse_range, plan_sweep
from engine.sweep.study import create_sweep
from resnet_tui.cli import app

runner = CliRunner()


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


# ---------------------------------------------------------------- parsing


def test_ranges_and_grids_parse() -> None:
    assert parse_range("optim.lr=1e-4:1e-1:log") == Param("optim.lr", "float", (), 1e-4, 0.1, True)
    assert parse_range("train.epochs=5:20") == Param("train.epochs", "int", (), 5, 20, False)
    assert parse_range("optim.momentum=0:1:int").kind == "int"
    grid = parse_grid("optim.name=sgd,adam,adadelta")
    assert grid.values == ("sgd", "adam", "adadelta")
    assert parse_grid("optim.lr=0.001, 0.01").values == (0.001, 0.01)
    assert parse_grid("augment.hflip=true,false").values == (True, False)


def test_a_grid_is_the_product_and_its_default_name_is_stable() -> None:
    spec = plan_sweep(
        "digits-quick",
        ["train.epochs=1"],
        grid=["optim.name=sgd,adam,adadelta", "optim.lr=0.001,0.01,0.1"],
    )
    assert spec.mode == "grid" and spec.trials == 9
    points = spec.grid_points()
    assert len({json.dumps(p, sort_keys=True) for p in points}) == 9
    assert {"optim.name": "adadelta", "optim.lr": 0.1} in points
    again = plan_sweep(
        "digits-quick",
        ["train.epochs=1"],
        grid=["optim.name=sgd,adam,adadelta", "optim.lr=0.001,0.01,0.1"],
    )
    assert again.name == spec.name  # re-running the same command continues the same sweep
    other = plan_sweep("digits-quick", ["train.epochs=2"], grid=["optim.name=sgd,adam"])
    assert other.name != spec.name and other.name.startswith("digits-quick-grid-")
    assert spec.base["train"]["epochs"] == 1  # the resolved preset is kept with the sweep


BAD_PLANS = [
    ({"grid": ["optim.lrr=0.1,0.2"]}, "did you mean 'optim.lr'"),
    ({"grid": ["lr=0.1"]}, "expected section.key"),
    ({"grid": ["optim.lr="]}, "one or more comma-separated values"),
    ({"grid": ["optim.lr=0.1,,0.2"]}, "one or more comma-separated values"),
    ({"grid": ["optim.lr"]}, "expected KEY=..."),
    ({"grid": ["optim.lr=0.1,0.1"]}, "given twice"),
    ({"grid": ["optim.lr=0.1", "optim.lr=0.2"]}, "swept twice"),
    ({"grid": ["optim.lr=-1,0.1"]}, "optim.lr: must be greater than 0"),
    ({"grid": ["data.batch_size=a,b"]}, "expected an integer"),
    ({}, "nothing to sweep"),
    ({"search": 3}, "needs what to search"),
    ({"search": 0, "ranges": ["optim.lr=1e-4:1e-1"]}, "at least 1"),
    ({"ranges": ["optim.lr=1e-4:1e-1"]}, "add --search N"),
    ({"search": 3, "grid": ["optim.lr=0.1,0.2"]}, "use --choice"),
    ({"search": 3, "ranges": ["optim.lr=1e-4"]}, "KEY=LOW:HIGH"),
    ({"search": 3, "ranges": ["optim.lr=1e-4:x"]}, "'x' is not a number"),
    ({"search": 3, "ranges": ["optim.lr=1e-1:1e-4"]}, "LOW must be below HIGH"),
    ({"search": 3, "ranges": ["optim.lr=0:1:log"]}, "log range needs LOW > 0"),
    ({"search": 3, "ranges": ["optim.lr=1e-4:1:cubic"]}, "unknown flag 'cubic'"),
    ({"search": 3, "ranges": ["optim.name=1:2"]}, "use --choice optim.name"),
    ({"search": 3, "ranges": ["train.epochs=1.5:3"]}, "'1.5' is not an integer"),
    ({"search": 3, "ranges": ["optim.momentum=0.5:1.5"]}, "optim.momentum"),
    ({"search": 3, "choices": ["model.act=relu,tanh"]}, "model.act: 'tanh' is not one of"),
    ({"grid": ["optim.lr=0.1"], "name": "Bad Name"}, "--name 'Bad Name'"),
    ({"grid": ["optim.lr=0.001:0.3:log"]}, "ranges are searched, not gridded"),
    ({"grid": ["optim.lr=0.05,0.1"], "sets": ["optim.lr=0.3"]}, "is swept and also fixed"),
    ({"search": 2, "choices": ["optim.name=sgd,adam"], "sets": ["optim.name=sgd"]}, "also fixed"),
]


@pytest.mark.parametrize(("kwargs", "needle"), BAD_PLANS, ids=[n for _, n in BAD_PLANS])
def test_bad_plans_are_refused_with_a_message(kwargs: dict[str, Any], needle: str) -> None:
    kwargs = dict(kwargs)
    sets = kwargs.pop("sets", None)
    with pytest.raises(ConfigError, match=None) as info:
        plan_sweep("digits-quick", sets, **kwargs)
    assert needle in str(info.value)


BAD_CLI = [
    (["sweep", "digits-quick", "--grid", "optim.lrr=0.1,0.2"], "unknown key 'optim.lrr'"),
    (["sweep", "digits-quick", "--grid", "optim.lr="], "comma-separated values"),
    (["sweep", "digits-quick"], "nothing to sweep"),
    (["sweep", "digits-quick", "--search", "4", "--range", "optim.lr=0.1"], "KEY=LOW:HIGH"),
    (["sweep", "digits-quick", "--grid", "optim.name=sgd,lion"], "unknown optimizer 'lion'"),
    (["sweep", "digits-quik", "--grid", "optim.lr=0.1"], "did you mean 'digits-quick'"),
    (["sweep", "--resume", "nope"], "no sweep 'nope'"),
    (["sweep", "--resume", "x", "--grid", "optim.lr=0.1"], "drop --grid"),
    (["sweep", "--join", "x"], "--storage"),
    (["sweeps", "show", "nope"], "no sweep 'nope'"),
    (["sweeps", "stop", "../../etc"], "no sweep"),
    (["sweep", "digits-quick", "--grid", "optim.lr=0.1", "--parallel", "0"], "--parallel"),
]


@pytest.mark.parametrize(("args", "needle"), BAD_CLI, ids=[" ".join(a) for a, _ in BAD_CLI])
def test_bad_sweep_requests_exit_2_with_one_line_and_change_nothing(
    runs_dir: Path, args: list[str], needle: str
) -> None:
    before = store_snapshot(runs_dir)
    code, out = cli("--runs-dir", str(runs_dir), *args)
    assert code == 2, out
    assert needle in out
    assert out.strip().startswith("error: ") and len(out.strip().splitlines()) == 1
    assert store_snapshot(runs_dir) == before


def test_a_name_is_one_sweep_definition(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    spec = plan_sweep("digits-quick", grid=["optim.lr=0.1,0.2"], name="lr")
    create_sweep(store, spec)
    assert create_sweep(store, spec)["name"] == "lr"  # the same request finds the same sweep
    before = store_snapshot(runs_dir)
    code, out = cli(
        "--runs-dir", str(runs_dir), "sweep", "digits-quick", "--grid", "optim.lr=0.3", "--name",
        "lr",
    )  # fmt: skip
    assert code == 2 and "exists with a different definition" in out
    assert store_snapshot(runs_dir) == before
    assert [row["name"] for row in list_sweeps(store)] == ["lr"]
    summary = sweep_summary(store, "lr")
    assert summary["planned"] == 2 and summary["trials"] == [] and summary["best"] is None


# ---------------------------------------------------------------- real sweeps


def _env(runs: Path) -> dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO), RESNET_TUI_RUNS=str(runs))


def _sweep_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "resnet_tui", "sweep", *args]


def _trials(store: RunStore, name: str) -> list[RunRecord]:
    """The trial runs of sweep ``name``, in trial order (typed records: the link is
    ``record.sweep``, whichever schema the documents have)."""
    records = [RunRecord.from_json(d) for d in store.list_runs()]
    found = [r for r in records if r.sweep is not None and r.sweep.name == name]
    return sorted(
        found, key=lambda r: r.sweep.trial if r.sweep and r.sweep.trial is not None else -1
    )


def _epochs(store: RunStore, run_id: str) -> list[int]:
    return [m["epoch"] for m in store.read_metrics(run_id)[0] if m.get("kind") == "epoch"]


def _wait_for(predicate: Any, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


GRID = ["--grid", "optim.name=sgd,adam", "--grid", "optim.lr=0.01,0.1"]


@pytest.mark.slow
def test_a_2x2_grid_completes_and_shows_accuracy_per_key(runs_dir: Path) -> None:
    args = ["digits-quick", *GRID, "--set", "train.epochs=1", "--name", "g4", "--parallel", "2"]
    done = subprocess.run(
        _sweep_cmd(*args), cwd=REPO, env=_env(runs_dir), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "optim.name vs accuracy" in done.stdout and "optim.lr vs accuracy" in done.stdout
    store = RunStore(runs_dir)
    trials = _trials(store, "g4")
    assert [t.sweep.trial for t in trials] == [0, 1, 2, 3]
    assert all(t.status == "finished" and _epochs(store, t.id) == [1] for t in trials)
    points = {(t.sweep.params["optim.name"], t.sweep.params["optim.lr"]) for t in trials}
    assert points == {("sgd", 0.01), ("sgd", 0.1), ("adam", 0.01), ("adam", 0.1)}
    for t in trials:  # each trial trains its own point
        assert t.config["optim"]["name"] == t.sweep.params["optim.name"]
        assert t.config["optim"]["lr"] == t.sweep.params["optim.lr"]
        # its provenance names the command that made the sweep, and the trainer's versions
        assert "--name g4 --parallel 2" in t.provenance["command"]
        assert t.provenance["trainer_versions"] is True and t.provenance["torch"]
    code, out = cli("--runs-dir", str(runs_dir), "sweeps", "show", "g4", "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["sweep"]["status"] == "finished" and summary["counts"] == {"finished": 4}
    best = summary["best"]
    assert best["val_acc"] == max(t.best.val_acc for t in trials)
    names = summary["by_param"]["optim.name"]
    assert [row["value"] for row in names] == ["adam", "sgd"]
    assert all(row["trials"] == 2 and row["finished"] == 2 for row in names)
    for row in summary["by_param"]["optim.lr"]:
        mine = [t.best.val_acc for t in trials if t.sweep.params["optim.lr"] == row["value"]]
        assert row["best_val_acc"] == max(mine)
        assert row["mean_val_acc"] == pytest.approx(sum(mine) / 2)
    code, out = cli("--runs-dir", str(runs_dir), "sweeps", "list", "--json")
    assert json.loads(out)[0]["finished"] == 4
    # running it again has nothing left to do
    events: list[Any] = []
    assert run_sweep(store, "g4", on_event=events.append, poll_s=0.05)["status"] == "finished"
    assert [type(e).__name__ for e in events] == ["SweepEnded"]
    assert len(_trials(store, "g4")) == 4


@pytest.mark.slow
def test_sigkill_of_the_sweep_and_of_a_trial_then_the_same_command_continues(
    runs_dir: Path,
) -> None:
    """A trial killed while the sweep runs is recorded as crashed and the sweep goes on; the
    sweep itself SIGKILLed and started again adopts the trial still training, resumes the
    crashed one and runs the rest: exactly 4 finished trials, none run twice."""
    # 10 epochs: trial 2 must outlive the sweep's restart (a new process that imports the CLI
    # and Optuna before it looks); 2 epochs ended first on a busy machine
    args = ["digits-quick", *GRID, "--set", "train.epochs=10", "--name", "k4"]
    store = RunStore(runs_dir)
    log = open(runs_dir.parent / "sweep1.out", "w")  # noqa: SIM115
    sweep = subprocess.Popen(
        _sweep_cmd(*args), cwd=REPO, env=_env(runs_dir), stdout=log, stderr=subprocess.STDOUT
    )

    def trial(n: int) -> RunRecord | None:
        found = [t for t in _trials(store, "k4") if t.sweep.trial == n]
        return found[0] if found else None

    # trial 1 killed in its first epoch: the sweep records it and starts trial 2
    _wait_for(lambda: (t := trial(1)) is not None and t.status == "running")
    victim = trial(1)
    assert victim is not None
    os.kill(int(victim.pid), signal.SIGKILL)
    _wait_for(lambda: trial(2) is not None)
    assert store.get(victim.id)["status"] == "crashed"
    # the sweep killed while trial 2 trains; trial 2 goes on without it
    _wait_for(lambda: (t := trial(2)) is not None and t.status == "running")
    sweep.send_signal(signal.SIGKILL)
    sweep.wait()
    log.close()
    assert "trial 1 crashed" in (runs_dir.parent / "sweep1.out").read_text()
    again = subprocess.run(
        _sweep_cmd(*args), cwd=REPO, env=_env(runs_dir), capture_output=True, text=True
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "trial 2 still running, followed" in again.stdout
    assert "trial 1 resumed" in again.stdout
    trials = _trials(store, "k4")
    assert [t.sweep.trial for t in trials] == [0, 1, 2, 3]
    assert [t.status for t in trials] == ["finished"] * 4
    assert len({json.dumps(t.sweep.params, sort_keys=True) for t in trials}) == 4
    for t in trials:
        assert _epochs(store, t.id) == list(range(1, 11))  # each epoch stored once
        starts = (store.run_dir(t.id) / "train.log").read_text().count("starting run")
        assert starts == 1  # no trial started twice
    assert "resuming run" in (store.run_dir(victim.id) / "train.log").read_text()
    summary = sweep_summary(store, "k4")
    assert summary["sweep"]["status"] == "finished" and summary["counts"] == {"finished": 4}


@pytest.mark.slow
def test_a_trial_that_fails_at_run_time_is_recorded_and_the_sweep_goes_on(
    runs_dir: Path,
) -> None:
    # 5,000 is a valid batch size for the config, but larger than digits' training split
    args = ["digits-quick", "--grid", "data.batch_size=64,5000", "--set", "train.epochs=1"]
    done = subprocess.run(
        _sweep_cmd(*args, "--name", "bs", "--parallel", "2"),
        cwd=REPO,
        env=_env(runs_dir),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    store = RunStore(runs_dir)
    by_batch = {t.sweep.params["data.batch_size"]: t for t in _trials(store, "bs")}
    assert by_batch[64].status == "finished"
    assert by_batch[5000].status == "failed"
    assert "larger than the" in by_batch[5000].message
    summary = sweep_summary(store, "bs")
    assert summary["sweep"]["status"] == "finished"  # a failed trial is final
    assert summary["counts"] == {"finished": 1, "failed": 1}
    assert summary["best"]["params"] == {"data.batch_size": 64}


@pytest.mark.slow
def test_a_search_prunes_hopeless_trials(runs_dir: Path) -> None:
    """Trial 0 (lr 0.05) finishes; trial 1 (lr 1e-6, learns nothing) reports its epoch-1
    val_acc below the median and is stopped as pruned."""
    args = [
        "digits-quick",
        "--search", "2",
        "--choice", "optim.lr=0.05,0.000001",
        "--prune-startup", "1",
        "--seed", "10",
        "--set", "train.epochs=3",
        "--set", "data.batch_size=16",
        "--set", "schedule.name=constant",
        "--name", "s2",
    ]  # fmt: skip
    done = subprocess.run(
        _sweep_cmd(*args), cwd=REPO, env=_env(runs_dir), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    store = RunStore(runs_dir)
    first, second = _trials(store, "s2")
    assert first.sweep.params == {"optim.lr": 0.05}, "seed 10 no longer draws 0.05 first"
    assert second.sweep.params == {"optim.lr": 0.000001}
    assert first.status == "finished"
    assert second.status == "stopped" and second.sweep.pruned is True
    assert second.message.startswith("pruned by sweep s2 after epoch")
    assert len(_epochs(store, second.id)) < 3
    summary = sweep_summary(store, "s2")
    assert summary["counts"] == {"finished": 1, "pruned": 1}
    assert summary["sweep"]["status"] == "finished"
    import optuna

    study = optuna.load_study(study_name="s2", storage=_journal(runs_dir, "s2"))
    states = [t.state.name for t in study.trials]
    assert states == ["COMPLETE", "PRUNED"]
    assert study.trials[0].value == first.best.val_acc


def _journal(runs: Path, name: str) -> Any:
    from engine.sweep.study import open_storage

    return open_storage(str(runs / "sweeps" / f"{name}.journal"))


def test_help_and_the_sweep_tables_import_neither_torch_nor_optuna(runs_dir: Path) -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from resnet_tui.cli import app\n"
        "for args in (['--help'], ['sweep', '--help'], ['sweeps', 'list']):\n"
        "    result = CliRunner().invoke(app, args)\n"
        "    assert result.exit_code == 0, result.output\n"
        "import engine.sweep.spec, engine.sweep.docs, engine.sweep.report\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'optuna')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=_env(runs_dir), capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_continuing_a_sweep_loads_no_torch(runs_dir: Path) -> None:
    """The same sweep command again (or `sweep --resume`) only drives trials, which train in
    processes of their own: its own process starts without importing torch (seconds that a
    trial still training could finish in before it is followed)."""
    code = (
        "import sys\n"
        "from engine import api\n"
        "from engine.api import compute\n"
        "store = api.open_store(sys.argv[1])\n"
        "request = api.SweepRequest('digits-quick', grid=('optim.lr=0.1,0.2',), name='again')\n"
        "compute.create_sweep(store, api.plan_sweep(request))\n"
        "spec = compute.check_sweep(store, request)  # recorded already: not checked again\n"
        "assert compute.create_sweep(store, spec).name == 'again'\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(runs_dir)],
        cwd=REPO,
        env=_env(runs_dir),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------- the driver, with fake trials

FAKE_TRAINER = """
import os, signal, sys, time
from engine.store import RunStore

store, run_id = RunStore(sys.argv[1]), sys.argv[2]
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
doc = store.get(run_id)
store.update(run_id, status="running", pid=os.getpid(), message="")
config = doc["config"]
epochs, lr = config["train"]["epochs"], config["optim"]["lr"]
value = min(0.99, lr * 5)
store.truncate_metrics(run_id, doc.get("epoch", 0))
for epoch in range(doc.get("epoch", 0) + 1, epochs + 1):
    time.sleep(0.1)
    if stop:
        store.set_status(run_id, "stopped", f"stopped before epoch {epoch}")
        sys.exit(0)
    store.append_metrics(run_id, {"kind": "epoch", "epoch": epoch, "val_acc": value})
    store.update(run_id, epoch=epoch, best={"val_acc": value})
store.set_status(run_id, "finished", "done", test={"test_acc": value})
"""


class _ManualStop:
    """A SweepStop that installs no signal handlers (pytest keeps its own)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> bool:
        return self.count > 0

    def install(self) -> None:
        pass


@pytest.mark.slow
def test_a_stopped_sweep_stops_its_trials_and_continues_them(
    runs_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fake trials (a few lines of Python on the real store) make the driver's bookkeeping
    fast to check: a stop request reaches the running trials, which end stopped; the next
    run_sweep resumes exactly those and starts the rest."""

    fake = tmp_path / "fake_trainer.py"
    fake.write_text(FAKE_TRAINER)
    launched: list[str] = []

    def launch(store: RunStore, run_id: str, *args: Any, **kwargs: Any) -> int:
        launched.append(run_id)
        process = subprocess.Popen(
            [sys.executable, str(fake), str(store.root), run_id],
            env=_env(runs_dir),
            start_new_session=True,
        )
        store.update(run_id, pid=process.pid)
        return process.pid

    monkeypatch.setattr("engine.sweep.driver.launch_detached", launch)
    store = RunStore(runs_dir)
    spec = plan_sweep(
        "digits-quick", ["train.epochs=30"], grid=["optim.lr=0.05,0.1,0.15"], name="fake"
    )
    create_sweep(store, spec)
    stop = _ManualStop()
    events: list[Any] = []

    def on_event(event: Any) -> None:
        events.append(event)
        if type(event).__name__ == "TrialEpoch" and event.epoch == 3:
            stop.count = 1

    doc = run_sweep(store, "fake", parallel=2, on_event=on_event, stop=stop, poll_s=0.05)  # type: ignore[arg-type]
    assert doc["status"] == "stopped" and "2 trials to resume" in doc["message"]
    first = {d.id: d for d in _trials(store, "fake")}
    assert len(first) == 2 and {d.status for d in first.values()} == {"stopped"}
    assert all(d.epoch < 30 for d in first.values())

    events.clear()
    doc = run_sweep(store, "fake", parallel=2, on_event=events.append, poll_s=0.05)
    assert doc["status"] == "finished"
    started = [e for e in events if type(e).__name__ == "TrialStarted"]
    assert sorted(e.run_id for e in started if e.resumed) == sorted(first)
    assert len([e for e in started if not e.resumed]) == 1
    trials = _trials(store, "fake")
    assert [t.status for t in trials] == ["finished"] * 3
    assert all(_epochs(store, t.id) == list(range(1, 31)) for t in trials)
    assert sorted(launched) == sorted([*first, *first, trials[-1].id])  # 2 resumed once
    summary = sweep_summary(store, "fake")
    assert summary["best"]["params"] == {"optim.lr": 0.15}
    assert [row["best_val_acc"] for row in summary["by_param"]["optim.lr"]] == [0.25, 0.5, 0.75]


def test_sweeps_rm_keeps_or_deletes_the_trials_and_refuses_a_running_sweep(
    tmp_path: Path,
) -> None:
    from tui_fixtures import SWEEP_GRID, SWEEP_SEARCH, build_experiment_store

    from engine.store import atomic_write

    store = build_experiment_store(tmp_path / "runs")
    folder = tmp_path / "runs" / "sweeps"
    args = ["--runs-dir", str(tmp_path / "runs"), "sweeps", "rm"]

    def trials(name: str) -> int:
        return len(_trials(store, name))

    grid_trials, search_trials = trials(SWEEP_GRID), trials(SWEEP_SEARCH)
    assert grid_trials and search_trials
    # a running sweep is refused, and so is a "no" at the question: nothing changes
    doc = json.loads((folder / f"{SWEEP_GRID}.json").read_text())
    running = {**doc, "status": "running", "pid": os.getpid()}
    running.update(
        host=socket.gethostname(), pid_start=store.process_identity(os.getpid())["pid_start"]
    )
    atomic_write(folder / f"{SWEEP_GRID}.json", json.dumps(running).encode())
    result = runner.invoke(app, [*args, SWEEP_GRID, "--yes"])
    assert result.exit_code == 2 and "is running; stop it first" in result.output
    atomic_write(folder / f"{SWEEP_GRID}.json", json.dumps(doc).encode())
    result = runner.invoke(app, [*args, SWEEP_GRID], input="n\n")
    assert result.exit_code == 1 and (folder / f"{SWEEP_GRID}.json").exists()
    # the trials stay as runs by default; --runs deletes them too
    result = runner.invoke(app, [*args, SWEEP_GRID, "--yes"])
    assert result.exit_code == 0, result.output
    assert f"its {grid_trials} trial runs stay" in result.output
    records = [RunRecord.from_json(d) for d in store.list_runs()]
    kept = [r for r in records if r.sweep is not None and r.sweep.former == SWEEP_GRID]
    assert not (folder / f"{SWEEP_GRID}.json").exists() and len(kept) == grid_trials
    assert trials(SWEEP_GRID) == 0  # a new sweep of that name starts without them
    result = runner.invoke(app, [*args, SWEEP_SEARCH, "--runs", "--yes"])
    assert result.exit_code == 0 and f"and {search_trials} runs" in result.output
    assert trials(SWEEP_SEARCH) == 0 and not (folder / f"{SWEEP_SEARCH}.json").exists()
    result = runner.invoke(app, [*args, SWEEP_SEARCH, "--yes"])
    assert result.exit_code == 2 and "no sweep" in result.output
