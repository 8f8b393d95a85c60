"""``resnet_tui.serve``: the console served to a browser, on localhost by default."""

from __future__ import annotations

import inspect
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from conftest import REPO

from resnet_tui.serve import console_command, serve


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_binds_localhost_by_default() -> None:
    assert inspect.signature(serve).parameters["host"].default == "127.0.0.1"


def test_console_command_runs_this_python_on_the_given_store(tmp_path: Path) -> None:
    command = console_command(str(tmp_path / "my runs"))
    assert command.startswith(sys.executable)
    assert "-m resnet_tui --runs-dir" in command and "'" in command  # the space is quoted


def test_served_page_answers(tmp_path: Path) -> None:
    port = _free_port()
    code = (
        f"from resnet_tui.serve import serve; "
        f"serve(port={port}, runs_dir={str(tmp_path / 'runs')!r})"
    )
    server = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
                    page = reply.read().decode("utf-8", "replace")
                    status = reply.status
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        assert status == 200
        assert "resnet-tui" in page
    finally:
        server.terminate()
        server.wait(10)
