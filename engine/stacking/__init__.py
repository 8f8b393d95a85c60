"""Stacked ensembles (seed 000): ``plan`` (which runs can be stacked, the stacked run's config
and report; torch-free) and ``fit`` (the members' logits and the meta-classifier; torch).
This ``__init__`` imports nothing, so the console can use ``plan`` without loading torch."""

from typing import Any


# Transition (removed when the front-ends call engine.api): ``engine.stacking.NAME`` still
# finds the names of its modules, loading a module only when one of its names is asked for.
def __getattr__(name: str) -> Any:
    import importlib

    if name in ("plan", "fit"):  # a submodule: import it alone, nothing else
        return importlib.import_module(f"engine.stacking.{name}")
    for module in ("plan", "fit"):
        loaded = importlib.import_module(f"engine.stacking.{module}")
        if hasattr(loaded, name):
            return getattr(loaded, name)
    raise AttributeError(f"module 'engine.stacking' has no attribute {name!r}")
