"""``resnet-tui serve``: the same console in a browser, through textual-serve.

Each browser tab gets its own console process (``python -m resnet_tui``); training still runs
in detached trainer processes, so closing the tab stops nothing. The server binds 127.0.0.1
unless told otherwise: anyone who can reach it can launch and delete runs.
"""

from __future__ import annotations

import os
import shlex
import sys


def console_command(runs_dir: str | None = None) -> str:
    """The shell command that starts one console (what textual-serve runs per session)."""
    parts = [sys.executable, "-m", "resnet_tui"]
    if runs_dir:
        parts += ["--runs-dir", os.path.abspath(runs_dir)]
    return shlex.join(parts)


def serve(host: str = "127.0.0.1", port: int = 8000, runs_dir: str | None = None) -> None:
    """Serve the console at http://HOST:PORT until interrupted (Ctrl+C)."""
    from textual_serve.server import Server

    Server(console_command(runs_dir), host=host, port=port, title="resnet-tui").serve()
