"""``resnet-tui serve`` lets in only its owner: a real server (the CLI, in its own process) and
a real HTTP and websocket client (aiohttp). No token, a wrong token, a foreign Origin or a
foreign Host name get 403; the printed token, then the cookie it sets, open the console; no
log line holds the token."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from conftest import REPO

from resnet_tui.serve import is_loopback, same_origin


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    process: subprocess.Popen[str]
    port: int
    log: Path
    url: str  # the address it printed, token included

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return self.url.split("token=", 1)[1]

    @property
    def cookie(self) -> str:
        return f"resnet-tui-{self.port}"

    def stop(self) -> str:
        """Stop it as Ctrl+C would; everything it printed."""
        if self.process.poll() is None:
            self.process.send_signal(2)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.log.read_text()


def start_server(
    tmp: Path, *args: str, env: dict[str, str] | None = None, expect_url: bool = True
) -> Served:
    port = _free_port()
    log = tmp / f"serve-{port}.log"
    environment = {k: v for k, v in os.environ.items() if k != "RESNET_TUI_TOKEN"}
    environment.update(env or {})
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "resnet_tui", "--runs-dir", str(tmp / "runs"), "serve"]
            + ["--port", str(port), *args],
            cwd=REPO,
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
            env=environment,
        )
    served = Served(process, port, log, "")
    deadline = time.monotonic() + 60
    while expect_url:
        for line in log.read_text().splitlines():
            if "open http://" in line:
                served.url = line.split("open ", 1)[1].strip()
                # printed on startup, a moment before the port accepts: wait for it
                with socket.socket() as probe:
                    probe.settimeout(1)
                    while probe.connect_ex(("127.0.0.1", port)) != 0:
                        time.sleep(0.05)
                return served
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the server did not start:\n{log.read_text()}")
        time.sleep(0.1)
    return served


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = start_server(tmp_path_factory.mktemp("serve"))
    yield served
    served.stop()


def _session(**kwargs: object) -> aiohttp.ClientSession:
    # unsafe=True: the client keeps cookies for an IP address (127.0.0.1), as browsers do
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), **kwargs)  # type: ignore[arg-type]


async def _status(url: str, **kwargs: object) -> int:
    async with _session() as session:
        async with session.get(url, allow_redirects=False, **kwargs) as reply:  # type: ignore[arg-type]
            return reply.status


async def _handshake(url: str, cookies: dict[str, str] | None = None, **kwargs: object) -> int:
    """The websocket handshake's answer: 101 when the server accepted it."""
    async with _session(cookies=cookies) as session:
        try:
            async with session.ws_connect(url, **kwargs) as ws:  # type: ignore[arg-type]
                await ws.close()
                return 101
        except aiohttp.WSServerHandshakeError as refused:
            return refused.status


def owner_cookie(server: Served) -> dict[str, str]:
    """The cookie the printed address gives a browser (a real first visit)."""

    async def visit() -> dict[str, str]:
        async with _session() as session:
            async with session.get(server.url, allow_redirects=False) as first:
                assert first.status == 302
            return {c.key: c.value for c in session.cookie_jar}

    cookies = asyncio.run(visit())
    assert server.cookie in cookies
    return cookies


# ---------------------------------------------------------------- refused


def test_no_token_is_refused_everywhere(server: Served) -> None:
    for path in ("/", "/static/js/textual.js", "/download/anything", "/?fontsize=20"):
        assert asyncio.run(_status(server.base + path)) == 403, path
    own = {"Origin": server.base}
    assert asyncio.run(_handshake(f"ws://127.0.0.1:{server.port}/ws", headers=own)) == 403


def test_a_wrong_token_is_refused(server: Served) -> None:
    wrong = server.token[:-1] + ("A" if server.token[-1] != "A" else "B")
    assert asyncio.run(_status(f"{server.base}/?token={wrong}")) == 403
    assert asyncio.run(_status(f"{server.base}/", cookies={server.cookie: wrong})) == 403
    assert asyncio.run(_status(f"{server.base}/?token=")) == 403
    # the cookie holds a value derived from the token: the token itself is no cookie
    assert asyncio.run(_status(f"{server.base}/", cookies={server.cookie: server.token})) == 403
    headers = {"Origin": server.base}
    url = f"ws://127.0.0.1:{server.port}/ws?token={wrong}"
    assert asyncio.run(_handshake(url, headers=headers)) == 403


def test_the_token_sets_an_owner_cookie_and_leaves_the_address(server: Served) -> None:
    async def visit() -> None:
        async with _session() as session:
            async with session.get(server.url + "&fontsize=20", allow_redirects=False) as first:
                assert first.status == 302
                assert first.headers["Location"] == "/?fontsize=20"  # the token is gone
                cookie = first.headers["Set-Cookie"]
                assert f"{server.cookie}=" in cookie
                assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
                # derived from the token, not the token: other servers on this host get it
                value = cookie.split(f"{server.cookie}=", 1)[1].split(";", 1)[0]
                assert server.token not in value and len(value) == 64
            async with session.get(server.base + "/?fontsize=20") as page:  # the cookie alone
                assert page.status == 200
                html = await page.text()
                assert f"ws://127.0.0.1:{server.port}/ws" in html and "resnet-tui" in html
            async with session.get(server.base + "/static/js/textual.js") as asset:
                assert asset.status == 200

    asyncio.run(visit())


def test_a_foreign_origin_is_refused_even_with_the_cookie(server: Served) -> None:
    ws = f"ws://127.0.0.1:{server.port}/ws"
    cookies = owner_cookie(server)
    own = {"Origin": server.base}
    assert asyncio.run(_handshake(ws, headers=own, cookies=cookies)) == 101  # the cookie works
    for origin in (
        "http://evil.example",
        f"http://evil.example:{server.port}",
        f"https://127.0.0.1:{server.port}",  # another scheme
        f"http://127.0.0.1:{server.port + 1}",  # another port
        "null",
    ):
        headers = {"Origin": origin}
        status = asyncio.run(_handshake(ws, headers=headers, cookies=cookies))
        assert status == 403, origin
    # no Origin at all: not a browser on this page either
    assert asyncio.run(_handshake(ws, cookies=cookies, origin=None)) == 403

    # and a page on another site posting to it
    async def post() -> int:
        async with _session(cookies=cookies) as session:
            async with session.post(
                server.base + "/", headers={"Origin": "http://evil.example"}
            ) as reply:
                return reply.status

    assert asyncio.run(post()) == 403


def test_a_rebound_host_name_is_refused_even_with_the_token(server: Served) -> None:
    """DNS rebinding: a page on evil.example that resolves to 127.0.0.1 sends Host and Origin
    of evil.example; its origin matches its host, so the host name itself is refused."""
    headers = {
        "Host": f"evil.example:{server.port}",
        "Origin": f"http://evil.example:{server.port}",
    }
    assert asyncio.run(_status(server.url, headers=headers)) == 403


def test_no_page_may_frame_the_console_and_no_redirect_leaves_it(server: Served) -> None:
    """Clickjacking: a page on another port of this machine is the same site to the browser
    (it sends the cookie), so the console refuses to be framed. The token's redirect stays on
    this server even for a path that starts with two slashes."""

    cookies = owner_cookie(server)

    async def check() -> None:
        async with _session(cookies=cookies) as session:
            for path in ("/", "/static/js/textual.js"):
                async with session.get(server.base + path) as reply:
                    assert reply.status == 200
                    assert reply.headers["X-Frame-Options"] == "DENY"
                    assert "frame-ancestors 'none'" in reply.headers["Content-Security-Policy"]
        async with _session() as session:
            async with session.get(server.base + "/") as refused:
                assert refused.status == 403 and refused.headers["X-Frame-Options"] == "DENY"
            url = f"{server.base}//evil.example/?token={server.token}"
            async with session.get(url, allow_redirects=False) as reply:
                assert reply.status == 302 and reply.headers["Location"] == "/evil.example/"

    asyncio.run(check())


def test_a_taken_port_prints_no_address(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _cli(tmp_path, "--port", str(port))
    assert result.returncode == 2
    assert f"cannot serve on 127.0.0.1:{port}" in result.stderr
    assert "token=" not in result.stdout + result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_the_owner_gets_the_console_streamed_and_ctrl_c_ends_it_at_once(tmp_path: Path) -> None:
    server = start_server(tmp_path)

    async def stream() -> tuple[bytes, float]:
        async with _session() as session:
            # through another loopback name, as a laptop behind ssh -L: origin and host agree
            first_visit = server.url.replace("127.0.0.1", "localhost")
            async with session.get(first_visit) as page:  # token -> cookie -> page
                assert page.status == 200
            url = f"ws://localhost:{server.port}/ws?width=80&height=24"
            async with session.ws_connect(
                url, headers={"Origin": f"http://localhost:{server.port}"}
            ) as ws:
                received = b""
                deadline = time.monotonic() + 90
                while b"Launch form" not in received and time.monotonic() < deadline:
                    message = await ws.receive(timeout=90)
                    if message.type == aiohttp.WSMsgType.BINARY:
                        received += message.data
                    elif message.type == aiohttp.WSMsgType.TEXT:
                        received += message.data.encode()
                    else:
                        break
                # the tab stays open while the server alone gets Ctrl+C (SIGINT)
                started = time.monotonic()
                server.process.send_signal(2)
                await asyncio.to_thread(server.process.wait, 30)
                return received, time.monotonic() - started

    try:
        received, stopping = asyncio.run(stream())
    finally:
        server.stop()
    assert b"Launch form" in received, received[-2000:]  # the console's own footer
    assert stopping < 6.0  # not aiohttp's default minute for an open websocket


# ---------------------------------------------------------------- the log and the CLI


def test_no_log_line_holds_the_token(tmp_path: Path) -> None:
    served = start_server(tmp_path, env={"RESNET_TUI_TOKEN": "s3cret-token-from-the-env"})
    assert served.token == "s3cret-token-from-the-env"

    async def traffic() -> None:
        async with _session() as session:
            referer = {"Referer": served.url}
            async with session.get(served.url, headers=referer, allow_redirects=True) as page:
                assert page.status == 200
            async with session.get(served.base + "/static/js/textual.js", headers=referer):
                pass
            async with session.get(f"{served.base}/?token=wrong-{served.token}"):
                pass
        await _handshake(
            f"ws://127.0.0.1:{served.port}/ws?token={served.token}",
            headers={"Origin": "http://evil.example"},
        )
        # the token where it does not belong: in a path, in requests aiohttp cannot parse
        async with _session() as session:
            for url in (f"{served.base}/%3Ftoken={served.token}", f"{served.base}/;{served.token}"):
                async with session.get(url) as reply:
                    assert reply.status == 403
        for raw in (
            f"GET /?token={served.token}&x={'A' * 9000} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            f"GET /?token={served.token} HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n",
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: x={served.token}{'B' * 9000}\r\n\r\n",
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
            writer.write(raw.encode())
            await writer.drain()
            answer = await reader.read(200)
            assert answer.startswith(b"HTTP/1.") and b" 200 " not in answer[:20]
            writer.close()

    asyncio.run(traffic())
    output = served.stop()
    lines = output.splitlines()
    assert sum(" GET " in line for line in lines) >= 4, output  # the requests were logged
    holding = [line for line in lines if served.token in line]
    assert holding == [f"resnet-tui console: open {served.url}"], output


def test_each_start_makes_its_own_token(tmp_path: Path) -> None:
    first = start_server(tmp_path)
    second = start_server(tmp_path)
    try:
        assert len(first.token) >= 40 and len(second.token) >= 40
        assert first.token != second.token
        assert asyncio.run(_status(f"{second.base}/?token={first.token}")) == 403
    finally:
        first.stop()
        second.stop()


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "resnet_tui", "--runs-dir", str(tmp_path), "serve", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--no-token"], "--no-token needs an explicit loopback --host"),
        (["--no-token", "--host", "0.0.0.0"], "--no-token needs an explicit loopback --host"),
        (["--no-token", "--token", "abc", "--host", "127.0.0.1"], "contradict"),
        (["--token", " "], "--token is empty"),
    ],
)
def test_the_cli_refuses_an_open_door(tmp_path: Path, args: list[str], message: str) -> None:
    result = _cli(tmp_path, *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_no_token_on_an_explicit_loopback_host_says_what_it_gives_up(tmp_path: Path) -> None:
    served = start_server(tmp_path, "--host", "127.0.0.1", "--no-token")
    try:
        assert "token" not in served.url
        assert asyncio.run(_status(served.base + "/")) == 200
        # still no way in for another site's page
        ws = f"ws://127.0.0.1:{served.port}/ws"
        assert asyncio.run(_handshake(ws, headers={"Origin": "http://evil.example"})) == 403
    finally:
        output = served.stop()
    assert "warning: no token: any account on this machine" in output


def test_a_public_host_is_warned_about(tmp_path: Path) -> None:
    served = start_server(tmp_path, "--host", "0.0.0.0")
    output = served.stop()
    assert "warning: --host 0.0.0.0 lets other machines reach the console" in output
    assert "?token=" in served.url


# ---------------------------------------------------------------- the rules themselves


@pytest.mark.parametrize(
    ("origin", "host", "same"),
    [
        ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
        ("http://localhost:9000", "localhost:9000", True),  # behind ssh -L 9000:...:8000
        ("http://LOCALHOST:9000", "localhost:9000", True),
        ("http://[::1]:8000", "[::1]:8000", True),
        ("http://example.org", "example.org:80", True),  # default port
        ("http://127.0.0.1:8000", "127.0.0.1:8001", False),
        ("https://127.0.0.1:8000", "127.0.0.1:8000", False),
        ("http://evil.example", "127.0.0.1:8000", False),
        ("http://127.0.0.1:8000.evil.example", "127.0.0.1:8000", False),
        ("http://127.0.0.1:8000@evil.example", "127.0.0.1:8000", False),
        ("http://127.0.0.1:8000/path", "127.0.0.1:8000", False),
        ("null", "127.0.0.1:8000", False),
        ("", "127.0.0.1:8000", False),
        (None, "127.0.0.1:8000", False),
        ("http://127.0.0.1:8000", None, False),
    ],
)
def test_same_origin(origin: str | None, host: str | None, same: bool) -> None:
    assert same_origin(origin, "http", host) is same


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("evil.example", False),
        ("localhost.evil.example", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium package")
def test_a_real_browser_gets_in_with_the_printed_address(tmp_path: Path) -> None:
    """Chromium opens the printed address: the redirect sets the cookie, the page loads its
    assets with it, and the browser's own websocket (same origin, SameSite=Strict cookie) is
    accepted."""
    served = start_server(tmp_path)
    try:
        subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"]
            + [f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000"]
            + [served.url],
            capture_output=True,
            timeout=90,
        )
        deadline = time.monotonic() + 30
        while "GET /ws 101" not in served.log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        output = served.stop()
    for line in ("GET / 302", "GET / 200", "GET /static/js/textual.js 200", "GET /ws 101"):
        assert line in output, output
    assert " 403 " not in output, output
