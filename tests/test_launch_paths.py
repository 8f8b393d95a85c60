"""One launch path: every request of the bad-input catalogue that would start a run is refused by
the console's launch path (``resnet_tui.screens.actions.launch``, what the Launch form and the
quick launch call, with the engine's real helper process) with the very lines the CLI prints,
and neither leaves a trace in the store. A request both accept starts the same run."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures import store_snapshot
from test_bad_input import CLI_CASES, PRESET_FILES, USER_PRESETS, _fill
from typer.testing import CliRunner

from engine import api
from engine.api.remote import EngineHelper
from resnet_tui.cli import app
from resnet_tui.follow import StoreFollower
from resnet_tui.screens.actions import launch

# Every catalogue case that asks `train` to start a new run: a preset and --set overrides
# (resumes are another path; a misspelt option is the CLI's own syntax).
TRAIN_CASES = [
    (args, needle)
    for args, needle in CLI_CASES
    if args[0] == "train" and all(a == "--set" or not a.startswith("--") for a in args)
]


def to_request(args: list[str]) -> api.RunRequest:
    """The request the console sends for what ``resnet-tui train ARGS`` asks."""
    preset: str | None = None
    sets: list[str] = []
    rest = iter(args[1:])
    for arg in rest:
        if arg == "--set":
            sets.append(next(rest))
        elif arg.startswith("--"):
            raise ValueError(f"not a train request the console can send: {args}")
        else:
            preset = arg
    return api.RunRequest(preset, tuple(sets))


class ConsoleStandIn:
    """What ``actions.launch`` uses of the console: its store, its follower, its helper, and
    the App's thread hop (run inline here)."""

    def __init__(self, store: api.RunStore, helper: EngineHelper) -> None:
        self.store = store
        self.helper = helper
        self.follower = StoreFollower(store)
        self.notes: list[str] = []

    def call_from_thread(self, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return callback(*args, **kwargs)

    def notify(self, message: str, **_: Any) -> None:
        self.notes.append(message)


@pytest.fixture(scope="module")
def user_presets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("user-presets")
    for name, body in USER_PRESETS.items():
        (folder / name).write_text(body)
    return folder


@pytest.fixture(scope="module")
def helper(user_presets: Path) -> Iterator[EngineHelper]:
    """One helper for the module, started as the console starts it: with the environment
    (the user's preset folder) the console has."""
    saved = os.environ.get("RESNET_TUI_PRESETS")
    os.environ["RESNET_TUI_PRESETS"] = str(user_presets)
    engine_helper = EngineHelper()
    try:
        engine_helper.catalog()  # started now, with that environment
        yield engine_helper
    finally:
        engine_helper.close()
        if saved is None:
            os.environ.pop("RESNET_TUI_PRESETS", None)
        else:
            os.environ["RESNET_TUI_PRESETS"] = saved


@pytest.fixture(autouse=True)
def _same_presets(user_presets: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESNET_TUI_PRESETS", str(user_presets))


def _preset_files(tmp_path: Path) -> Path:
    folder = tmp_path / "presets"
    folder.mkdir()
    for name, body in PRESET_FILES.items():
        (folder / name).write_bytes(body if isinstance(body, bytes) else body.encode())
    return folder


@pytest.mark.parametrize(
    ("args", "needle"), TRAIN_CASES, ids=[" ".join(a)[:60] for a, _ in TRAIN_CASES]
)
@pytest.mark.slow
def test_the_console_refuses_what_the_cli_refuses_with_the_same_words(
    store_copy: Path, tmp_path: Path, helper: EngineHelper, args: list[str], needle: str
) -> None:
    presets = _preset_files(tmp_path)
    store = api.open_store(store_copy)
    filled = [_fill(a, presets, store_copy, store) for a in args]
    before = store_snapshot(store_copy.parent)

    cli = CliRunner().invoke(app, ["--runs-dir", str(store_copy), *filled])
    assert cli.exit_code == 2, cli.output
    cli_lines = [line.removeprefix("error: ") for line in cli.output.strip().splitlines()]
    assert store_snapshot(store_copy.parent) == before

    console = ConsoleStandIn(store, helper)
    with pytest.raises(api.UserError) as refused:
        launch(console, to_request(filled))  # type: ignore[arg-type]
    assert str(refused.value).splitlines() == cli_lines
    assert _fill(needle, presets, store_copy, store) in str(refused.value)
    assert store_snapshot(store_copy.parent) == before  # nothing written, byte for byte
    assert not console.notes


def test_the_catalogue_reaches_every_kind_of_check() -> None:
    """The shared cases cover the preset files, --set, the data, the model built for the data
    and the device: the checks that need torch run in the console's helper."""
    needles = " ".join(needle for _, needle in TRAIN_CASES)
    assert len(TRAIN_CASES) >= 45
    for piece in ("TOML syntax error", "is larger than the 1258 training images", "data.root"):
        assert piece in needles
    assert "shrink 8x8 input to 1x1" in needles and "unknown model" in needles


@pytest.mark.slow
def test_a_request_both_accept_starts_the_same_run(runs_dir: Path, helper: EngineHelper) -> None:
    store = api.open_store(runs_dir)
    console = ConsoleStandIn(store, helper)
    sets = ("train.epochs=1", "optim.lr=0.05")
    record, started = launch(console, api.RunRequest("digits-quick", sets, name="from-console"))  # type: ignore[arg-type]
    cli = CliRunner().invoke(
        app,
        ["--runs-dir", str(runs_dir), "train", "digits-quick", "--name", "from-cli", "--quiet"]
        + [part for s in sets for part in ("--set", s)],
    )
    assert cli.exit_code == 0, cli.output
    deadline = time.monotonic() + 120
    while api.get_run(store, record.id).status in ("queued", "running"):
        assert time.monotonic() < deadline, "the console's run did not finish"
        time.sleep(0.5)
    ours, theirs = api.get_run(store, record.id), api.get_run(store, "from-cli")
    assert ours.status == theirs.status == "finished"
    assert ours.config == theirs.config and ours.params == theirs.params
    assert ours.test == theirs.test  # the same run, trained deterministically either way
    assert started.pid != os.getpid()
