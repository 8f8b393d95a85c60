"""A run store written before issue 10 (tests/data/store-v1, made by commit 4e3af94's own code)
opens, reads as typed records, resumes and stacks with today's engine, and a checkpoint saved
before a config key existed still resumes with that key's default."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO
from tinydb import TinyDB

from engine import api
from engine.api import compute
from engine.checkpoint import load_checkpoint
from engine.store import RunStore

FIXTURE = REPO / "tests" / "data" / "store-v1" / "runs"


@pytest.fixture
def old_store(tmp_path: Path) -> RunStore:
    root = tmp_path / "runs"
    shutil.copytree(FIXTURE, root)
    return RunStore(root)


def _by_name(store: RunStore) -> dict[str, api.RunRecord]:
    return {r.name: r for r in api.list_runs(store)}


def test_the_old_store_reads_as_typed_records(old_store: RunStore) -> None:
    runs = _by_name(old_store)
    assert set(runs) == {
        "old-finished",
        "old-stopped",
        "old-ablation",
        "old-ablation-no-relu",
        "old-sweep-0",
        "old-sweep-1",
        "old-stack",
    }
    assert all(r.schema == 1 for r in runs.values())
    finished = runs["old-finished"]
    assert finished.status == "finished" and finished.epoch == 3 and finished.params == 1382
    assert finished.best is not None and finished.best.epoch is not None
    assert finished.test is not None and finished.test.acc is not None
    stopped = runs["old-stopped"]
    assert (
        stopped.status == "stopped"
        and stopped.epoch == 2
        and "step 1 of epoch 3" in (stopped.message)
    )
    # the flat version-1 fields of sweeps, ablations and stacks become their links
    trial = runs["old-sweep-1"].sweep
    assert trial is not None and trial.name == "old-sweep" and trial.trial == 1
    swept = {r.sweep.params["optim.lr"] for r in runs.values() if r.sweep is not None}
    assert swept == {0.05, 0.1}
    base, ablated = runs["old-ablation"].ablation, runs["old-ablation-no-relu"].ablation
    assert base is not None and ablated is not None and base.group == ablated.group
    assert (base.removed, ablated.removed) == ("base", "relu")
    stack = runs["old-stack"].stack
    assert stack is not None
    assert set(stack.members) == {runs["old-ablation"].id, runs["old-ablation-no-relu"].id}
    # and the tables built on them
    rows = api.ablation_table(old_store, base.group)
    assert [r["ablation"] for r in rows] == ["base", "relu"]
    assert rows[1]["d_val_acc"] == pytest.approx(rows[1]["val_acc"] - rows[0]["val_acc"])
    summary = api.sweep_summary(old_store, "old-sweep")
    assert summary["counts"] == {"finished": 2} and summary["planned"] == 2
    assert api.read_stack_report(old_store, runs["old-stack"].id).status == "finished"


def test_the_moved_sweep_finds_its_study_beside_it(old_store: RunStore) -> None:
    """The sweep's document names its journal where it was made (/tmp/fx/...); in a store
    that moved, the journal beside the document is the study."""
    recorded = json.loads((old_store.root / "sweeps" / "old-sweep.json").read_text())["storage"]
    assert not Path(recorded).exists()
    trials = compute.study_trials(old_store, "old-sweep")
    assert sorted(t["state"] for t in trials) == ["complete", "complete"]


def _resume_in_a_worker(store: RunStore, run_id: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine.worker", "--store", str(store.root), "run", run_id],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_the_stopped_run_resumes_and_finishes(old_store: RunStore) -> None:
    run = _by_name(old_store)["old-stopped"]
    done = _resume_in_a_worker(old_store, run.id)
    assert done.returncode == 0, done.stdout + done.stderr
    record = api.get_run(old_store, run.id)
    assert record.status == "finished" and record.epoch == 5
    epochs = [int(m["epoch"]) for m in api.read_metrics(old_store, run.id).epochs]
    assert epochs == [1, 2, 3, 4, 5]  # epoch 3 continued from its step, nothing repeated
    # and the index is still a TinyDB database a user can open
    with TinyDB(old_store.root / "index.json") as db:
        assert len(db.table("runs")) == 7


@pytest.mark.slow
def test_a_key_added_after_the_checkpoint_gets_its_default(old_store: RunStore) -> None:
    """A checkpoint (and a run record) saved before ``train.log_every`` existed: the resume
    fills in its default instead of refusing a different config."""
    run = _by_name(old_store)["old-stopped"]
    folder = old_store.run_dir(run.id)
    for name in ("last.pt", "best.pt"):
        state = torch.load(folder / name, weights_only=True)
        del state["config"]["train"]["log_every"]
        torch.save(state, folder / name)
    config = json.loads(json.dumps(dict(run.config)))
    del config["train"]["log_every"]
    old_store.update(run.id, config=config)
    assert "log_every" not in load_checkpoint(folder / "last.pt")["config"]["train"]
    done = _resume_in_a_worker(old_store, run.id)
    assert done.returncode == 0, done.stdout + done.stderr
    assert api.get_run(old_store, run.id).status == "finished"


@pytest.mark.slow
def test_old_runs_stack_and_new_runs_join_the_old_store(old_store: RunStore) -> None:
    runs = _by_name(old_store)
    members = (runs["old-ablation"].id, runs["old-ablation-no-relu"].id)
    result = compute.stack(old_store, api.StackRequest(members, name="again"))
    assert result.status == "finished"
    plan = api.plan_run(api.RunRequest("digits-quick", name="old-finished"))
    record = api.create_run(old_store, plan)
    assert record.name == "old-finished-2" and record.name_taken == "old-finished"
    assert len(api.list_runs(old_store)) == 9
