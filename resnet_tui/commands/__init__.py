"""The CLI's commands, one module per command or group, each with ``register(app)``.

``resnet_tui.cli`` imports them all and registers each on the root; what they share (the run
store, one-line errors, tables, the ``--set``/``--json`` option types) is ``_shared``. A
command module imports only typer and ``_shared`` at the top: ``resnet-tui --help`` must
not import torch or Textual.
"""
