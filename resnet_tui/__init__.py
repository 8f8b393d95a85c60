"""resnet-tui: the command line and the Textual console over the ``engine`` package."""
