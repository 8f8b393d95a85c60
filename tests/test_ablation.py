"""Ablations (seed 002): plans, the group in the store, the queue, the comparison table."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import REPO
from typer.testing import CliRunner

from engine.ablation.groups import AblationError, ablation_table, create_ablation, list_groups
from engine.ablation.plan import plan_ablation
from engine.ablation.queue import run_queue
from engine.config import RunConfig
from engine.errors import UserError
from engine.metrics import config_differences
from engine.presets import resolve
from engine.store import RunStore
from resnet_tui.cli import app

torch.set_num_threads(1)
runner = CliRunner()


def cli(runs: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--runs-dir", str(runs), *args])
    return result.exit_code, result.output


def test_a_plan_changes_one_field_per_run() -> None:
    config, _ = resolve("basenet")
    planned = plan_ablation(config, ["relu", "BN", "skip", "relu"])
    assert [p.ablation for p in planned] == ["base", "relu", "bn", "skip"]
    assert planned[0].config == config
    expected = {"relu": ("model.act", "none"), "bn": ("model.norm", "none")}
    expected["skip"] = ("model.skip", False)
    for run in planned[1:]:
        key, value = expected[run.ablation]
        assert config_differences([config, run.config]) == {key: [getattr_key(config, key), value]}


def getattr_key(config: RunConfig, key: str) -> object:
    section, name = key.split(".")
    return getattr(getattr(config, section), name)


def test_plans_that_are_refused() -> None:
    config, _ = resolve("digits-quick")
    with pytest.raises(AblationError, match="valid: relu, bn, skip"):
        plan_ablation(config, ["dropout"])
    with pytest.raises(AblationError, match="did you mean 'relu'"):
        plan_ablation(config, ["reLu2"])
    with pytest.raises(AblationError, match="at least one component"):
        plan_ablation(config, [])
    cnn = config.replace({"model.name": "baseline-cnn"})
    with pytest.raises(AblationError, match="'baseline-cnn' cannot remove it"):
        plan_ablation(cnn, ["bn"])
    assert [p.ablation for p in plan_ablation(cnn, ["relu"])] == ["base", "relu"]
    with pytest.raises(AblationError, match="'vgg16' cannot remove it"):
        plan_ablation(config.replace({"model.name": "vgg16"}), ["relu"])
    linear = config.replace({"model.act": "none"})
    with pytest.raises(AblationError, match="already has model.act"):
        plan_ablation(linear, ["relu"])


@pytest.mark.slow
def test_ablate_on_digits_through_the_cli(runs_dir: Path) -> None:
    code, out = cli(
        runs_dir,
        "ablate",
        "digits-quick",
        "--remove",
        "relu",
        "--remove",
        "bn",
        "--set",
        "train.epochs=1",
        "--set",
        "train.device=cpu",
    )
    assert code == 0, out
    store = RunStore(runs_dir)
    (listed,) = list_groups(store)
    group = listed["group"]
    assert group.startswith("ablate-") and group in out
    assert listed["runs"] == listed["finished"] == 3 and listed["removed"] == "relu, bn"
    docs = [d for d in store.list_runs() if (d.get("ablation") or {}).get("group") == group]
    assert sorted(d["ablation"]["removed"] for d in docs) == ["base", "bn", "relu"]
    assert all(d["schema"] == 2 for d in docs)  # written as version 2
    assert all(d["status"] == "finished" and d["epoch"] == 1 for d in docs)
    by = {d["ablation"]["removed"]: d for d in docs}
    assert by["relu"]["config"]["model"]["act"] == "none"
    assert by["bn"]["config"]["model"]["norm"] == "none"
    assert by["base"]["config"]["model"] | {"act": "none"} == by["relu"]["config"]["model"]
    assert by["relu"]["name"] == "digits-quick-no-relu"
    for line in ("relu", "bn", "finished"):
        assert line in out

    code, out = cli(runs_dir, "ablate", "--show", group[:12], "--json")
    assert code == 0, out
    rows = json.loads(out)
    assert [r["ablation"] for r in rows] == ["base", "relu", "bn"]
    base = rows[0]
    assert base["val_acc"] == by["base"]["best"]["val_acc"] and base["d_val_acc"] == 0.0
    for row in rows[1:]:
        doc = by[row["ablation"]]
        assert row["test_acc"] == doc["test"]["test_acc"]
        assert row["d_test_acc"] == pytest.approx(row["test_acc"] - base["test_acc"])
        assert row["d_val_acc"] == pytest.approx(row["val_acc"] - base["val_acc"])
    code, out = cli(runs_dir, "ablate", "--show", group)
    assert code == 0 and "Δ val" in out and " pp" in out  # percentage points, as the console
    code, out = cli(runs_dir, "ablate", "--list", "--json")
    assert code == 0 and [r["group"] for r in json.loads(out)] == [group]
    assert json.loads(out)[0]["base_val_acc"] == by["base"]["best"]["val_acc"]
    code, out = cli(runs_dir, "ablate", "--list")
    assert code == 0 and group in out and "relu, bn" in out and "3/3" in out


def test_ablate_refusals_are_one_line(runs_dir: Path) -> None:
    code, out = cli(runs_dir, "ablate", "digits-quick", "--remove", "attention")
    assert code == 2 and "valid: relu, bn, skip" in out and "Traceback" not in out
    code, out = cli(
        runs_dir, "ablate", "digits-quick", "--remove", "bn", "--set", "model.name=baseline-cnn"
    )
    assert code == 2 and "cannot remove it" in out
    code, out = cli(runs_dir, "ablate", "--show", "ablate-nothing")
    assert code == 2 and "no ablation group" in out and "ablate --list" in out
    code, out = cli(runs_dir, "ablate", "--list")
    assert code == 0 and "no ablations in" in out
    code, out = cli(runs_dir, "ablate", "digits-quick", "--list")
    assert code == 2 and "--list lists the groups" in out
    assert RunStore(runs_dir).list_runs() == []


def _queued(store: RunStore, n: int) -> list[str]:
    config, _ = resolve("digits-quick", ["train.epochs=1"])
    planned = plan_ablation(config, ["relu", "bn", "skip"][: n - 1])
    return create_ablation(store, planned, preset="digits-quick")[1]


def test_a_stopped_run_stops_the_queue_and_a_failure_does_not(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    ids = _queued(store, 3)
    trained: list[str] = []
    errors: list[str] = []

    def fail_first_then_stop(run_id: str) -> dict[str, object]:
        trained.append(run_id)
        if run_id == ids[0]:
            store.set_status(run_id, "failed", "boom")
            raise UserError("boom")
        return store.set_status(run_id, "stopped", "asked to stop")

    docs = run_queue(store, ids, fail_first_then_stop, lambda r, e: errors.append(f"{r}: {e}"))
    assert trained == ids[:2] and errors == [f"{ids[0]}: boom"]
    assert [d["status"] for d in docs] == ["failed", "stopped", "stopped"]
    assert "queue was stopped" in store.get(ids[2])["message"]


@pytest.mark.slow
def test_detached_ablation_runs_the_queue_in_one_process(runs_dir: Path) -> None:
    code, out = cli(
        runs_dir,
        "ablate",
        "digits-quick",
        "--remove",
        "skip",
        "--set",
        "train.epochs=1",
        "--set",
        "train.device=cpu",
        "--detach",
    )
    assert code == 0, out
    assert "ablate --show" in out
    store = RunStore(runs_dir)
    docs = store.list_runs()
    assert len(docs) == 2 and len({d["pid"] for d in docs}) == 1  # one process for both
    deadline = time.monotonic() + 150
    while not all(d["status"] == "finished" for d in store.list_runs()):
        assert time.monotonic() < deadline, store.list_runs()
        assert not any(d["status"] in ("failed", "crashed") for d in store.list_runs())
        time.sleep(0.5)
    rows = ablation_table(store, docs[0]["ablation"]["group"])
    assert [r["ablation"] for r in rows] == ["base", "skip"]
    assert all(r["test_acc"] is not None for r in rows)


@pytest.mark.slow
def test_resuming_an_ablation_checks_everything_first_and_starts_one_queue(
    runs_dir: Path,
) -> None:
    import threading

    from engine.ablation.groups import AblationError, resume_ablation

    store = RunStore(runs_dir)
    ids = _queued(store, 2)
    group = str(store.get(ids[0])["ablation"]["group"])
    for run_id in ids:
        store.set_status(run_id, "stopped", "the queue was stopped before this run started")
    # a queue that cannot start (its log path is a folder): the runs get their statuses back
    (store.run_dir(ids[0]) / "queue.log").mkdir()
    with pytest.raises(AblationError, match="cannot start its queue"):
        resume_ablation(store, group)
    assert [store.get(r)["status"] for r in ids] == ["stopped", "stopped"]
    (store.run_dir(ids[0]) / "queue.log").rmdir()
    # two resumes at once: one starts the queue, the other is refused
    results: list[object] = []

    def resume() -> None:
        try:
            results.append(resume_ablation(store, group[:12]))
        except AblationError as exc:
            results.append(exc)

    threads = [threading.Thread(target=resume) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    started = [r for r in results if isinstance(r, tuple)]
    refused = [r for r in results if isinstance(r, AblationError)]
    assert len(started) == 1 and len(refused) == 1, results
    assert started[0][0] == ids and "still training" in str(refused[0])
    deadline = time.monotonic() + 150
    while not all(store.get(r)["status"] == "finished" for r in ids):
        assert time.monotonic() < deadline, [store.get(r)["status"] for r in ids]
        assert not any(store.get(r)["status"] in ("failed", "crashed") for r in ids)
        time.sleep(0.5)
    with pytest.raises(AblationError, match="nothing to resume"):
        resume_ablation(store, group)


@pytest.mark.slow
def test_engine_modules_stay_free_of_the_ui() -> None:
    code = (
        "import engine.stacking, engine.ablation, engine.loader_bench, engine.models.vgg\n"
        "import sys; print('\\n'.join(sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    assert "engine.stacking" in out
    assert not [m for m in out if m.split(".")[0] in ("textual", "rich")]
