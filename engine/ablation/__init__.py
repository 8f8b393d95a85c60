"""Ablations (seed 002): ``groups`` records and reads a group of runs and starts its queue
(torch-free), ``plan`` checks a request against the model registry, ``queue`` trains a group's
runs one after another. This ``__init__`` imports nothing, so the console can use ``groups``
without loading torch."""

from typing import Any

# Transition (removed when the front-ends call engine.api): ``engine.ablation.NAME`` still finds
# the names of its modules, loading a module only when one of its names is asked for.
_MODULES = ("groups", "plan", "queue")


def __getattr__(name: str) -> Any:
    import importlib

    if name in {*_MODULES}:  # a submodule: import it alone, nothing else
        return importlib.import_module(f"engine.ablation.{name}")
    for module in _MODULES:
        loaded = importlib.import_module(f"engine.ablation.{module}")
        if hasattr(loaded, name):
            return getattr(loaded, name)
    raise AttributeError(f"module 'engine.ablation' has no attribute {name!r}")
