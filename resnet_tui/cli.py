"""The ``resnet-tui`` command line (Typer + Rich): the root of the command tree.

Each command lives in a module of ``resnet_tui.commands`` with a ``register(app)``; what they
share is ``resnet_tui.commands._shared``. The commands enter the engine through its API only:
``engine.api`` (torch-free) and ``engine.api.compute`` (training, the checks that build the
model or read the data), imported inside the commands that need them, as is Textual, so
``resnet-tui --help`` and ``resnet-tui runs list`` start fast.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from resnet_tui.commands import (
    data,
    experiments,
    models,
    presets,
    report,
    runs,
    serve,
    settings,
    sweeps,
    train,
)
from resnet_tui.commands._shared import OneLineErrors, state

app = typer.Typer(
    help="A terminal console for ResNet image-classification experiments.\n\n"
    "Run without a command to open the console.",
    no_args_is_help=False,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    cls=OneLineErrors,
)


@app.callback(invoke_without_command=True)
def main_callback(
    ctx: typer.Context,
    runs_dir: Annotated[
        str | None,
        typer.Option(
            "--runs-dir",
            envvar="RESNET_TUI_RUNS",
            metavar="PATH",
            help="The run store folder [./runs].",
        ),
    ] = None,
) -> None:
    state.runs_dir = runs_dir
    if ctx.invoked_subcommand is None:
        serve.open_console()


# `--help` lists commands in this order, then the groups in this order.
for module in (serve, train, runs, report, presets, models, data, experiments, sweeps, settings):
    module.register(app)


def main() -> None:
    # Make `python -m resnet_tui` and the console script behave the same for Ctrl-C.
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
