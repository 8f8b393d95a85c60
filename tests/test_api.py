"""The engine API: every problem of a request at once, unique names, typed records both ways,
the helper process that answers for the console with the same words as the engine in-process,
and the engine's own worker entry point."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO

from engine import api
from engine.api import compute
from engine.api.remote import EngineHelper
from engine.errors import PlanError, UserError
from engine.records import RunRecord


@pytest.fixture(scope="module")
def helper() -> Iterator[EngineHelper]:
    engine_helper = EngineHelper()
    yield engine_helper
    engine_helper.close()


def test_a_request_reports_every_problem_at_once_each_with_its_key() -> None:
    request = api.RunRequest(
        "digits-quick",
        sets=("optim.lr=-1", "train.epochs=abc", "optim.lrr=1", "lr=2"),
        nnodes=2,
    )
    with pytest.raises(PlanError) as refused:
        api.plan_run(request)
    keys = [p.key for p in refused.value.problems]
    assert keys[0] is None and set(keys[1:]) == {"lr", "optim.lr", "train.epochs", "optim.lrr"}
    text = str(refused.value).splitlines()
    assert text[0].startswith("--nnodes 2: the machines meet at a rendezvous")
    assert "--set optim.lr: must be greater than 0, got -1.0" in text


def test_a_form_config_is_checked_whole() -> None:
    config = api.plan_run(api.RunRequest("digits-quick")).config.to_dict()
    config["optim"]["lr"] = 0.0
    config["data"]["val_fraction"] = 2.0
    with pytest.raises(PlanError) as refused:
        api.plan_run(api.RunRequest("digits-quick", config=config))
    assert {p.key for p in refused.value.problems} == {"optim.lr", "data.val_fraction"}
    config["optim"]["lr"] = 0.05
    config["data"]["val_fraction"] = 0.1
    plan = api.plan_run(api.RunRequest("digits-quick", config=config, name="form"))
    assert plan.config.optim.lr == 0.05 and plan.name == "form" and plan.preset == "digits-quick"


def test_names_are_unique_and_the_clash_is_said(runs_dir: Path) -> None:
    store = api.open_store(runs_dir)
    plan = api.plan_run(api.RunRequest("digits-quick"))
    first, second = api.create_run(store, plan), api.create_run(store, plan)
    assert (first.name, first.name_taken) == ("digits-quick", None)
    assert (second.name, second.name_taken) == ("digits-quick-2", "digits-quick")
    assert api.get_run(store, "digits-quick-2").id == second.id
    assert api.rename_run(store, second.id, "mine").name == "mine"
    with pytest.raises(UserError, match="digits-quick"):
        api.rename_run(store, "mine", "digits-quick")


def test_records_round_trip_and_read_the_first_schema() -> None:
    old = {
        "id": "20250101-120000-t-0abc",
        "name": "t",
        "status": "stopped",
        "sweep": "lr",
        "trial": 3,
        "sweep_params": {"optim.lr": 0.1},
        "pruned": True,
        "group": "ablate-x",
        "ablation": "bn",
        "members": ["a", "b"],
        "best": {"val_acc": 0.5, "val_loss": 1.0, "best_epoch": 2},
        "test": {"test_acc": 0.4},
    }
    record = RunRecord.from_json(old)
    assert record.schema == 1 and record.sweep is not None and record.sweep.pruned
    assert (record.sweep.name, record.sweep.trial) == ("lr", 3)
    assert record.ablation is not None and record.ablation.removed == "bn"
    assert record.stack is not None and record.stack.members == ("a", "b")
    assert record.best is not None and record.best.epoch == 2 and record.best.val_acc == 0.5
    again = RunRecord.from_json(record.to_json())
    assert again.schema == 2 and again == record.__class__(**{**record.__dict__, "schema": 2})


@pytest.mark.parametrize(
    ("sets", "needle"),
    [
        (("data.batch_size=5000",), "is larger than the 1258 training images"),
        (("model.name=resnet99",), "model.name: unknown model 'resnet99'"),
        (("model.name=resnet99", "optim.name=lion"), "optim.name: unknown optimizer 'lion'"),
        (("data.name=imagefolder", "data.root=/nonexistent"), "image folder '/nonexistent'"),
        (("optim.lr=-1",), "--set optim.lr: must be greater than 0"),
    ],
)
@pytest.mark.slow
def test_the_helper_refuses_with_the_engines_own_words(
    helper: EngineHelper, runs_dir: Path, sets: tuple[str, ...], needle: str
) -> None:
    request = api.RunRequest("digits-quick", sets=sets)
    with pytest.raises(UserError) as here:
        compute.check_run(request, runs_dir)
    with pytest.raises(UserError) as there:
        helper.check_run(request, runs_dir)
    assert type(there.value) is type(here.value)
    assert str(there.value) == str(here.value) and needle in str(there.value)
    # The key a form marks comes across too (a missing folder is data.root's problem).
    assert getattr(there.value, "key", None) == getattr(here.value, "key", None)
    if "nonexistent" in needle:
        assert getattr(there.value, "key", None) == "data.root"


@pytest.mark.slow  # waits on the helper process
def test_the_helper_answers_what_the_engine_answers(helper: EngineHelper, runs_dir: Path) -> None:
    request = api.RunRequest("digits-quick", sets=("augment.resize=12",))
    assert helper.check_run(request, runs_dir) == compute.check_run(request, runs_dir)
    summary = helper.model_summary(request)
    assert summary.params == compute.check_run(request).params and summary.size == 12
    catalog = helper.catalog()
    assert "resnet24" in [m.name for m in catalog.models]


def _worker(runs_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "engine.worker", "--store", str(runs_dir), *args]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_the_worker_trains_a_created_run_and_refuses_in_one_line(runs_dir: Path) -> None:
    store = api.open_store(runs_dir)
    plan = api.plan_run(api.RunRequest("digits-quick", sets=("train.epochs=1",)))
    record = api.create_run(store, plan)
    done = _worker(runs_dir, "run", record.id)
    assert done.returncode == 0, done.stderr
    finished = api.get_run(store, record.id)
    assert finished.status == "finished" and finished.test is not None
    again = _worker(runs_dir, "run", record.id)
    assert again.returncode == 2
    assert again.stderr.strip().splitlines() == [
        f"error: run {record.id} already finished; start a new run from its config "
        f"(`resnet-tui train {store.run_dir(record.id) / 'config.toml'}`)"
    ]
    assert "resnet_tui" not in (done.stdout + done.stderr)


def test_resume_and_start_refuse_what_the_status_forbids(runs_dir: Path) -> None:
    store = api.open_store(runs_dir)
    record = api.create_run(store, api.plan_run(api.RunRequest("digits-quick")))
    store.set_status(record.id, "finished", "done")
    before: Any = (runs_dir / "index.json").read_bytes()
    with pytest.raises(UserError, match="already finished"):
        api.resume_run(store, record.id)
    with pytest.raises(UserError, match="is finished, not running"):
        api.stop_run(store, record.id)
    assert (runs_dir / "index.json").read_bytes() == before
