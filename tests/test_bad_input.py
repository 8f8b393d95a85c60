"""The bad-input catalogue: every mistake a user can make at the command line or in a form
gets one clear line (exit 2, no traceback) and leaves the run store exactly as it was.

Cases run against a populated store (finished, diverged, stopped, running runs; a run of
another host) whose bytes are compared before and after.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import pytest
import torch
from fixtures import store_snapshot
from typer.testing import CliRunner

from engine.config import RunConfig
from engine.errors import ConfigError
from engine.presets import resolve
from engine.store import RunStore
from resnet_tui.cli import app

torch.set_num_threads(1)

# The populated store (fixtures ``populated`` and ``store_copy``) is in conftest.py: the
# console's launch path (test_launch_paths.py) runs the same catalogue on it.


# ---------------------------------------------------------------- preset files

PRESET_FILES: dict[str, str | bytes] = {
    "syntax.toml": 'description = "x"\n[optim\nlr = 0.1\n',
    "section.toml": "[optm]\nlr = 0.1\n",
    "key.toml": "[optim]\nlrr = 0.1\n",
    "type.toml": '[optim]\nlr = "fast"\n',
    "range.toml": "[train]\nepochs = 0\n",
    "toplevel.toml": "epochs = 3\n",
    "list.toml": '[model]\nlayers = ["a", "b"]\n',
    "extends-missing.toml": 'extends = "no-such-base"\n',
    "description.toml": "description = 3\n",
    "code.toml": 'import os\nos.system("touch pwned")\n',
    "pickle.toml": pickle.dumps({"optim": {"lr": 0.1}}),
    "choice.toml": '[train]\namp = "fp8"\n',
}
USER_PRESETS = {  # in the user preset folder, referred to by name
    "loop-a.toml": 'extends = "loop-b"\n',
    "loop-b.toml": 'extends = "loop-a"\n',
}

# (arguments, a piece of the message); "{p}" is the folder of PRESET_FILES, "{run:NAME}" the
# id of a run of the populated store, "{runs}" the store.
CLI_CASES: list[tuple[list[str], str]] = [
    # presets
    (["train", "{p}/syntax.toml"], "TOML syntax error"),
    (["train", "{p}/section.toml"], "unknown section [optm] (did you mean 'optim'?)"),
    (["train", "{p}/key.toml"], "unknown key 'optim.lrr' (did you mean 'optim.lr'?)"),
    (["train", "{p}/type.toml"], "optim.lr: expected a number, got 'fast'"),
    (["train", "{p}/range.toml"], "train.epochs: must be at least 1, got 0"),
    (["train", "{p}/toplevel.toml"], "top-level key 'epochs' is not a [section] table"),
    (["train", "{p}/list.toml"], "model.layers[0]: expected an integer"),
    (["train", "{p}/extends-missing.toml"], "unknown preset 'no-such-base'"),
    (["train", "{p}/description.toml"], "'description' must be a string"),
    (["train", "{p}/code.toml"], "TOML syntax error"),
    (["train", "{p}/pickle.toml"], "not a TOML preset (not UTF-8 text"),
    (["train", "{p}/choice.toml"], "train.amp: 'fp8' is not one of"),
    (["train", "loop-a"], "'extends' makes a cycle"),
    (["train", "no-such-preset"], "unknown preset 'no-such-preset'"),
    (["train", "digits-quik"], "did you mean 'digits-quick'"),
    (["train", "missing.toml"], "preset file 'missing.toml' does not exist"),
    (["presets", "show", "nope"], "unknown preset 'nope'"),
    (["presets", "show", "digits-quick", "--set", "optim.lrr=1"], "did you mean 'optim.lr'"),
    # --set syntax, keys and types
    (["train", "--set", "optim.lr"], "expected section.key=value"),
    (["train", "--set", "=3"], "expected section.key=value"),
    (["train", "--set", "lr=0.1"], "'lr' is not of the form section.key"),
    (["train", "--set", "optim.lrr=1"], "unknown key 'optim.lrr' (did you mean 'optim.lr'?)"),
    (["train", "--set", "train.lr=0.1"], "did you mean 'optim.lr'"),
    (["train", "--set", "optm.lr=0.1"], "unknown section [optm] (did you mean 'optim'?)"),
    (["train", "--set", "train.epochs=abc"], "train.epochs: expected an integer"),
    (["train", "--set", "augment.hflip=maybe"], "augment.hflip: expected true/false"),
    (["train", "--set", "data.batch_size=1.5"], "data.batch_size: expected an integer"),
    (["train", "--set", "optim.lr=[1,2]"], "optim.lr: expected a number"),
    (["train", "--set", "optim.lr=nan"], "optim.lr: expected a finite number"),
    (["train", "--set", "optim.lr=inf"], "optim.lr: expected a finite number"),
    # out of range and inconsistent values
    (["train", "--set", "optim.lr=-1"], "optim.lr: must be greater than 0"),
    (["train", "--set", "data.batch_size=0"], "data.batch_size: must be at least 1"),
    (["train", "--set", "data.val_fraction=1.5"], "data.val_fraction: is a probability"),
    (
        ["train", "--set", "data.val_fraction=0.5", "--set", "data.test_fraction=0.5"],
        "val_fraction + test_fraction must be below 1",
    ),
    (["train", "--set", "train.amp=fp8"], "train.amp: 'fp8' is not one of"),
    (["train", "--set", "model.se_ratio=2"], "model.se_ratio: is a ratio in [0, 1]"),
    (["train", "--set", "optim.momentum=0"], "Nesterov momentum needs optim.momentum > 0"),
    (["train", "--set", "schedule.warmup_epochs=50"], "must be shorter than train.epochs"),
    (["train", "--set", "schedule.milestones=5,3"], "must be strictly increasing"),
    (["train", "--set", "augment.cutout_holes=2"], "cutout needs both"),
    (["train", "--set", "data.batch_size=5000"], "is larger than the 1258 training images"),
    (["train", "--set", "train.device=tpu"], "train.device: 'tpu' is not a device"),
    # architectures that cannot be built for the input
    (
        ["train", "--set", "model.layers=2,2", "--set", "model.channels=16,32,64"],
        "must have one entry per stage",
    ),
    (
        ["train", "--set", "model.name=resnet24", "--set", "model.kernel_sizes=2,2,2,2"],
        "kernel sizes must be odd",
    ),
    (["train", "--set", "model.name=resnet24", "--set", "model.pool_size=8"], "model.pool_size"),
    (["train", "--set", "model.name=resnet24", "--set", "model.groups=3"], "model.groups"),
    (
        ["train", "--set", "model.name=baseline-cnn", "--set", "model.layers=1,1"],
        "model.layers",
    ),
    (
        ["train", "--set", "model.name=resnet18", "--set", "model.stem_type=imagenet"],
        "shrink 8x8 input to 1x1",
    ),
    (["train", "--set", "model.dilation=true,true,true,true"], "model.dilation"),
    (["train", "--set", "augment.crop_size=16"], "larger than the 8x8 images"),
    (["models", "summary", "resnet24", "--set", "model.layers=1,2"], "for 4 stages but"),
    # unknown names
    (["train", "--set", "model.name=resnet99"], "model.name: unknown model"),
    (["train", "--set", "data.name=imagenet"], "data.name: unknown dataset"),
    (["train", "--set", "optim.name=lion"], "optim.name: unknown optimizer"),
    (["train", "--set", "schedule.name=cosin"], "schedule.name: unknown schedule"),
    (["models", "summary", "resnet99"], "unknown model 'resnet99'"),
    # data that is not there (and no network)
    (
        ["train", "--set", "data.name=cifar10", "--set", "data.download=false"]
        + ["--set", "data.root=/nonexistent"],
        "data.root",
    ),
    (
        ["train", "--set", "data.name=imagefolder", "--set", "data.root=/nonexistent"],
        "data.root: image folder '/nonexistent' does not exist",
    ),
    # your own images that cannot be trained on (made by bad_data())
    (
        ["train", "--set", "data.name=imagefolder", "--set", "data.root={bad}/empty-class"],
        "class b has no usable training image",
    ),
    (
        ["train", "--set", "data.name=imagefolder", "--set", "data.root={bad}/no-images"],
        "has no image this can read (skipped 3 files: 1 not an image file (by its name), 1 "
        "empty file (0 bytes), 1 not an image PIL can read)",
    ),
    (
        ["train", "--set", "data.name=imagefolder", "--set", "data.root={bad}/val-extra"],
        "class folders that train/ lacks: c",
    ),
    (
        ["train", "--set", "data.name=csv", "--set", "data.root={bad}/no-images"],
        "data.csv: '{bad}/no-images/labels.csv' does not exist",
    ),
    (
        ["train", "--set", "data.name=csv", "--set", "data.root={bad}/csv-no-train"],
        "has no train rows",
    ),
    # run ids: missing, ambiguous, escaping the store
    (["train", "--resume", "nope"], "no run 'nope'"),
    (["train", "--resume", "../x"], "no run '../x'"),
    (["train", "--resume", "{runs}/../../etc"], "no run"),
    (["runs", "show", "../../etc"], "no run"),
    (["runs", "show", "2"], "matches 5 runs"),
    (["runs", "rm", "nope", "--yes"], "no run 'nope'"),
    (["runs", "compare", "{run:finished}", "nope"], "no run 'nope'"),
    (["runs", "stop", "nope"], "no run 'nope'"),
    # what a run's state forbids
    (["train", "--resume", "{run:finished}"], "already finished; start a new run"),
    (["train", "--resume", "{run:diverged}"], "diverged; resuming would diverge again"),
    (["train", "--resume", "{run:alive}"], "is running"),
    (["train", "digits-quick", "--resume", "{run:stopped}"], "drop PRESET and --set"),
    (["runs", "rm", "{run:alive}", "--yes"], "is running; stop it first"),
    (["runs", "rm", "{run:elsewhere}", "--yes"], "is running; stop it first"),
    (["runs", "stop", "{run:finished}"], "is finished, not running"),
    (["runs", "stop", "{run:elsewhere}"], "runs on another-box; stop it there"),
    (["runs", "compare", "{run:finished}"], "at least two runs"),
    # stacking, sweeps and ablations that cannot work
    (["stack", "{run:finished}"], "needs at least 2 finished runs"),
    (["stack", "{run:finished}", "{run:finished}"], "is given twice"),
    (["stack", "{run:finished}", "nope"], "no run 'nope'"),
    (["stack", "{run:stopped}", "{run:diverged}"], "{run:stopped}"),
    (["sweep", "--grid", "optim.lrr=0.1,0.2"], "unknown key 'optim.lrr' (did you mean"),
    (["sweep", "--grid", "optim.lr"], "expected KEY=..."),
    (["sweep", "--grid", "optim.lr=-1,0.1"], "optim.lr: must be greater than 0"),
    (["sweep", "--grid", "model.name=resnet99,resnet18"], "unknown model 'resnet99'"),
    (["sweep", "--search", "3"], "needs what to search"),
    (["sweep", "--search", "0", "--range", "optim.lr=0.01:0.1"], "must be at least 1"),
    (["sweep", "--search", "3", "--range", "optim.lr=1:0"], "LOW must be below HIGH"),
    (["sweep", "--search", "3", "--range", "train.amp=1:2"], "ranges are for numbers"),
    (["sweep", "--search", "2", "--choice", "optim.name=sgd,lion"], "unknown optimizer 'lion'"),
    (["sweep"], "nothing to sweep"),
    (["sweep", "--resume", "nope"], "no sweep 'nope'"),
    (["sweeps", "show", "nope"], "no sweep 'nope'"),
    (["ablate", "--remove", "dropout"], "unknown component"),
    (["ablate", "--show", "nope"], "no ablation group 'nope'"),
    (["serve", "--port", "99999"], "Invalid value for '--port'"),
    (["serve", "--port", "http"], "Invalid value for '--port'"),
    # command-line syntax
    (["train", "--epochs", "3"], "No such option: --epochs"),
    (["runs", "lst"], "No such command 'lst'"),
    (["runs", "show"], "Missing argument"),
    (["runs", "list", "--json", "extra"], "unexpected extra argument"),
]


def bad_data() -> Path:
    """Image folders that cannot be trained on, made once per test process."""
    import tempfile

    from PIL import Image

    root = Path(tempfile.gettempdir()) / f"resnet-tui-bad-data-{os.getpid()}"
    if root.exists():
        return root
    image = Image.new("RGB", (8, 8), (120, 30, 30))
    for name, files in {
        "empty-class": {"train/a/0.png": image, "train/b/": None},
        "no-images": {"train/a/notes.txt": b"text", "train/a/0.png": b"", "train/b/1.png": b"junk"},
        "val-extra": {"train/a/0.png": image, "train/b/0.png": image, "val/c/0.png": image},
        "csv-no-train": {
            "images/0.png": image,
            "labels.csv": b"file,label,split\nimages/0.png,a,test\n",
        },
    }.items():
        for relative, content in files.items():
            path = root / name / relative
            if relative.endswith("/"):
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                content.save(path)
    return root


def _fill(arg: str, presets: Path, runs: Path, store: RunStore) -> str:
    arg = arg.replace("{p}", str(presets)).replace("{runs}", str(runs))
    if "{bad}" in arg:
        arg = arg.replace("{bad}", str(bad_data()))
    if arg.startswith("{run:"):
        return store.resolve(arg[5:-1])
    return arg


@pytest.mark.parametrize(
    ("args", "needle"), CLI_CASES, ids=[" ".join(a)[:60] for a, _ in CLI_CASES]
)
def test_cli_bad_input_is_one_line_exit_2_and_changes_nothing(
    store_copy: Path, tmp_path: Path, args: list[str], needle: str
) -> None:
    presets = tmp_path / "presets"
    presets.mkdir()
    for name, body in PRESET_FILES.items():
        (presets / name).write_bytes(body if isinstance(body, bytes) else body.encode())
    user = Path(os.environ["RESNET_TUI_PRESETS"])
    user.mkdir(parents=True, exist_ok=True)
    for name, body in USER_PRESETS.items():
        (user / name).write_text(body)
    store = RunStore(store_copy)
    filled = [_fill(a, presets, store_copy, store) for a in args]  # no preset: digits-quick
    before = store_snapshot(store_copy.parent)
    result = CliRunner().invoke(app, ["--runs-dir", str(store_copy), *filled])
    out = result.output
    assert result.exit_code == 2, out
    assert _fill(needle, presets, store_copy, store) in out, out
    assert "Traceback" not in out
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out
    assert store_snapshot(store_copy.parent) == before  # the store, byte for byte
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


def test_a_runs_dir_that_is_a_file(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "runs"
    not_a_folder.write_text("I am a file")
    for command in (["runs", "list"], ["train", "digits-quick"]):
        result = CliRunner().invoke(app, ["--runs-dir", str(not_a_folder), *command])
        assert result.exit_code == 2, result.output
        assert result.output.startswith("error: ") and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1
    assert not_a_folder.read_text() == "I am a file"


def test_cuda_asked_for_on_a_machine_without_it(store_copy: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    before = store_snapshot(store_copy)
    result = CliRunner().invoke(
        app, ["--runs-dir", str(store_copy), "train", "--set", "train.device=cuda"]
    )
    assert result.exit_code == 2 and "CUDA is not available here" in result.output
    assert store_snapshot(store_copy) == before


# ---------------------------------------------------------------- form fields

# The TUI's config form validates by building the config from its flat {key: value} dict
# (RunConfig.replace / engine.config.from_dict) and puts each error on the row of its key.
FORM_CASES: list[tuple[dict[str, Any], str, str]] = [
    ({"optim.lr": "fast"}, "optim.lr", "expected a number"),
    ({"optim.lr": 0.0}, "optim.lr", "must be greater than 0"),
    ({"train.epochs": -1}, "train.epochs", "must be at least 1"),
    ({"train.epochs": 2.5}, "train.epochs", "expected an integer"),
    ({"data.batch_size": None}, "data.batch_size", "expected an integer"),
    ({"data.val_fraction": 2.0}, "data.val_fraction", "probability/fraction in [0, 1]"),
    ({"train.amp": "fp8"}, "train.amp", "is not one of"),
    ({"augment.hflip": "yes"}, "augment.hflip", "expected true/false"),
    ({"optim.lrr": 0.1}, "optim.lrr", "did you mean 'optim.lr'"),
    ({"model.layers": [2, 2], "model.channels": [8, 16, 32]}, "model.layers", "one entry"),
    ({"model.kernel_sizes": [3, 4, 3]}, "model.kernel_sizes", "must be odd"),
    ({"model.layers": [2, 0, 2]}, "model.layers", "entries must be at least 1"),
    ({"model.layers": ["a"]}, "model.layers[0]", "expected an integer"),
    ({"optim.momentum": 0.0, "optim.nesterov": True}, "optim.nesterov", "Nesterov"),
    ({"schedule.milestones": [30, 10]}, "schedule.milestones", "strictly increasing"),
    ({"model.se_ratio": 1.5}, "model.se_ratio", "ratio in [0, 1]"),
    ({"augment.randaugment_magnitude": 31}, "augment.randaugment_magnitude", "0..30"),
    ({"optim.weight_decay": float("inf")}, "optim.weight_decay", "finite"),
]


@pytest.mark.parametrize(
    ("values", "key", "needle"), FORM_CASES, ids=[str(v)[:50] for v, _, _ in FORM_CASES]
)
def test_form_values_are_refused_on_their_row(
    values: dict[str, Any], key: str, needle: str
) -> None:
    base = resolve("digits-quick")[0]
    with pytest.raises(ConfigError) as refused:
        base.replace(values)
    assert refused.value.key == key  # the form shows the message on this field's row
    message = str(refused.value)
    assert needle in message and len(message.splitlines()) == 1
    assert RunConfig().replace({}) == RunConfig()  # nothing shared was changed


def test_the_catalogue_is_complete() -> None:
    """At least 40 cases, across presets, --set, CLI arguments, stacking/sweeps and form
    fields."""
    assert len(CLI_CASES) + len(FORM_CASES) + 2 >= 40
    assert sum(1 for a, _ in CLI_CASES if any(x.startswith("{p}") for x in a)) >= 10
    assert sum(1 for a, _ in CLI_CASES if "--set" in a) >= 25
    assert len(FORM_CASES) >= 15
    assert sum(1 for a, _ in CLI_CASES if a[0] in ("stack", "sweep", "sweeps", "ablate")) >= 10
