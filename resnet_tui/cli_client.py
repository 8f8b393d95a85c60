"""The console running its own CLI in a child process, and reading what went wrong.

Some console actions (stacking, starting a sweep or an ablation, the loader benchmark) need
torch, which the console never imports: they run ``resnet-tui --runs-dir STORE ...`` instead
and show its ``error: ...`` lines when it refuses. This module is that client; the screens
and ``screens.actions`` import it, and it imports none of them (no cycle between them).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

CLI_TIMEOUT_S = 300  # the command checks the data (a first download happens there) and exits


def run_cli(root: Path, args: list[str]) -> tuple[int, str]:
    """``resnet-tui --runs-dir ROOT ARGS`` to its end: (exit code, its output). Call from a
    worker thread. It runs in its own session, so a console that quits meanwhile does not
    take it down half-way."""
    from engine.runner import cli_command

    command = cli_command(root, *args)
    try:
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=CLI_TIMEOUT_S,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired:
        return 1, f"`resnet-tui {args[0]}` did not answer within {CLI_TIMEOUT_S} s"
    except OSError as exc:
        return 1, f"cannot start `resnet-tui {args[0]}`: {exc.strerror or exc}"
    return done.returncode, done.stdout + done.stderr


def cli_errors(output: str) -> list[str]:
    """The ``error: ...`` lines a CLI command printed (without the prefix)."""
    lines = [line.strip() for line in output.splitlines()]
    return [line.removeprefix("error: ") for line in lines if line.startswith("error: ")]


def cli_error(output: str) -> str:
    """What went wrong, from a CLI command's output: its error line(s), else its last lines
    (never a whole traceback)."""
    errors = cli_errors(output)
    if errors:
        return "; ".join(errors)
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return "\n".join(lines[-3:]) or "no output"
