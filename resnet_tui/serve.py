"""``resnet-tui serve``: the same console in a browser, through textual-serve, for its owner only.

Each browser tab gets its own console process (``python -m resnet_tui``); training still runs
in detached trainer processes, so closing the tab stops nothing.

Whoever reaches the console can launch, stop and delete runs and read every config and path,
so the server lets in only whoever holds its token (Jupyter's model):

- a random token per start (``secrets.token_urlsafe``), or the one given; ``serve`` prints the
  URL with it once. The first request that carries it (``/?token=...``) gets an HttpOnly,
  SameSite=Strict cookie and is redirected to the same page without the token, so it stays out
  of the address bar, the history and every later request's Referer;
- every page, asset, download and websocket request without the token or that cookie gets 403;
  tokens are compared in constant time (``hmac.compare_digest``);
- a websocket handshake must come from the server's own origin: a page on another site cannot
  drive the console through the user's browser (cross-site WebSocket hijacking), even though
  the browser would send it the cookie;
- bound to a loopback address, only loopback host names are answered, so a DNS-rebinding page
  ("evil.example" resolving to 127.0.0.1) is refused before its origin even matches;
- request lines are logged without their query string and Referer, and tracebacks without
  their locals: no log line carries the token.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import os
import secrets
import shlex
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TextIO
from urllib.parse import quote, quote_plus, urlencode, urlsplit

import aiohttp_jinja2
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError
from rich.logging import RichHandler
from textual_serve.server import LogHighlighter, Server

TOKEN_ENV = "RESNET_TUI_TOKEN"
DEFAULT_HOST = "127.0.0.1"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def console_command(runs_dir: str | None = None) -> str:
    """The shell command that starts one console (what textual-serve runs per session)."""
    parts = [sys.executable, "-m", "resnet_tui"]
    if runs_dir:
        parts += ["--runs-dir", os.path.abspath(runs_dir)]
    return shlex.join(parts)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 with or without brackets) is this machine
    only: ``localhost``, 127.0.0.0/8 or ::1."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    """A fresh random token (32 bytes, URL-safe)."""
    return secrets.token_urlsafe(32)


def _origin(scheme: str, netloc: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of ``scheme://netloc``, the port made explicit; None if unreadable."""
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    default = {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(scheme)
    return scheme, parts.hostname.lower(), port if port is not None else (default or 0)


def same_origin(origin: str | None, scheme: str, host_header: str | None) -> bool:
    """Whether the ``Origin`` header names the server the request was sent to: the same scheme,
    host and port as the request's own (its ``Host`` header), as Jupyter checks it. Behind an
    ``ssh -L 9000:127.0.0.1:8000`` the browser's origin is ``http://localhost:9000`` and so is its
    Host header, so a port-forward passes; a page on any other site does not."""
    if not origin or not host_header or origin == "null":
        return False
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    if parts.path not in ("", "/") or parts.query or parts.username:
        return False
    theirs = _origin(parts.scheme.lower(), parts.netloc)
    ours = _origin(scheme, host_header)
    return theirs is not None and theirs == ours


class RedactedAccessLogger(AbstractAccessLogger):
    """One line per request: client, method, path (never the query string, where the token
    travels on the first visit; never the Referer), status."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s %s (%.0f ms)",
            request.remote,
            request.method,
            request.path,
            response.status,
            time * 1000,
        )


class GuardedServer(Server):
    """textual-serve's server with a token, an owner's cookie and an Origin check in front of
    every route (an aiohttp middleware), and a request log that never holds the token."""

    def __init__(
        self,
        command: str,
        *,
        host: str = DEFAULT_HOST,
        port: int = 8000,
        token: str | None,
        out: TextIO | None = None,
    ) -> None:
        super().__init__(command, host=host, port=port, title="resnet-tui")
        self._token = token  # None: no token asked (only ever on a loopback host)
        self._out = out or sys.stdout
        # Cookies ignore ports: one name per port keeps two servers on one machine apart.
        self.cookie_name = f"resnet-tui-{port}"
        self.loopback_only = is_loopback(host)

    # ------------------------------------------------------------------ access

    def url(self) -> str:
        """The address to open, with the token (what ``serve`` prints once)."""
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = socket.gethostname()
        if ":" in host:
            host = f"[{host}]"
        query = f"?{urlencode({'token': self._token})}" if self._token else ""
        return f"http://{host}:{self.port}/{query}"

    def _holds_token(self, presented: str | None) -> bool:
        if self._token is None:
            return True
        if not presented:
            return False
        return hmac.compare_digest(presented.encode(), self._token.encode())

    def _cookie_value(self) -> str:
        """What the cookie holds: derived from the token, not the token. Browsers send a
        host's cookies to every port of it, so another web server on this machine that the
        browser visits sees the cookie; it then does not learn a token the user may reuse."""
        assert self._token is not None
        return hmac.new(self._token.encode(), b"resnet-tui console cookie", "sha256").hexdigest()

    def _holds_cookie(self, presented: str | None) -> bool:
        if self._token is None:
            return True
        if not presented:
            return False
        return hmac.compare_digest(presented.encode(), self._cookie_value().encode())

    @web.middleware
    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Refuse (403) what does not come from the owner; turn a first visit with the token
        into a cookie and a redirect to the same page without it."""
        host_name = (urlsplit(f"//{request.host}").hostname or "") if request.host else ""
        if self.loopback_only and not is_loopback(host_name):
            return _refuse(
                f"this console answers only on this machine's loopback names, not {host_name!r}"
            )
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        origin = request.headers.get("Origin")
        if (upgrade or origin is not None) and not same_origin(
            origin, request.scheme, request.host
        ):
            return _refuse(
                f"a request from another origin ({origin or 'none given'}) cannot drive this "
                "console; open it from the address that `resnet-tui serve` printed"
            )
        query_token = request.query.get("token")
        if query_token is not None:
            if not self._holds_token(query_token):
                return _refuse("wrong token; open the address that `resnet-tui serve` printed")
            if not upgrade:
                rest = {k: v for k, v in request.query.items() if k != "token"}
                # one leading slash: "//evil.example/" would send the browser elsewhere
                target = "/" + request.path.lstrip("/") + (f"?{urlencode(rest)}" if rest else "")
                reply = web.HTTPFound(target)
                self._set_cookie(reply, request)
                return reply
            return await handler(request)
        if not self._holds_cookie(request.cookies.get(self.cookie_name)):
            return _refuse(
                "this console needs its token: open the address with ?token=... that "
                "`resnet-tui serve` printed (or set RESNET_TUI_TOKEN and use that token)"
            )
        return await handler(request)

    def _set_cookie(self, reply: web.StreamResponse, request: web.Request) -> None:
        assert self._token is not None
        reply.set_cookie(
            self.cookie_name,
            self._cookie_value(),
            httponly=True,
            samesite="Strict",
            secure=request.secure,
            path="/",
        )

    # ------------------------------------------------------------------ textual-serve hooks

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self.guard)
        app.on_response_prepare.append(_no_framing)
        return app

    @aiohttp_jinja2.template("app_index.html")
    async def handle_index(self, request: web.Request) -> dict[str, Any]:
        """The page, with the websocket and static addresses of the host the browser used
        (textual-serve builds them from the bind address, which breaks behind ``ssh -L`` to
        another local port)."""
        try:
            font_size = int(request.query.get("fontsize", "16"))
        except ValueError:
            font_size = 16
        scheme = "wss" if request.secure else "ws"
        return {
            "font_size": font_size,
            "app_websocket_url": f"{scheme}://{request.host}/ws",
            "config": {"static": {"url": "/static/"}},
            "application": {"name": self.title},
        }

    def initialize_logging(self) -> None:
        """textual-serve's log, without the locals in tracebacks (a frame's locals could hold
        the token), and without the token wherever else it turns up (``ServerLog``)."""
        handler = RichHandler(
            show_path=False,
            show_time=False,
            rich_tracebacks=True,
            tracebacks_show_locals=False,
            highlighter=LogHighlighter(),
            console=self.console,
        )
        handler.addFilter(ServerLog(self._token))
        logging.basicConfig(
            level="DEBUG" if self.debug else "INFO",
            format="%(message)s",
            datefmt="[%X]",
            handlers=[handler],
        )

    async def on_startup(self, app: web.Application) -> None:
        """Nothing: the address is printed once the port is bound (``serve``), so a port
        that is taken never shows an address that does not work."""

    def announce(self) -> None:
        # Plain print, not Rich: a console narrower than the URL would break it over lines.
        print(f"resnet-tui console: open {self.url()}", file=self._out, flush=True)
        if self.loopback_only:
            bound = f"[{self.host}]" if ":" in self.host else self.host
            print(
                f"  over SSH: run ssh -L {self.port}:{bound}:{self.port} THIS-HOST on your "
                "laptop, then open the same address there",
                file=self._out,
                flush=True,
            )
        print("  Ctrl+C stops the server (runs keep training)", file=self._out, flush=True)

    def serve(self, debug: bool = False) -> None:
        """Bind, say where to go, and serve until Ctrl+C or SIGTERM; an OSError when the
        address cannot be bound (taken, or not this machine's)."""
        self.debug = debug
        self.initialize_logging()
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        # A console tab left open must not hold the exit for aiohttp's default minute.
        runner = web.AppRunner(
            await self._make_app(),
            access_log_class=RedactedAccessLogger,
            handle_signals=False,
            shutdown_timeout=2.0,
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
            self.announce()
            await stop.wait()
        finally:
            await runner.cleanup()


async def _no_framing(request: web.Request, response: web.StreamResponse) -> None:
    """No page of another origin (another port of this machine included: browsers send it the
    cookie) may show the console in a frame and click through it."""
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
    response.headers["Referrer-Policy"] = "no-referrer"


class ServerLog(logging.Filter):
    """What the server logs: a malformed request (anyone who reaches the port can send one)
    as one line, not aiohttp's traceback; and never the token, neither in a message nor in a
    traceback that holds it (kept then as text, the token replaced)."""

    def __init__(self, token: str | None) -> None:
        super().__init__()
        forms = {token, quote(token, safe=""), quote_plus(token)} if token else set()
        self.secrets = sorted(forms, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            message = f"{message}: {type(error).__name__} ({error.code}), not served"
            record.exc_info = None
        elif record.exc_info:
            details = logging.Formatter().formatException(record.exc_info)
            if any(secret in details for secret in self.secrets):
                message += "\n" + details
                record.exc_info = None
        for secret in self.secrets:
            message = message.replace(secret, "<token>")
        record.msg, record.args, record.exc_text = message, None, None
        return True


def _refuse(why: str) -> web.Response:
    return web.Response(status=403, text=f"403 forbidden: {why}\n")


def serve(
    host: str = DEFAULT_HOST,
    port: int = 8000,
    runs_dir: str | None = None,
    token: str | None = None,
    *,
    require_token: bool = True,
) -> None:
    """Serve the console at http://HOST:PORT until interrupted (Ctrl+C), to whoever holds the
    token: ``token``, else $RESNET_TUI_TOKEN, else a fresh random one. ``require_token=False``
    only on a loopback host (the CLI checks that before it gets here)."""
    token = token or os.environ.get(TOKEN_ENV) or None
    os.environ.pop(TOKEN_ENV, None)  # the consoles it starts have no use for it
    if not require_token:
        if not is_loopback(host):
            raise ValueError("a console without a token is served on a loopback host only")
        token = None
    elif token is None:
        token = new_token()
    GuardedServer(console_command(runs_dir), host=host, port=port, token=token).serve()
