"""The machine's load per run (engine.sysmon, engine.sysload) and each run's provenance
(engine.provenance): the sampler's units, the NVML-less path this machine really has, the
summary, the data-bound line, git state from real repositories, and a real digits run read
back through `runs show --json`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO
from typer.testing import CliRunner

from engine import provenance
from engine.records import RunMetrics
from engine.sysload import DATA_WAIT_LIMIT, SystemSummary, bottleneck_words, data_wait_share
from engine.sysmon import Sampler, gpu_sample
from resnet_tui.cli import app

MB = 2**20


class Board:
    """A GPU reader at the hardware boundary: NVML's raw units (bytes, milliwatts); a figure
    this board does not report raises, as NVML's NotSupported does."""

    def __init__(self, power: bool = True) -> None:
        self.power = power
        self.closed = False

    def open(self, gpus: Any) -> list[tuple[int, Any]]:
        return [
            (int(g), {"util": 40 + 20 * int(g), "used": (1 + int(g)) * 1024 * MB}) for g in gpus
        ]

    def utilization(self, handle: Any) -> float:
        return float(handle["util"])

    def memory(self, handle: Any) -> tuple[float, float]:
        return float(handle["used"]), float(16 * 1024 * MB)

    def power_mw(self, handle: Any) -> float:
        if not self.power:
            raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")
        return 123_456.0

    def temperature(self, handle: Any) -> float:
        return 61.0

    def close(self) -> None:
        self.closed = True


def _wait(pred: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_gpu_sample_is_in_mb_watts_and_degrees_and_leaves_out_what_the_board_lacks() -> None:
    board = Board()
    handle = board.open([1])[0][1]
    assert gpu_sample(board, 1, handle) == {
        "index": 1,
        "util_pct": 60.0,
        "mem_used_mb": 2048.0,
        "mem_total_mb": 16384.0,
        "power_w": 123.5,
        "temp_c": 61.0,
    }
    assert "power_w" not in gpu_sample(Board(power=False), 1, handle)


def test_the_sampler_writes_cpu_and_gpu_figures_and_stops_cleanly() -> None:
    lines: list[dict[str, Any]] = []
    board = Board()
    sampler = Sampler(lines.append, 0.05, gpus=[0, 1], reader=board, elapsed=lambda: 7.5)
    with sampler:
        _wait(lambda: len(lines) >= 2)
    count = len(lines)
    time.sleep(0.15)
    assert len(lines) == count  # the thread is gone
    assert board.closed and not any(t.name == "sysmon" for t in threading.enumerate())
    line = lines[0]
    assert line["kind"] == "sys" and line["elapsed_s"] == 7.5
    assert line["rss_mb"] > 10 and line["host_total_mb"] >= line["host_used_mb"] > 0
    # the test process's children (an xdist worker may still hold a helper another test left)
    assert line["cpu_pct"] >= 0 and isinstance(line["workers"], int) and line["workers"] >= 0
    assert [g["index"] for g in line["gpus"]] == [0, 1]
    assert line["gpu_util_pct"] == 50.0  # the mean of 40 and 60
    assert line["gpu_mem_mb"] == 2048.0  # the fuller GPU


class ThreadedBoard(Board):
    """A board that notes which thread opens, reads and closes it."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[tuple[str, str]] = []

    def _note(self, what: str) -> None:
        self.threads.append((what, threading.current_thread().name))

    def open(self, gpus: Any) -> list[tuple[int, Any]]:
        self._note("open")
        return super().open(gpus)

    def temperature(self, handle: Any) -> float:
        self._note("read")
        return 61.0

    def close(self) -> None:
        self._note("close")
        super().close()


def test_the_sampling_thread_alone_opens_reads_and_closes_the_gpu_reader() -> None:
    """stop() only signals and joins: a thread that outlived the join's timeout must never
    find NVML closed under it, so the thread closes what it opened, last sample included."""
    board = ThreadedBoard()
    lines: list[dict[str, Any]] = []
    with Sampler(lines.append, 0.05, gpus=[0], reader=board):
        _wait(lambda: len(lines) >= 2)
    assert board.closed
    assert {thread for _, thread in board.threads} == {"sysmon"}
    assert board.threads[0][0] == "open" and board.threads[-1][0] == "close"


def test_without_nvml_the_sampler_has_cpu_figures_logs_once_and_raises_nothing() -> None:
    pynvml = pytest.importorskip("pynvml")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        pass  # this machine's real case: no library or no driver
    else:
        pynvml.nvmlShutdown()
        pytest.skip("this machine has NVML: the path without it is not the real one here")
    lines: list[dict[str, Any]] = []
    logged: list[str] = []
    with Sampler(lines.append, 0.05, gpus=[0], log=logged.append):
        _wait(lambda: len(lines) >= 3)
    assert len(logged) == 1 and "no GPU figures" in logged[0]
    assert all("gpus" not in line and "cpu_pct" in line and "rss_mb" in line for line in lines)
    summary = SystemSummary.of(lines)
    assert summary.gpus is None and summary.mean_gpu_util_pct is None
    assert summary.peak_gpu_mem_mb is None and summary.peak_rss_mb is not None


def test_a_failing_writer_ends_the_sampling_not_the_caller() -> None:
    calls: list[int] = []
    logged: list[str] = []

    def full_disk(_line: Any) -> None:
        calls.append(1)
        raise OSError(28, "No space left on device")

    with Sampler(full_disk, 0.02, log=logged.append):
        _wait(lambda: bool(logged))
        time.sleep(0.1)
    assert len(calls) == 1 and "sampling stopped" in logged[0] and "No space" in logged[0]


def test_the_summary_of_samples_and_epochs() -> None:
    gpu = {"util_pct": 80.0, "mem_used_mb": 9000.0, "mem_total_mb": 16000.0, "power_w": 200.0}
    samples = [
        {"kind": "sys", "cpu_pct": 100.0, "rss_mb": 900.0, "gpus": [gpu]},
        {"kind": "sys", "cpu_pct": 50.0, "rss_mb": 1200.0, "gpus": [{**gpu, "util_pct": 40.0}]},
    ]
    epochs = [
        {"epoch": 1, "data_s": 9.0, "step_s": 1.0},  # the loader's start: left out
        {"epoch": 2, "data_s": 1.0, "step_s": 3.0},
        {"epoch": 3, "data_s": 1.0, "step_s": 3.0},
    ]
    metrics = RunMetrics.from_lines([*samples, *epochs])
    assert len(metrics.samples) == 2 and len(metrics.epochs) == 3
    summary = SystemSummary.of(metrics.samples, metrics.epochs)
    assert summary.mean_cpu_pct == 75.0 and summary.peak_rss_mb == 1200.0
    assert summary.gpus == 1 and summary.mean_gpu_util_pct == 60.0
    assert summary.peak_gpu_mem_mb == 9000.0 and summary.peak_power_w == 200.0
    assert summary.data_wait_share == 0.25 and not summary.data_bound
    assert all(len(line) <= 80 for line in summary.describe())
    assert SystemSummary.of([]).describe() == [
        "system: no samples (a run trained before the load was sampled)"
    ]
    off = {"train": {"sample_s": 0.0}}
    assert SystemSummary.of([]).describe(off) == [
        "system: no samples (sampling was off: train.sample_s = 0)"
    ]
    assert SystemSummary.of([]).describe({"train": {"sample_s": 5.0}}) == [
        "system: no samples (a run trained before the load was sampled)"
    ]


def test_the_data_bound_line_names_the_bench_command_over_the_limit() -> None:
    assert data_wait_share({"data_s": 3.0, "step_s": 7.0}) == 0.3
    assert data_wait_share({"seconds": 3.0}) is None
    assert bottleneck_words(DATA_WAIT_LIMIT) is None
    words = bottleneck_words(0.45, "cifar10-fast")
    assert words is not None and words.startswith("data-bound: 45% of step time")
    assert "`resnet-tui bench loader cifar10-fast`" in words
    # the command the line names exists
    out = CliRunner().invoke(app, ["bench", "loader", "--help"])
    assert out.exit_code == 0, out.output


# ---------------------------------------------------------------- provenance


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def test_git_state_of_a_checkout_clean_dirty_and_of_a_plain_folder(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(
        repo,
        "-c",
        "user.email=t@t",
        "-c",
        "user.name=t",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "x",
    )
    (repo / "a.py").write_text("x = 1\n")
    _git(repo, "add", "a.py")
    _git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "a")
    fields, diff = provenance.git_state(repo)
    assert fields == {"git_commit": _git(repo, "rev-parse", "HEAD"), "git_dirty": False}
    assert diff == b""
    (repo / "a.py").write_text("x = 2\n")
    fields, diff = provenance.git_state(repo)
    assert fields["git_dirty"] is True and b"+x = 2" in diff
    # a folder inside the repository is not its top: no commit is claimed for it
    (repo / "sub").mkdir()
    assert provenance.git_state(repo / "sub") == ({"git_commit": None, "git_dirty": None}, b"")
    plain = tmp_path / "plain"
    plain.mkdir()
    assert provenance.git_state(plain)[0] == {"git_commit": None, "git_dirty": None}


def test_a_long_diff_is_cut_and_says_so(tmp_path: Path) -> None:
    diff = b"+" + b"x" * (provenance.DIFF_LIMIT + 10)
    fields = provenance.store_diff(tmp_path, {"git_commit": "abc"}, diff)
    assert fields["git_diff"] == provenance.DIFF_FILE and fields["git_diff_cut"] is True
    assert fields["git_diff_bytes"] == len(diff)
    stored = (tmp_path / provenance.DIFF_FILE).read_bytes()
    assert stored.startswith(diff[: provenance.DIFF_LIMIT]) and b"cut at 262,144" in stored
    small = provenance.store_diff(tmp_path, {}, b"+y\n")
    assert small["git_diff_cut"] is False and small["git_diff_bytes"] == 3


def test_a_run_from_the_launch_form_records_its_preset_and_says_where_it_came_from(
    tmp_path: Path,
) -> None:
    from engine import api

    store = api.open_store(tmp_path / "runs")
    config = api.plan_run(api.RunRequest("digits-quick")).config.to_dict()
    form = api.plan_run(api.RunRequest("digits-quick", config=config, name="form"))
    record = api.create_run(store, form)
    prov = record.provenance
    assert record.preset == "digits-quick"
    assert prov["preset_file"].endswith("digits-quick.toml") and "[model]" in prov["preset_text"]
    assert prov["command"] == "resnet-tui (console Launch form)"
    typed = api.create_run(store, api.plan_run(api.RunRequest("digits-quick", name="typed")))
    assert typed.provenance["command"] == provenance.command_line()  # this process's own
    assert typed.provenance["preset_text"] == prov["preset_text"]
    gone = api.plan_run(api.RunRequest("no-such-preset", config=config, name="gone"))
    assert api.create_run(store, gone).provenance["preset_text"] is None


# ---------------------------------------------------------------- a real run


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path_factory.mktemp("sysload") / "runs"
    # a real process: its command line is what provenance records
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "resnet_tui",
            "--runs-dir",
            str(runs),
            "train",
            "digits-quick",
            "--set",
            "train.epochs=2",
            "--set",
            "train.sample_s=0.2",
            "--name",
            "sampled",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO)),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return runs


@pytest.mark.slow
def test_runs_show_json_has_provenance_and_a_system_summary(trained: Path) -> None:
    out = CliRunner().invoke(app, ["--runs-dir", str(trained), "runs", "show", "sampled", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    prov, system = data["provenance"], data["system"]
    assert prov == data["run"]["provenance"]
    assert prov["version"] == provenance._version("resnet-tui")
    assert prov["python"].count(".") == 2 and prov["torch"] and prov["torchvision"]
    assert prov["host"] and " -m resnet_tui --runs-dir " in prov["command"]
    assert "train digits-quick" in prov["command"]
    assert "train.sample_s=0.2" in prov["command"]
    assert prov["preset_file"].endswith("digits-quick.toml") and "[model]" in prov["preset_text"]
    repo = provenance.PROJECT_ROOT
    if (repo / ".git").exists():  # from a checkout: its commit, and its diff when dirty
        assert prov["git_commit"] == _git(repo, "rev-parse", "HEAD")
        folder = trained / data["run"]["id"]
        assert (folder / provenance.DIFF_FILE).exists() == bool(prov["git_dirty"])
    assert system["samples"] >= 2
    assert system["mean_cpu_pct"] is not None and system["peak_rss_mb"] > 50
    assert system["data_wait_share"] is not None and system["bottleneck"] is None
    if data["run"]["device"] == "cpu":  # no GPU: null, never 0
        assert system["gpus"] is None and system["peak_gpu_mem_mb"] is None
        assert system["mean_gpu_util_pct"] is None and prov["gpus"] is None
    lines = (trained / data["run"]["id"] / "metrics.jsonl").read_text().splitlines()
    assert sum('"kind":"sys"' in line for line in lines) == system["samples"]


@pytest.mark.slow
def test_runs_show_prints_the_load_and_provenance_within_80_columns(trained: Path) -> None:
    out = CliRunner().invoke(
        app, ["--runs-dir", str(trained), "runs", "show", "sampled"], env={"COLUMNS": "80"}
    )
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    text = out.output
    assert "system: " in text and "RSS peak" in text and "provenance: resnet-tui" in text
    assert "command: " in text and "digits-quick.toml" in text
