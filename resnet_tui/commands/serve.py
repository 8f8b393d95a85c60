"""The console itself: ``resnet-tui`` with no command opens it in this terminal, and
``resnet-tui serve`` serves it to a browser (textual-serve).

``register(app)`` adds ``serve``; the root callback (resnet_tui.cli) calls ``open_console``.
Textual is imported only here, late, so no other command pays for it.
"""

from __future__ import annotations

from typing import Annotated

import typer

from resnet_tui.commands._shared import fail, state, user_errors


@user_errors
def open_console() -> None:
    from resnet_tui.app import ResnetApp

    console_app = ResnetApp(runs_dir=state.runs_dir)
    console_app.run()
    if console_app.return_code:  # an internal error: Textual printed its traceback
        raise typer.Exit(console_app.return_code)


def serve(
    host: Annotated[
        str, typer.Option(help="Address to bind; anything but 127.0.0.1 exposes the console.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
) -> None:
    """Serve the console to a browser (textual-serve), on localhost unless --host says otherwise."""
    from resnet_tui.serve import serve as serve_app

    try:
        serve_app(host, port, runs_dir=state.runs_dir)
    except OSError as exc:  # the address is taken, or not one of this machine's
        fail(f"cannot serve on {host}:{port}: {exc.strerror or exc}; choose another --port/--host")


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the CLI."""
    app.command("serve")(user_errors(serve))
