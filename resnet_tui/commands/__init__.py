"""CLI commands beyond single runs, each module with ``register(app)``.

Modules here import only typer at the top (``resnet-tui --help`` must not import torch).
"""
