"""The wall between the engine and the UI, and a fast CLI start (STYLE.md, harlequin's test)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
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


@pytest.mark.slow  # imports every engine module in a fresh interpreter
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


# ---------------------------------------------------------------- the house (issue 10)


def _modules(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def test_no_module_over_600_lines() -> None:
    """Files that fit in a head: split by job before a module passes 600 lines."""
    long = {
        str(path.relative_to(REPO)): n
        for package in ("engine", "resnet_tui")
        for path in _modules(package)
        if (n := len(path.read_text().splitlines())) > 600
    }
    assert long == {}


def test_no_import_cycles_function_level_imports_included() -> None:
    """grimp reads every import statement, those inside functions too: no module of the
    project reaches itself again."""
    import grimp

    graph = grimp.build_graph("engine", "resnet_tui")
    edges = {m: graph.find_modules_directly_imported_by(m) & graph.modules for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in edges[module]:
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    assert cycles == []


def test_the_front_ends_contract_lists_every_engine_module_but_the_api() -> None:
    """pyproject's import-linter contract forbids resnet_tui every engine module except
    engine.api; a new engine module must be added to it (or the wall has a hole)."""
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    contract = next(
        c
        for c in config["tool"]["importlinter"]["contracts"]
        if c["name"] == "the front-ends enter the engine only through engine.api"
    )
    children = {
        f"engine.{p.stem if p.is_file() else p.name}"
        for p in (REPO / "engine").iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()
    }
    assert set(contract["forbidden_modules"]) == children - {"engine.api"}


def test_the_readme_names_every_preset() -> None:
    """The README's preset table is where a newcomer picks one: a new preset goes in it."""
    readme = (REPO / "README.md").read_text()
    missing = [p.stem for p in (REPO / "presets").glob("*.toml") if f"`{p.stem}`" not in readme]
    assert missing == []
