"""``resnet_tui.serve``: the console served to a browser, on localhost by default, to whoever
holds its token (the whole of that: tests/test_serve_auth.py)."""

from __future__ import annotations

import inspect
import socket
import subprocess
import sys
import time
import urllib.error
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
        f"serve(port={port}, runs_dir={str(tmp_path / 'runs')!r}, token='owner-token')"
    )
    server = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                url = f"http://127.0.0.1:{port}/?token=owner-token"
                owner = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
                with owner.open(url, timeout=5) as reply:  # cookie, then the page
                    page = reply.read().decode("utf-8", "replace")
                    status = reply.status
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        assert status == 200
        assert "resnet-tui" in page
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
            raise AssertionError("the page answered without the token")
        except urllib.error.HTTPError as refused:
            assert refused.code == 403
    finally:
        server.terminate()
        server.wait(10)
