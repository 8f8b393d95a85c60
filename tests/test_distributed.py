"""One run over several processes: rank shards, torchrun's command line, the CLI's refusals,
and a real 2-process gloo run on digits that is stopped, resumed and compared to one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import REPO
from fixtures import store_snapshot
from typer.testing import CliRunner

from engine import api
from engine.checkpoint import load_checkpoint
from engine.config import RunConfig
from engine.data.sources import LoaderSource, TensorSource, shard_bounds
from engine.ddp import (
    DistContext,
    backend_for,
    ddp_device_ids,
    rank_device,
    sync_batchnorm,
)
from engine.ddp_env import check_global_batch, check_topology
from engine.errors import ConfigError, UserError
from engine.launch import free_port, launch, torchrun_args
from engine.models import create_model
from engine.presets import resolve
from engine.records import EPOCH_TIMES
from engine.runner import execute
from engine.store import RunStore
from engine.trainer import Trainer
from resnet_tui.cli import app

torch.set_num_threads(1)
runner = CliRunner()


def _images(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 2, 2).contiguous()
    return x, torch.arange(n)


@pytest.mark.parametrize(("n", "world"), [(10, 1), (10, 2), (10, 3), (2, 3), (7, 4)])
def test_shard_bounds_split_like_tensor_split(n: int, world: int) -> None:
    expected = [len(part) for part in torch.arange(n).tensor_split(world)]
    bounds = [shard_bounds(n, (rank, world)) for rank in range(world)]
    assert [hi - lo for lo, hi in bounds] == expected
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))


@pytest.mark.parametrize("source_kind", ["tensor", "loader"])
@pytest.mark.parametrize(("n", "shuffle", "drop_last"), [(23, True, True), (22, False, False)])
def test_ranks_take_their_slices_of_the_same_batches(
    source_kind: str, n: int, shuffle: bool, drop_last: bool
) -> None:
    """Every rank draws the same permutation; rank r's batches are its slices of the global
    batches (empty slices skipped), so the ranks together see each batch exactly once."""
    x, y = _images(n)
    if source_kind == "tensor":
        source: Any = TensorSource(x, y, torch.device("cpu"))
    else:
        dataset = list(zip(x, y.tolist(), strict=True))
        source = LoaderSource(dataset, y.tolist(), torch.device("cpu"))  # type: ignore[arg-type]

    def batches(shard: tuple[int, int] | None) -> list[list[int]]:
        generator = torch.Generator().manual_seed(5) if shuffle else None
        return [
            yb.tolist()
            for _, yb in source.batches(
                7, shuffle=shuffle, generator=generator, drop_last=drop_last, shard=shard
            )
        ]

    whole = batches(None)
    assert len(whole) == (3 if drop_last else 4)  # 22 = 7 + 7 + 7 + 1: the last batch is tiny
    for rank in range(3):
        slices = [b[slice(*shard_bounds(len(b), (rank, 3)))] for b in whole]
        assert batches((rank, 3)) == [s for s in slices if s]
    seen = [label for r in range(3) for b in batches((r, 3)) for label in b]
    assert sorted(seen) == sorted(label for b in whole for label in b)


def test_torchrun_command_lines() -> None:
    args = torchrun_args("runs", "20250101-120000-x-abcd", 2)
    assert "--standalone" in args and "--nproc-per-node=2" in args
    # each rank is the engine's own worker, never the UI package (issue 10)
    assert args[-6:] == [
        "-m", "engine.worker", "--store", "runs", "rank", "20250101-120000-x-abcd",
    ]  # fmt: skip
    assert not any(a.startswith("--signals-to-handle=") and "SIGHUP" in a for a in args)
    # torch 2.11's torchrun has no --shutdown-timeout (seen on a GPU machine): left out there
    from torch.distributed.run import get_args_parser

    here = {o for a in get_args_parser()._actions for o in a.option_strings}
    assert "--shutdown-timeout" in here and any(a.startswith("--shutdown-timeout=") for a in args)
    older = torchrun_args("runs", "20250101-120000-x-abcd", 2, known=here - {"--shutdown-timeout"})
    assert older == [a for a in args if not a.startswith("--shutdown-timeout=")]
    multi = torchrun_args("runs", "20250101-120000-x-abcd", 4, 2, "node0:29500")
    assert "--rdzv-endpoint=node0:29500" in multi and "--nnodes=2" in multi
    assert "--standalone" not in multi
    for nnodes, endpoint, needle in [
        (2, "", "--rdzv-endpoint HOST:PORT"),
        (1, "node0", "expected HOST:PORT"),
        (1, "node0:99999", "expected HOST:PORT"),
        (0, "", "at least 1"),
    ]:
        with pytest.raises(ConfigError, match=None) as info:
            check_topology(nnodes, endpoint)
        assert needle in str(info.value)
    check_global_batch(64, 4)
    with pytest.raises(ConfigError, match="multiple of 3"):
        check_global_batch(64, 3)


def test_device_decisions_of_a_rank() -> None:
    """What differs between CUDA and the CPU is decided by small functions, checked here
    without a GPU: the backend, the rank's device and DDP's device_ids."""
    assert backend_for("cuda") == "nccl" and backend_for("cpu") == "gloo"
    with pytest.raises(ConfigError, match="mps cannot run DistributedDataParallel"):
        backend_for("mps")
    cuda = torch.device("cuda")
    assert rank_device(cuda, 1, 2) == torch.device("cuda", 1)
    assert rank_device(torch.device("cuda", 0), 0, 1) == torch.device("cuda", 0)
    with pytest.raises(ConfigError, match="local rank 2 has no GPU"):
        rank_device(cuda, 2, 2)
    assert rank_device(torch.device("cpu"), 3, 0) == torch.device("cpu")
    assert ddp_device_ids(torch.device("cuda", 3)) == [3]
    assert ddp_device_ids(torch.device("cpu")) is None


def test_syncbatchnorm_on_cuda_only() -> None:
    """On CUDA every BatchNorm becomes a SyncBatchNorm holding the same parameters and buffers
    (the optimizer built before still applies); on the CPU the model is left as it is. The
    conversion is only a module swap, so it is checked here on a CPU model."""
    config, _ = resolve("digits-quick", [])
    model = create_model(config.model, 1, 10, 8)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms
    params = {id(p) for p in model.parameters()}
    buffers = {id(b) for b in model.buffers()}
    assert sync_batchnorm(model, "cpu") is model
    converted = sync_batchnorm(model, "cuda")
    kinds = [type(m) for m in converted.modules()]
    assert torch.nn.BatchNorm2d not in kinds
    assert kinds.count(torch.nn.SyncBatchNorm) == len(norms)
    assert {id(p) for p in converted.parameters()} == params
    assert {id(b) for b in converted.buffers()} == buffers


def test_each_rank_resumes_from_its_own_position() -> None:
    """A distributed position keeps every rank's sums and random states; a rank takes its own.
    A single process, or an older checkpoint with rank 0's states only, keeps the old path."""
    trainer = Trainer.__new__(Trainer)
    ranks = [{"aug_rng": torch.tensor([r]), "loss_sum": float(r)} for r in range(2)]
    position = {"step": 3, "aug_rng": torch.tensor([0]), "ranks": ranks}
    trainer.dist = None
    assert trainer._rank_position(position) is None
    trainer.dist = DistContext(1, 2, 1, torch.device("cpu"), None)
    assert trainer._rank_position(position) == ranks[1]
    assert trainer._rank_position({"step": 3, "aug_rng": torch.tensor([0])}) is None
    trainer.dist = DistContext(1, 3, 1, torch.device("cpu"), None)
    assert trainer._rank_position(position) is None  # not this world: never another rank's


def test_machines_that_never_meet_end_in_one_line(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torchrun gives up on the rendezvous (its join timeout is 10 minutes, too long to wait
    for here): the launcher says what to start where instead of a traceback."""
    from torch.distributed.elastic.rendezvous.api import RendezvousTimeoutError

    def never_met(_args: Any) -> None:
        raise RendezvousTimeoutError

    monkeypatch.setattr("torch.distributed.run.run", never_met)
    monkeypatch.setattr("signal.signal", lambda *_: None)  # the launcher ignores SIGHUP
    store = RunStore(runs_dir)
    config, _ = resolve("digits-quick", [])
    run_id = store.create_run(config.to_dict(), name="alone")["id"]
    with pytest.raises(UserError, match="did not meet at node0:29500") as info:
        launch(store, run_id, 1, 2, "node0:29500")
    assert f"--resume {run_id} --nnodes 2 --rdzv-endpoint node0:29500" in str(info.value)
    assert store.get(run_id)["status"] == "queued"  # resumable as it was


BAD = [
    (["train", "digits-quick", "--nnodes", "2"], "--rdzv-endpoint HOST:PORT"),
    (["train", "digits-quick", "--nproc", "2", "--rdzv-endpoint", "x"], "expected HOST:PORT"),
    (["train", "digits-quick", "--nproc", "0"], "--nproc: must be at least 1"),
    (["train", "digits-quick", "--nproc", "3"], "must split evenly over the 3 processes"),
    (["train", "digits-quick", "--set", "train.devices=0"], "train.devices: must be at least 1"),
]


@pytest.mark.parametrize(("args", "needle"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_distributed_requests_exit_2_and_create_nothing(
    runs_dir: Path, args: list[str], needle: str
) -> None:
    result = runner.invoke(app, ["--runs-dir", str(runs_dir), *args])
    assert result.exit_code == 2, result.output
    assert needle in result.output and len(result.output.strip().splitlines()) == 1
    assert store_snapshot(runs_dir) == {}


def test_a_run_keeps_its_number_of_processes(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    config, _ = resolve("digits-quick", ["train.devices=2"])
    run_id = store.create_run(config.to_dict(), name="two")["id"]
    before = store_snapshot(runs_dir)
    result = runner.invoke(
        app, ["--runs-dir", str(runs_dir), "train", "--resume", "two", "--nproc", "4"]
    )
    assert result.exit_code == 2 and "train.devices=2" in result.output, result.output
    assert store_snapshot(runs_dir) == before
    assert RunConfig().train.devices == 1 and store.get(run_id)["status"] == "queued"


# ---------------------------------------------------------------- a real run over gloo


def _env() -> dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))


def _wait_for(predicate: Any, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


SETS = ["train.epochs=3", "data.batch_size=32", "schedule.name=cosine"]


@pytest.mark.slow
def test_two_gloo_processes_stop_resume_and_match_one_process(runs_dir: Path) -> None:
    """`--nproc 2`: torchrun starts two CPU ranks (gloo) on a free rendezvous port. A stop
    request (SIGTERM to rank 0, as `runs stop` sends) stops both ranks after the same step;
    the resumed run finishes with each epoch stored once, by rank 0 alone, and reaches the
    accuracy of one process with the same global batch."""
    store = RunStore(runs_dir)
    base = [sys.executable, "-m", "resnet_tui", "--runs-dir", str(runs_dir), "train"]
    sets = [arg for s in SETS for arg in ("--set", s)]
    endpoint = f"127.0.0.1:{free_port()}"
    started = subprocess.run(
        [*base, "digits-quick", *sets, "--nproc", "2", "--rdzv-endpoint", endpoint]
        + ["--name", "ddp", "--detach"],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert started.returncode == 0, started.stderr
    run_id = store.resolve("ddp")
    _wait_for(lambda: store.get(run_id)["epoch"] >= 1)
    stop = runner.invoke(app, ["--runs-dir", str(runs_dir), "runs", "stop", "ddp"])
    assert stop.exit_code == 0, stop.output
    _wait_for(lambda: store.get(run_id)["status"] not in ("running", "queued"))
    doc = store.get(run_id)
    assert doc["status"] == "stopped", doc["message"]
    resumed = subprocess.run(
        [*base, "--resume", "ddp"], cwd=REPO, env=_env(), capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "DistributedDataParallel over 2 processes" in resumed.stdout
    doc = store.get(run_id)
    assert doc["status"] == "finished" and doc["config"]["train"]["devices"] == 2
    epochs = [m for m in store.read_metrics(run_id)[0] if m.get("kind") == "epoch"]
    assert [m["epoch"] for m in epochs] == [1, 2, 3]  # each epoch once: only rank 0 writes
    log = (store.run_dir(run_id) / "train.log").read_text()
    assert log.count("starting run") == 1 and log.count("resuming run") == 1
    assert "[rank 1]" not in log  # rank 1 trained quietly and did not fail
    confusion = json.loads((store.run_dir(run_id) / "confusion.json").read_text())
    n_test = sum(map(sum, confusion["test"]["matrix"]))
    assert 355 <= n_test <= 365  # the sharded evaluation covered the whole test split once
    # rank 0 gathered both ranks' test predictions into one file, each sample once, in order,
    # agreeing with the summed confusion matrix
    kept = api.read_predictions(store, run_id)
    assert kept.index.tolist() == list(range(n_test))
    rebuilt = np.zeros((len(kept.classes),) * 2, dtype=int)
    np.add.at(rebuilt, (kept.label, kept.pred), 1)
    assert rebuilt.tolist() == confusion["test"]["matrix"]
    assert len(api.mistakes(store, run_id)) == n_test - int(np.trace(rebuilt))

    single_config, preset = resolve("digits-quick", SETS)
    single = store.create_run(single_config.to_dict(), name="one", preset=preset)["id"]
    one = execute(store, single)
    assert one["status"] == "finished"
    one_epochs = [m for m in store.read_metrics(single)[0] if m.get("kind") == "epoch"]
    # same global batch, same data order: the same training up to the ranks' own
    # augmentation draws and batch-norm statistics
    assert abs(doc["test"]["test_acc"] - one["test"]["test_acc"]) < 0.05
    assert abs(epochs[-1]["train_loss"] - one_epochs[-1]["train_loss"]) < 0.15
    assert doc["test"]["test_acc"] > 0.85


# Augmentations that draw per rank (crop, flip, noise) and dropout (the global CPU generator),
# on a tiny model; log_every gives the fault hook step lines to count.
EXACT = [
    "train.epochs=2",
    "data.batch_size=32",
    "model.channels=8,16,32",
    "model.drop_rate=0.2",
    "augment.hflip=true",
    "augment.noise_std=0.1",
    "train.log_every=4",
]


def _final(store: RunStore, run_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    drop = {*EPOCH_TIMES, "time"}
    epochs = [
        {k: v for k, v in m.items() if k not in drop}
        for m in store.read_metrics(run_id)[0]
        if m.get("kind") == "epoch"
    ]
    doc = store.get(run_id)
    return epochs, {"best": doc["best"], "test": doc["test"], "status": doc["status"]}


@pytest.mark.slow
def test_two_machines_and_a_mid_epoch_resume_train_exactly_like_two_processes(
    runs_dir: Path,
) -> None:
    """Two `train` commands of one process each meet at --rdzv-endpoint as two machines; a
    run of 2 processes on one machine is stopped mid-epoch and resumed. Both end exactly (==)
    where each other ends: the same ranks draw the same numbers wherever they run, and every
    rank resumes from its own augmentation and dropout states and partial sums, which the
    checkpoint keeps per rank."""
    store = RunStore(runs_dir)
    base = [sys.executable, "-m", "resnet_tui", "--runs-dir", str(runs_dir), "train"]
    new = [*base, "digits-quick", *(a for s in EXACT for a in ("--set", s))]
    endpoint = f"127.0.0.1:{free_port()}"
    first = subprocess.Popen(
        [*new, "--nproc", "1", "--nnodes", "2", "--rdzv-endpoint", endpoint, "--name", "nodes"],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    # meanwhile rank 0 of the other run sends itself SIGTERM at its 14th metrics line: epoch 1
    # writes 9 step lines (39 steps, every 4th) and its epoch line, so it stops after step 16
    # of epoch 2
    cut = subprocess.Popen(
        [*new, "--nproc", "2", "--name", "cut", "--quiet"],
        cwd=REPO,
        env=dict(_env(), RESNET_TUI_FAULT="sigterm:metrics:14"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert first.stdout is not None
    lines = [first.stdout.readline(), first.stdout.readline()]
    assert "over 1 process on each of 2 machines" in lines[0], lines
    hint = lines[1].removeprefix("on each other machine: ").split()
    assert hint[0] == "resnet-tui" and hint[-4:] == ["--nnodes", "2", "--rdzv-endpoint", endpoint]
    second = subprocess.run(
        [sys.executable, "-m", "resnet_tui", *hint[1:], "--quiet"],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,  # a rendezvous that never completes would wait torchrun's 10 minutes
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert first.wait(timeout=240) == 0, first.stdout.read()
    nodes = store.resolve("nodes")
    assert store.get(nodes)["status"] == "finished"
    assert [m["epoch"] for m in _final(store, nodes)[0]] == [1, 2]  # stored once, by rank 0
    log = (store.run_dir(nodes) / "train.log").read_text()
    assert log.count("starting run") == 1 and "resuming" not in log and "[rank" not in log

    assert cut.wait(timeout=240) == 0, cut.communicate()[0]
    run_id = store.resolve("cut")
    assert store.get(run_id)["status"] == "stopped"
    position = load_checkpoint(store.run_dir(run_id) / "last.pt")["position"]
    assert position["epoch"] == 1 and position["step"] == 16
    ranks = position["ranks"]
    assert len(ranks) == 2 and not torch.equal(ranks[0]["aug_rng"], ranks[1]["aug_rng"])
    assert torch.equal(ranks[0]["aug_rng"], position["aug_rng"])
    assert ranks[0]["seen"] + ranks[1]["seen"] == position["seen"] == 16 * 32
    resumed = subprocess.run(
        [*base, "--resume", "cut", "--quiet"],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert store.get(run_id)["status"] == "finished"
    assert _final(store, run_id) == _final(store, nodes)
