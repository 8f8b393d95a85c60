"""The engine's own entry point for every process that trains: ``python -m engine.worker``.

    python -m engine.worker --store RUNS run RUN [--nnodes N --rdzv-endpoint HOST:PORT]
    python -m engine.worker --store RUNS rank RUN        (what torchrun starts, once per rank)
    python -m engine.worker --store RUNS queue RUN...    (an ablation's runs, one after another)
    python -m engine.worker --store RUNS sweep NAME [--parallel N]
    python -m engine.worker --store RUNS stack RUN       (a stacked run created by the API)
    python -m engine.worker --store RUNS bench-loader PRESET [--workers 0,2,4] [--set K=V ...]

Detached runs, torchrun's ranks, ablation queues, sweep drivers and stacks all start here, so
the engine never runs a front-end's code (the CLI or the console) to train. Output goes to the
log file its starter chose; a user error ends the process with one ``error:`` line and exit
status 2, anything else with its traceback and status 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from engine.errors import UserError
from engine.store import RunStore


def _run(store: RunStore, run_id: str, nnodes: int, rdzv_endpoint: str) -> None:
    """Train one run in this process, or over torchrun when its config asks for several
    processes (train.devices) or the command for several machines."""
    devices = int(store.get(run_id)["config"].get("train", {}).get("devices", 1))
    if devices > 1 or nnodes > 1 or rdzv_endpoint:
        from engine.launch import launch

        doc = launch(store, run_id, devices, nnodes, rdzv_endpoint)
    else:
        from engine.runner import execute

        doc = execute(store, run_id)
    print(f"{doc['status']}: {doc.get('message', '')}", flush=True)


def _rank(store: RunStore, run_id: str) -> None:
    """One rank of a distributed run: rank 0 owns the run (the store), the others train."""
    from engine import ddp, ddp_env
    from engine.runner import execute, execute_rank

    try:
        if ddp_env.rank() == 0:
            execute(store, run_id)
        else:
            ddp.silence_stdout()
            execute_rank(store, run_id)
    finally:
        ddp.shutdown()


def _queue(store: RunStore, run_ids: Sequence[str]) -> None:
    from engine.ablation.queue import run_queue

    def on_error(run_id: str, exc: BaseException) -> None:
        print(f"error: run {run_id}: {exc}", file=sys.stderr, flush=True)

    run_queue(store, run_ids, on_error=on_error)


def _sweep(store: RunStore, name: str, parallel: int | None) -> None:
    from engine.sweep.driver import run_sweep

    def show(event: object) -> None:
        print(event, flush=True)

    doc = run_sweep(store, name, parallel=parallel, on_event=show)
    print(f"sweep {name} {doc['status']}: {doc.get('message', '')}", flush=True)


def _stack(store: RunStore, run_id: str) -> None:
    from engine.stacking.fit import train_stacked_run

    doc = train_stacked_run(store, run_id)
    print(f"{doc['status']}: {doc.get('message', '')}", flush=True)


def _bench_loader(preset: str, workers: str, sets: Sequence[str]) -> None:
    """Seed 003's Table 2 as JSON lines on stdout (``engine.loader_bench.stream``)."""
    import json

    from engine.loader_bench import parse_workers, stream
    from engine.presets import resolve

    config, name = resolve(preset, list(sets))
    counts = parse_workers(workers)
    stream(config, name, counts, lambda data: print(json.dumps(data), flush=True))  # no warnings


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m engine.worker", description=__doc__)
    root.add_argument("--store", required=True, help="the run store folder")
    sub = root.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train one run (queued, stopped or crashed)")
    run.add_argument("run_id")
    run.add_argument("--nnodes", type=int, default=1)
    run.add_argument("--rdzv-endpoint", default="")
    sub.add_parser("rank", help="one rank of a torchrun launch").add_argument("run_id")
    sub.add_parser("queue", help="train runs one after another").add_argument("run_ids", nargs="+")
    sweep = sub.add_parser("sweep", help="drive a sweep until its trials end")
    sweep.add_argument("name")
    sweep.add_argument("--parallel", type=int, default=None)
    sub.add_parser("stack", help="train a stacked run").add_argument("run_id")
    bench = sub.add_parser("bench-loader", help="time the data loader per num_workers (JSON)")
    bench.add_argument("preset")
    bench.add_argument("--workers", default="0,2,4,8")
    bench.add_argument("--set", dest="sets", action="append", default=[])
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    store = RunStore(args.store)
    commands: dict[str, Callable[[], None]] = {
        "run": lambda: _run(store, args.run_id, args.nnodes, args.rdzv_endpoint),
        "rank": lambda: _rank(store, args.run_id),
        "queue": lambda: _queue(store, args.run_ids),
        "sweep": lambda: _sweep(store, args.name, args.parallel),
        "stack": lambda: _stack(store, args.run_id),
        "bench-loader": lambda: _bench_loader(args.preset, args.workers, args.sets),
    }
    try:
        commands[args.command]()
    except UserError as exc:
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        for warning in store.warnings:
            print(f"warning: {warning}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
