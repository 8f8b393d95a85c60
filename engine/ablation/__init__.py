"""Ablations (seed 002): ``groups`` records and reads a group of runs and starts its queue
(torch-free), ``plan`` checks a request against the model registry, ``queue`` trains a group's
runs one after another. This ``__init__`` imports nothing, so the console can use ``groups``
without loading torch."""
