"""Security: no code runs from a checkpoint or a preset, nothing escapes the run store, the
server listens on localhost, and the store's files follow the user's umask."""

from __future__ import annotations

import ast
import inspect
import os
import pickle
import stat
from pathlib import Path
from typing import Any

import fault_harness as fh
import pytest
import torch
from conftest import REPO
from typer.testing import CliRunner

from engine.checkpoint import load_checkpoint
from engine.errors import CheckpointError, ConfigError
from engine.presets import resolve, save_preset
from engine.store import RUN_ID_RE, RunStore
from resnet_tui.cli import app

torch.set_num_threads(1)
SOURCES = sorted((REPO / "engine").rglob("*.py")) + sorted((REPO / "resnet_tui").rglob("*.py"))


def _calls(tree: ast.AST) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return f"{_name(func.value)}.{func.attr}"
    return ""


# ---------------------------------------------------------------- checkpoints


def test_every_torch_load_is_weights_only() -> None:
    found = 0
    for path in SOURCES:
        for call in _calls(ast.parse(path.read_text(), str(path))):
            if _name(call.func) == "torch.load":
                found += 1
                keywords = {k.arg: k.value for k in call.keywords}
                value = keywords.get("weights_only")
                assert isinstance(value, ast.Constant) and value.value is True, (
                    f"{path}:{call.lineno}: torch.load without weights_only=True"
                )
    assert found >= 1  # the scan saw the checkpoint loader


class _Payload:
    """Unpickling this runs ``open(marker, "w")``: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def test_a_malicious_checkpoint_runs_no_code(runs_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"format_version": 1, "model": {}, "x": _Payload(marker)}, evil)
    with pytest.raises(CheckpointError, match="corrupt or not a resnet-tui checkpoint"):
        load_checkpoint(evil)
    assert not marker.exists()
    # as a run's checkpoints: resume refuses (both are bad), and still nothing ran
    store = RunStore(runs_dir)
    config, preset = resolve("digits-quick", ["train.epochs=1"])
    run_id = store.create_run(config.to_dict(), preset=preset)["id"]
    store.set_status(run_id, "stopped")
    for name in ("last.pt", "best.pt"):
        (store.run_dir(run_id) / name).write_bytes(evil.read_bytes())
    result = CliRunner().invoke(
        app, ["--runs-dir", str(runs_dir), "train", "--resume", run_id, "--quiet"]
    )
    assert result.exit_code == 2 and "no usable checkpoint" in result.output
    assert not marker.exists()


# ---------------------------------------------------------------- presets


def test_presets_are_read_as_toml_only() -> None:
    """No pickle, eval, exec or import machinery in the config and preset readers."""
    modules = [
        "engine/presets.py",
        *(str(p.relative_to(REPO)) for p in REPO.glob("engine/config/*.py")),
    ]
    assert len(modules) >= 6  # the config package's modules are all read
    for module in modules:
        tree = ast.parse((REPO / module).read_text())
        imported = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        } | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not imported & {"pickle", "marshal", "shelve", "yaml", "importlib", "runpy"}
        called = {_name(c.func) for c in _calls(tree)}
        assert not called & {"eval", "exec", "compile", "__import__"}, module
        assert "tomllib.loads" in called or module.startswith("engine/config/")


@pytest.mark.parametrize(
    "body",
    [
        pickle.dumps({"optim": {"lr": 0.1}}),
        b'__import__("os").system("touch PWNED")\n',
        b'[optim]\nlr = __import__("os").getpid()\n',
    ],
    ids=["pickle", "python", "python-value"],
)
def test_a_preset_holding_code_is_refused_and_never_run(tmp_path: Path, body: bytes) -> None:
    preset = tmp_path / "evil.toml"
    preset.write_bytes(body)
    before = set(os.listdir(tmp_path))
    with pytest.raises(ConfigError):
        resolve(str(preset))
    assert set(os.listdir(tmp_path)) == before and not Path("PWNED").exists()


@pytest.mark.parametrize("name", ["../evil", "/tmp/evil", "a/b", "..", "Evil Name", ""])
def test_saved_preset_names_cannot_leave_the_preset_folder(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="preset name"):
        save_preset(name, resolve("digits-quick")[0], "x")
    assert not (tmp_path / "evil.toml").exists() and not Path("/tmp/evil.toml").exists()


# ---------------------------------------------------------------- the run store


@pytest.mark.parametrize(
    "name", ["../../evil", "/etc/passwd", "a/../../b", "..", "\x00nul", "~root", "x" * 500]
)
def test_run_names_never_become_paths(runs_dir: Path, name: str) -> None:
    store = RunStore(runs_dir)
    doc = store.create_run(resolve("digits-quick")[0].to_dict(), name=name)
    assert RUN_ID_RE.fullmatch(doc["id"]) and doc["name"] == name
    assert store.run_dir(doc["id"]).parent == runs_dir
    everything = {p.resolve() for p in runs_dir.parent.rglob("*")}
    assert all(runs_dir.resolve() in p.parents or p == runs_dir.resolve() for p in everything)
    assert store.resolve(name) == doc["id"]  # found by its name, as a name


def test_deleting_a_run_never_follows_a_symlink_out_of_the_store(
    runs_dir: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "thesis.tex").write_text("years of work")
    store = RunStore(runs_dir)
    run_id = store.create_run(resolve("digits-quick")[0].to_dict())["id"]
    folder = store.run_dir(run_id)
    for child in folder.iterdir():
        child.unlink()
    folder.rmdir()
    folder.symlink_to(outside, target_is_directory=True)  # planted by someone else
    result = CliRunner().invoke(app, ["--runs-dir", str(runs_dir), "runs", "rm", run_id, "-y"])
    assert result.exit_code == 0, result.output
    assert (outside / "thesis.tex").read_text() == "years of work"
    assert sorted(p.name for p in runs_dir.iterdir()) == ["index.json", "index.json.lock"]


# ---------------------------------------------------------------- serve


def test_serve_listens_on_localhost_unless_told_otherwise() -> None:
    from typer.main import get_command

    from resnet_tui import serve as serve_module

    assert inspect.signature(serve_module.serve).parameters["host"].default == "127.0.0.1"
    command = get_command(app)
    serve_command = getattr(command, "commands", {}).get("serve")
    if serve_command is None:
        pytest.skip("no `resnet-tui serve` command yet: only resnet_tui.serve.serve() is checked")
    host = next(p for p in serve_command.params if p.name == "host")
    assert host.default == "127.0.0.1"


# ---------------------------------------------------------------- file modes


@pytest.mark.slow
def test_a_run_leaves_no_world_writable_file(runs_dir: Path) -> None:
    """With umask 022, every file and folder of the store after a whole run (index, lock,
    run.json, config.toml, metrics, log, checkpoints, confusion) is 644 / 755: the umask's
    modes, nothing writable by others, nothing hard-coded."""
    fh.warm_up()
    old = os.umask(0o022)
    try:
        store = RunStore(runs_dir)
        sets = ["train.epochs=1", "train.log_every=5", "model.channels=8,16,32"]
        config, preset = resolve("digits-quick", sets)
        run_id = store.create_run(config.to_dict(), preset=preset)["id"]
    finally:
        os.umask(old)
    proc = fh.start_trainer(runs_dir, run_id, umask=0o022)
    proc.join(180)
    assert proc.exitcode == 0
    assert store.get(run_id)["status"] == "finished"
    paths = [runs_dir, *runs_dir.rglob("*")]
    names = {p.name for p in paths}
    assert {"index.json", "index.json.lock", "best.pt", "last.pt", "train.log"} <= names
    assert {"run.json", "config.toml", "metrics.jsonl", "confusion.json"} <= names
    for path in paths:
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert not mode & stat.S_IWOTH, f"{path} is world-writable ({oct(mode)})"
        assert mode == (0o755 if path.is_dir() else 0o644), f"{path}: {oct(mode)}"
