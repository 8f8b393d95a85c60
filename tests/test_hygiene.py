"""The wall between the engine and the UI, and a fast CLI start (STYLE.md, harlequin's test)."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def test_engine_never_imports_textual_or_rich() -> None:
    modules = _modules_after(
        "import engine.config, engine.presets, engine.optim, engine.trainer, engine.runner, "
        "engine.store, engine.metrics, engine.checkpoint, engine.models, engine.data, "
        "engine.data.augment"
    )
    assert "torch" in modules  # the import really happened
    assert not {m for m in modules if m.split(".")[0] in ("textual", "rich")}


def test_store_and_config_do_not_import_torch() -> None:
    modules = _modules_after("import engine.store, engine.presets, engine.metrics")
    assert "engine.store" in modules
    assert "torch" not in modules


def test_cli_help_does_not_import_torch() -> None:
    code = (
        "from typer.testing import CliRunner\n"
        "from resnet_tui.cli import app\n"
        "result = CliRunner().invoke(app, ['--help'])\n"
        "assert result.exit_code == 0 and 'train' in result.output, result.output\n"
    )
    modules = _modules_after(code)
    assert "resnet_tui.cli" in modules
    assert "torch" not in modules
    assert "textual" not in modules
