"""CLI commands beyond single runs, each module with ``register(app)``, and what every
command module shares: the ``--set`` and ``--json`` option types and a late reference to
``resnet_tui.cli`` (its helpers: store, fail, tables).

Modules here import only typer at the top (``resnet-tui --help`` must not import torch).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override one config key: section.key=value (repeatable)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def cli_module() -> Any:
    """``resnet_tui.cli``, imported late: it imports the command modules while it loads."""
    from resnet_tui import cli

    return cli
