"""How the run store scales: list_runs over 1,000 runs, and the per-epoch write cost.

    .venv/bin/python bench/bench_store.py [--runs 1000] [--epochs 200] [--dir /dev/shm]

Creates the runs with ``create_run`` in a temporary store, gives each ``--epochs`` epoch lines
of metrics (written in bulk: the append path is timed separately) and a final ``update``, then
prints the times. Not a test: nothing here asserts; compare the printed figures and ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from engine.config import RunConfig  # noqa: E402
from engine.store import METRICS_FILE, RunStore, atomic_write  # noqa: E402


def _timed(fn: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def _epoch_record(epoch: int) -> dict[str, float | int | str]:
    return {
        "kind": "epoch",
        "epoch": epoch,
        "train_loss": 1.0 / epoch,
        "train_acc": 1 - 1.0 / (epoch + 1),
        "val_loss": 1.1 / epoch,
        "val_acc": 1 - 1.1 / (epoch + 1),
        "lr": 0.1,
        "seconds": 1.02,
        "best_epoch": epoch,
    }


def _per_epoch_cost(store: RunStore, run_id: str, epochs: int) -> list[float]:
    """One epoch's store writes as the trainer does them: a metrics line, then an update."""
    times = []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        store.append_metrics(run_id, _epoch_record(epoch))
        store.update(run_id, epoch=epoch, best={"val_acc": 0.9, "best_epoch": epoch})
        times.append(time.perf_counter() - start)
    return times


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:7.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument(
        "--dir",
        default=str(REPO / "bench"),
        help="where the temporary store goes "
        "(its disk's fsync latency dominates the write costs; /dev/shm shows the CPU part)",
    )
    parser.add_argument("--json", action="store_true", help="end with one JSON line of figures")
    args = parser.parse_args()
    config = RunConfig().to_dict()

    with tempfile.TemporaryDirectory(prefix="bench-store-", dir=args.dir) as tmp:
        # The disk's floor: an epoch costs 3 fsyncs (metrics, index, run.json) and 2 renames.
        floor = _timed(lambda: atomic_write(Path(tmp) / "probe", b"x" * 2000), 50)
        small = RunStore(Path(tmp) / "small")
        small_id = small.create_run(config, name="alone")["id"]
        small_cost = _per_epoch_cost(small, small_id, 100)

        store = RunStore(Path(tmp) / "runs")
        lines = b"".join(
            json.dumps(_epoch_record(e)).encode() + b"\n" for e in range(1, args.epochs + 1)
        )
        create_times = []
        start_all = time.perf_counter()
        for i in range(args.runs):
            start = time.perf_counter()
            run_id = store.create_run(config, name=f"run-{i}")["id"]
            create_times.append(time.perf_counter() - start)
            (store.run_dir(run_id) / METRICS_FILE).write_bytes(lines)
            store.set_status(run_id, "finished", epoch=args.epochs, best={"val_acc": 0.95})
        fill = time.perf_counter() - start_all
        index_size = store.index_path.stat().st_size

        list_times = _timed(lambda: RunStore(store.root).list_runs(), 10)
        get_times = _timed(lambda: RunStore(store.root).get(run_id), 10)
        read_times = _timed(lambda: store.read_metrics(run_id), 10)
        big_id = store.create_run(config, name="busy")["id"]
        big_cost = _per_epoch_cost(store, big_id, 50)

        def cli_run(*extra: str) -> None:
            command = [sys.executable, "-m", "resnet_tui", "--runs-dir", str(store.root)]
            subprocess.run(
                [*command, "runs", "list", *extra], cwd=REPO, check=True, capture_output=True
            )

        cli_times = _timed(lambda: cli_run("--json"), 5)
        table_times = _timed(lambda: cli_run(), 5)  # the table a person reads: newest 50
        all_times = _timed(lambda: cli_run("--all"), 3)  # the table of every run

    import_times = []
    for _ in range(5):
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "import time; t = time.perf_counter(); import engine.store; "
                "print(time.perf_counter() - t)",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        import_times.append(float(out))

    med = statistics.median
    print(f"store of {args.runs} runs x {args.epochs} epochs in {args.dir} ({os.cpu_count()} CPUs)")
    print(f"  index.json size                 {index_size / 1e6:7.2f} MB")
    print(f"  fill (create + finish, total)   {fill:7.2f} s")
    print(f"  create_run, last 100 (median)   {_ms(med(create_times[-100:]))}")
    print(f"  list_runs (fresh store, median) {_ms(med(list_times))}  (min {_ms(min(list_times))})")
    print(f"  get (fresh store, median)       {_ms(med(get_times))}")
    print(f"  read_metrics of {args.epochs} lines      {_ms(med(read_times))}")
    print(f"  disk floor: one atomic_write    {_ms(med(floor))}  (an epoch needs ~2.5 of them)")
    print(
        f"  per epoch, append+update, 1 run {_ms(med(small_cost))}  (p90 "
        f"{_ms(sorted(small_cost)[int(len(small_cost) * 0.9)])})"
    )
    print(
        f"  per epoch, append+update, with {args.runs + 1} runs indexed "
        f"{_ms(med(big_cost))}  (p90 {_ms(sorted(big_cost)[int(len(big_cost) * 0.9)])})"
    )
    no_pyc = " (no .pyc: PYTHONDONTWRITEBYTECODE is set)" if sys.dont_write_bytecode else ""
    print(f"  import engine.store (new proc)  {_ms(med(import_times))}{no_pyc}")
    print(f"  ratio list_runs / 0.3 s budget  {med(list_times) / 0.3:7.3f}")
    print(f"  ratio per-epoch (busy) / 1 s digits epoch {med(big_cost) / 1.0:7.4f}")
    print(f"  `resnet-tui runs list --json`, whole process {_ms(med(cli_times))}")
    print(f"  `resnet-tui runs list` (newest 50), whole process {_ms(med(table_times))}")
    print(f"  `resnet-tui runs list --all`, whole process {_ms(med(all_times))}")
    if args.json:
        figures = {
            "list_runs_s": med(list_times),
            "cli_runs_list_s": med(table_times),
            "cli_runs_list_json_s": med(cli_times),
            "cli_runs_list_all_s": med(all_times),
            "per_epoch_s": med(big_cost),
            "per_epoch_one_run_s": med(small_cost),
            "create_run_s": med(create_times[-100:]),
        }
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
