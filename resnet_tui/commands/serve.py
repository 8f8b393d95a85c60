"""The console itself: ``resnet-tui`` with no command opens it in this terminal, and
``resnet-tui serve`` serves it to a browser (textual-serve).

``register(app)`` adds ``serve``; the root callback (resnet_tui.cli) calls ``open_console``.
Textual is imported only here, late, so no other command pays for it.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from resnet_tui.commands._shared import command, fail, state, user_errors


@user_errors
def open_console() -> None:
    from resnet_tui.app import ResnetApp
    from resnet_tui.widgets.picture import probe_terminal

    probe_terminal()  # Sixel or Kitty graphics? asked before Textual owns the terminal
    console_app = ResnetApp(runs_dir=state.runs_dir)
    console_app.run()
    if console_app.return_code:  # an internal error: Textual printed its traceback
        raise typer.Exit(console_app.return_code)


def serve(
    ctx: typer.Context,
    host: Annotated[
        str,
        typer.Option(
            metavar="HOST",
            help="Address to bind. Anything but a loopback address (127.0.0.1, localhost, ::1) "
            "lets other machines reach the console; use ssh -L instead.",
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="TCP port.", min=1, max=65535)] = 8000,
    token: Annotated[
        str | None,
        typer.Option(
            help="The token to ask for (default: $RESNET_TUI_TOKEN, else a new random one). "
            "Other users can read a command line: prefer the variable.",
            metavar="TOKEN",
        ),
    ] = None,
    no_token: Annotated[
        bool,
        typer.Option(
            "--no-token",
            help="Ask for no token; only with an explicit loopback --host. Any account on "
            "this machine can then drive the console.",
        ),
    ] = False,
) -> None:
    """Serve the console to a browser (textual-serve), to whoever holds its token.

    Prints the address to open, with a token made for this start. Over SSH, on your laptop:
    ssh -L 8000:127.0.0.1:8000 HOST, then open the printed address with localhost:8000.
    """
    from resnet_tui.serve import TOKEN_ENV, is_loopback
    from resnet_tui.serve import serve as serve_app

    # by name: typer brings its own copy of click's ParameterSource enum
    source = ctx.get_parameter_source("host")
    explicit_host = source is not None and source.name == "COMMANDLINE"
    if no_token:
        if token is not None:
            fail("--token and --no-token contradict each other; give one of them")
        if not (explicit_host and is_loopback(host)):
            fail(
                "--no-token needs an explicit loopback --host (e.g. --host 127.0.0.1): "
                "without a token, whoever reaches the port drives the console"
            )
        shown = f"[{host}]" if ":" in host else host
        typer.echo(
            f"warning: no token: any account on this machine can open http://{shown}:{port}/ "
            "and launch, stop and delete your runs as you (web pages on other sites are "
            "still refused)",
            err=True,
        )
    elif token is not None and not token.strip():
        fail("--token is empty; give a token, or leave it out for a random one")
    elif token is None and TOKEN_ENV in os.environ and not os.environ[TOKEN_ENV].strip():
        fail(f"${TOKEN_ENV} is empty; set it to a token, or unset it for a random one")
    chosen = token if token is not None else os.environ.get(TOKEN_ENV)
    if not no_token and chosen and len(chosen.strip()) < 16:
        typer.echo(
            f"warning: a token of {len(chosen.strip())} characters is easy to guess; leave "
            "--token and $RESNET_TUI_TOKEN out for a random one of 43",
            err=True,
        )
    if not is_loopback(host):
        typer.echo(
            f"warning: --host {host} lets other machines reach the console: whoever has the "
            "token can launch, stop and delete your runs, and plain HTTP carries the token "
            "unencrypted over the network; prefer the default 127.0.0.1 with ssh -L",
            err=True,
        )
    try:
        serve_app(host, port, runs_dir=state.runs_dir, token=token, require_token=not no_token)
    except OSError as exc:  # the address is taken, or not one of this machine's
        fail(f"cannot serve on {host}:{port}: {exc.strerror or exc}; choose another --port/--host")


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the CLI."""
    command(app, "serve", serve)
