"""Stacked ensembles (seed 000): ``plan`` (which runs can be stacked, the stacked run's config
and report; torch-free) and ``fit`` (the members' logits and the meta-classifier; torch).
This ``__init__`` imports nothing, so the console can use ``plan`` without loading torch."""
