"""Sweeps (seed 004's grid search, seed 003's Figure 5): many runs of one preset over a grid or an
Optuna search, queued over the devices. Every trial is an ordinary run of the store.

- ``spec``: what a sweep is and ``plan_sweep`` (parse and check a request; writes nothing);
- ``docs``: the sweep documents beside the run store, and the sweep's process (start, stop,
  delete);
- ``study``: the Optuna study (create or join a sweep, the study's trials, registry names);
- ``driver``: the sweep process itself (``run_sweep``), started by ``engine.worker sweep``;
- ``events``: what the driver reports; ``report``: results as plain rows;
- ``analysis``: parallel coordinates of the trials and the importance records;
  ``importance``: parameter importance (Optuna's fANOVA).

This package's ``__init__`` imports nothing: ``spec``, ``docs``, ``report`` and ``analysis``
are torch- and optuna-free (the console uses them), ``study``, ``driver`` and ``importance``
import optuna.
"""
