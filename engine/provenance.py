"""Where a run came from: recorded once, in the process that creates it, as the run document's
``provenance`` mapping. Torch-free.

- ``version``: resnet-tui's (importlib.metadata); ``git_commit``, ``git_dirty`` and
  ``git_diff`` (the file ``provenance.diff`` in the run's folder, the tracked changes against
  the commit, cut at ``DIFF_LIMIT`` bytes and said so by ``git_diff_cut``) when the code runs
  from a git checkout, else None;
- ``python``, ``torch``, ``torchvision`` (the installed packages'), ``host``, ``command`` (the
  command line the user ran; a sweep's trials carry the sweep's) and the preset file's
  ``preset_file``/``preset_text`` when the run came from a preset;
- the trainer adds, when it first starts (``engine.device.runtime_versions``): ``cuda`` and
  ``cudnn`` (None on a CPU build), ``gpus`` (the names of the GPUs the run uses) and torch's
  own version.

Compare's diff (``engine.report.diff``) shows the fields of ``COMPARED`` that differ.
"""

from __future__ import annotations

import importlib.metadata
import platform
import shlex
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DIFF_FILE = "provenance.diff"
DIFF_LIMIT = 256 * 1024  # bytes of the diff kept in the run's folder
GIT_TIMEOUT_S = 3.0
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The fields Compare sets side by side (the command line and the preset's text are too long
# for a cell; the run detail and `runs show` print them whole).
COMPARED = (
    "version",
    "git_commit",
    "git_dirty",
    "python",
    "torch",
    "torchvision",
    "cuda",
    "cudnn",
    "gpus",
    "host",
)


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command line of this process as a shell would read it back (``python -m pkg``
    for a package run as a module, as it was typed)."""
    args = list(sys.argv if argv is None else argv)
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if argv is None and args and spec is not None and spec.name:  # started as python -m NAME
        args[:1] = [sys.executable, "-m", spec.name.removesuffix(".__main__")]
    elif args and Path(args[0]).name == "__main__.py":
        args[:1] = [sys.executable, "-m", Path(args[0]).parent.name]
    return shlex.join(args)


# The command line a run launched from the console's Launch form records: the console's own
# argv would say only how the console was started, not how the run was.
LAUNCH_FORM_COMMAND = "resnet-tui (console Launch form)"


def preset_file(ref: str | None) -> Path | None:
    """The file of preset ``ref`` (a name or a path), None when there is none (no preset, or
    one that no longer exists): its text is kept in the provenance when it exists."""
    if not ref:
        return None
    from engine.errors import UserError
    from engine.presets import find_preset  # engine.presets imports the config package

    try:
        return find_preset(ref)
    except UserError:
        return None


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git(root: Path, *args: str) -> bytes | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):  # no git, a hung filesystem
        return None
    return done.stdout if done.returncode == 0 else None


def git_state(root: Path = PROJECT_ROOT) -> tuple[dict[str, Any], bytes]:
    """(commit, dirty, cut), and the diff of the tracked files against the commit, when
    ``root`` is the top of a git checkout; Nones and no diff otherwise."""
    none: dict[str, Any] = {"git_commit": None, "git_dirty": None}
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None or Path(top.decode(errors="replace").strip()).resolve() != root.resolve():
        return none, b""  # not a checkout (an installed package), or inside another repository
    commit = _git(root, "rev-parse", "HEAD")
    if commit is None:  # a repository without a commit yet
        return none, b""
    diff = _git(root, "diff", "HEAD", "--no-color", "--no-ext-diff") or b""
    return {"git_commit": commit.decode().strip(), "git_dirty": bool(diff.strip())}, diff


def collect(
    *,
    command: str | None = None,
    preset_file: Path | None = None,
    root: Path = PROJECT_ROOT,
) -> tuple[dict[str, Any], bytes]:
    """(the provenance fields, the git diff to store beside them). ``command``: the user's
    command line (default: this process's)."""
    git, diff = git_state(root)
    fields: dict[str, Any] = {
        "version": _version("resnet-tui"),
        **git,
        "git_diff": None,
        "git_diff_cut": False,
        "python": platform.python_version(),
        "torch": _version("torch"),
        "torchvision": _version("torchvision"),
        "cuda": None,
        "cudnn": None,
        "gpus": None,
        "host": socket.gethostname(),
        "command": command if command is not None else command_line(),
        "preset_file": None,
        "preset_text": None,
    }
    if preset_file is not None:
        try:
            fields["preset_text"] = preset_file.read_text(encoding="utf-8")
            fields["preset_file"] = str(preset_file.resolve())
        except (OSError, UnicodeDecodeError):
            pass
    return fields, diff


def store_diff(run_dir: Path, fields: dict[str, Any], diff: bytes) -> dict[str, Any]:
    """Write the diff (cut at DIFF_LIMIT bytes) as the run's ``provenance.diff`` and return
    ``fields`` saying so; unchanged when there is no diff or it cannot be written."""
    if not diff.strip():
        return fields
    from engine.fsio import atomic_write

    cut = len(diff) > DIFF_LIMIT
    body = diff[:DIFF_LIMIT]
    if cut:
        body += f"\n# resnet-tui: cut at {DIFF_LIMIT:,} of {len(diff):,} bytes\n".encode()
    try:
        atomic_write(run_dir / DIFF_FILE, body)
    except OSError:
        return fields
    return {**fields, "git_diff": DIFF_FILE, "git_diff_cut": cut, "git_diff_bytes": len(diff)}


def record_diff(store: Any, doc: dict[str, Any], diff: bytes) -> dict[str, Any]:
    """Store a new run's git diff in its folder and say so in its provenance (``store``: a
    RunStore); returns the run's document as it is then."""
    fields = doc.get("provenance")
    if not diff.strip() or not isinstance(fields, dict):
        return doc
    stored = store_diff(store.run_dir(str(doc["id"])), fields, diff)
    if stored is fields:
        return doc
    result: dict[str, Any] = store.update(str(doc["id"]), provenance=stored)
    if "name_taken" in doc:  # not stored: what create_run said about a clash
        result["name_taken"] = doc["name_taken"]
    return result


def describe(fields: Any, preset_text: bool = True) -> list[str]:
    """The provenance as text lines (the run detail, ``runs show``); long values whole, on
    lines of their own; the preset file's text indented under its path (``preset_text``)."""
    if not isinstance(fields, dict) or not fields:
        return ["provenance: not recorded (a run created before it was)"]

    def show(key: str) -> str:
        value = fields.get(key)
        if value is None:
            return "-"
        if isinstance(value, list):
            return ", ".join(str(v) for v in value) or "-"
        return str(value)

    commit = fields.get("git_commit")
    if commit is None:
        code = "git: not a checkout"
    else:
        code = f"git commit {commit}" + (" (dirty)" if fields.get("git_dirty") else "")
    lines = [
        f"provenance: resnet-tui {show('version')} on host {show('host')}",
        f"  {code}",
        f"  python {show('python')} · torch {show('torch')} · torchvision {show('torchvision')}",
        f"  CUDA {show('cuda')} · cuDNN {show('cudnn')} · GPUs {show('gpus')}",
        f"  command: {show('command')}",
    ]
    if fields.get("git_diff"):
        cut = " (cut: it was longer)" if fields.get("git_diff_cut") else ""
        size = fields.get("git_diff_bytes")
        lines.append(
            f"  changes against the commit: {fields['git_diff']}"
            + (f", {size:,} bytes" if isinstance(size, int) else "")
            + cut
        )
    if fields.get("preset_file"):
        text = str(fields.get("preset_text") or "").splitlines()
        if preset_text:
            lines.append(f"  preset file {fields['preset_file']}:")
            lines += [f"    {line}" for line in text]
        else:
            lines.append(f"  preset file {fields['preset_file']} ({len(text)} lines kept)")
    return lines


def compared(fields: Any) -> dict[str, Any]:
    """The fields Compare's diff sets side by side (the commit as git's 12-digit short form,
    which fits a column at 80 columns; `runs show` has the whole hash)."""
    if not isinstance(fields, dict):
        return {}
    out: dict[str, Any] = {k: fields.get(k) for k in COMPARED if k in fields}
    commit = out.get("git_commit")
    if isinstance(commit, str):
        out["git_commit"] = commit[:12]
    return out
