"""How the run store scales: create, per-epoch update and list_runs with N runs in the store.

    .venv/bin/python bench/bench_store.py [--runs 1000] [--epochs 200] [--dir /dev/shm] [--json]

Fills a temporary store in bulk: N run folders written directly (a finished run's run.json,
config.toml, and ``--epochs`` metrics lines, hard-linked: identical bytes), then the index
made by the store's own ``rebuild_index`` (so the same script measures any version of the
store). Then it times the real calls on that store, each the median of ``--samples`` calls:

- ``create_run`` (one long-lived store object, and a fresh one per call as a CLI process has);
- a per-epoch ``update`` of a run created in that store, as the trainer does it (and the
  update of the oldest run from a fresh store object: the index searched from its end);
- ``list_runs`` from a fresh store object (the console opening the Runs view) and from the
  same object after one run's update (the console's follower, every epoch of every run);
- whole ``resnet-tui runs list`` processes.

Not a test: nothing here asserts; compare the printed figures and ratios. With ``--json`` the
table goes to stderr and stdout gets ONE JSON object (``create_run_ms``, ``update_ms``,
``list_runs_ms`` and the rest).
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
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from engine.config import RunConfig, to_toml  # noqa: E402
from engine.store import (  # noqa: E402
    CONFIG_FILE,
    METRICS_FILE,
    RUN_FILE,
    RunStore,
    atomic_write,
)


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


def _epoch_fields(epoch: int) -> dict[str, Any]:
    """What the runner's per-epoch ``update`` sets."""
    record = _epoch_record(epoch)
    last = {k: v for k, v in record.items() if k not in ("kind", "epoch", "best_epoch")}
    return {
        "epoch": epoch,
        "best": {"val_acc": 0.9 + epoch * 1e-4, "val_loss": 0.31, "best_epoch": epoch},
        "last": last,
        "elapsed_s": round(epoch * 1.02, 3),
    }


def _finished_doc(i: int, run_id: str, created: datetime, config: dict[str, Any]) -> dict:
    return {
        "id": run_id,
        "name": f"run-{i}",
        "preset": "digits-quick",
        "config": config,
        "status": "finished",
        "pid": 4000 + i % 30000,
        "host": "bench-host",
        "device": "cpu",
        "created": created.isoformat(timespec="seconds"),
        "started": created.isoformat(timespec="seconds"),
        "finished": (created + timedelta(seconds=30)).isoformat(timespec="seconds"),
        "params": 76042,
        "epoch": 30,
        "epochs": 30,
        "model": config["model"]["name"],
        "dataset": config["data"]["name"],
        "best": {"val_acc": 0.9833, "val_loss": 0.0612, "best_epoch": 27},
        "test": {"test_acc": 0.9889, "test_loss": 0.0421},
        "message": "30 epochs",
        "pid_start": 123456 + i,
        "classes": [str(c) for c in range(10)],
        "last": {"train_loss": 0.02, "train_acc": 0.995, "val_loss": 0.06, "val_acc": 0.98},
        "elapsed_s": 31.4,
    }


def fill(root: Path, runs: int, epochs: int, config: dict[str, Any]) -> None:
    """N finished run folders, then the index from them (``rebuild_index``)."""
    root.mkdir(parents=True)
    shared = root.parent / f"{root.name}-shared"
    shared.mkdir()
    (shared / CONFIG_FILE).write_text(to_toml(config))
    lines = b"".join(json.dumps(_epoch_record(e)).encode() + b"\n" for e in range(1, epochs + 1))
    (shared / METRICS_FILE).write_bytes(lines)
    start = datetime.now().astimezone() - timedelta(days=30)
    for i in range(runs):
        created = start + timedelta(seconds=60 * i)
        run_id = f"{created:%Y%m%d-%H%M%S}-run-{i}-{i % 65536:04x}"
        folder = root / run_id
        folder.mkdir()
        for name in (CONFIG_FILE, METRICS_FILE):
            os.link(shared / name, folder / name)
        doc = _finished_doc(i, run_id, created, config)
        (folder / RUN_FILE).write_bytes(json.dumps(doc, separators=(",", ":")).encode())
    RunStore(root).rebuild_index()
    for name in (CONFIG_FILE, METRICS_FILE):
        (shared / name).unlink()
    shared.rmdir()


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=200, help="metrics lines per run")
    parser.add_argument("--samples", type=int, default=30, help="timed calls per figure")
    parser.add_argument(
        "--dir",
        default=str(REPO / "bench"),
        help="where the temporary store goes "
        "(its disk's fsync latency dominates the write costs; /dev/shm shows the CPU part)",
    )
    parser.add_argument("--no-cli", action="store_true", help="skip the `runs list` processes")
    parser.add_argument("--json", action="store_true", help="print one JSON object (stdout)")
    args = parser.parse_args()
    out = sys.stderr if args.json else sys.stdout
    config = RunConfig().to_dict()
    med = statistics.median
    n = args.samples

    with tempfile.TemporaryDirectory(prefix="bench-store-", dir=args.dir) as tmp:
        # The disk's floor: an epoch costs 3 fsyncs (metrics, run.json, index).
        floor = _timed(lambda: atomic_write(Path(tmp) / "probe", b"x" * 2000), 50)
        root = Path(tmp) / "runs"
        start = time.perf_counter()
        fill(root, args.runs, args.epochs, config)
        fill_s = time.perf_counter() - start
        index_size = (root / "index.json").stat().st_size
        oldest = min(p.name for p in root.iterdir() if p.name[:1].isdigit())

        # Cold: what a new process (the CLI, the console opening) pays.
        list_cold = _timed(lambda: RunStore(root).list_runs(), max(5, n // 3))
        # What the API gives the front-ends: typed records (engine.api.list_runs), and the
        # newest 200 alone (the console's first screen of a big store).
        records_cold = _timed(lambda: RunStore(root).list_records(), max(5, n // 3))
        newest_cold = _timed(lambda: RunStore(root).newest_records(200), max(5, n // 3))
        get_times = _timed(lambda: RunStore(root).get(oldest), max(5, n // 3))

        store = RunStore(root)  # one long-lived store object, as a trainer or the console
        counter = iter(range(10**9))
        create_warm = _timed(lambda: store.create_run(config, name=f"bench-{next(counter)}"), n)
        create_cold = _timed(
            lambda: RunStore(root).create_run(config, name=f"bench-{next(counter)}"), n
        )
        busy = store.create_run(config, name="busy")["id"]
        epochs = iter(range(1, 10**9))
        update_times = _timed(lambda: store.update(busy, **_epoch_fields(next(epochs))), n)
        append_update = _timed(
            lambda: (
                store.append_metrics(busy, _epoch_record(e := next(epochs))),
                store.update(busy, **_epoch_fields(e)),
            ),
            n,
        )
        update_old = _timed(lambda: RunStore(root).update(oldest, note=next(epochs)), n)

        follower = RunStore(root)
        follower.list_runs()
        follower.list_records()

        def follow() -> None:
            store.update(busy, **_epoch_fields(next(epochs)))
            start = time.perf_counter()
            follower.list_runs()
            list_warm.append(time.perf_counter() - start)
            store.update(busy, **_epoch_fields(next(epochs)))
            start = time.perf_counter()
            follower.list_records()
            records_warm.append(time.perf_counter() - start)

        list_warm: list[float] = []
        records_warm: list[float] = []
        for _ in range(n):
            follow()
        read_times = _timed(lambda: store.read_metrics(oldest), 10)
        index_after = (root / "index.json").stat().st_size

        def cli_run(*extra: str) -> None:
            command = [sys.executable, "-m", "resnet_tui", "--runs-dir", str(root)]
            subprocess.run(
                [*command, "runs", "list", *extra], cwd=REPO, check=True, capture_output=True
            )

        cli = (
            {}
            if args.no_cli
            else {
                "cli_runs_list_json_s": med(_timed(lambda: cli_run("--json"), 5)),
                "cli_runs_list_s": med(_timed(lambda: cli_run(), 5)),  # the newest 50
                "cli_runs_list_all_s": med(_timed(lambda: cli_run("--all"), 3)),
            }
        )

    import_times = []
    for _ in range(5):
        code = "import time; t = time.perf_counter(); import engine.store; "
        code += "print(time.perf_counter() - t)"
        proc = subprocess.run(
            [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
        )
        import_times.append(float(proc.stdout))

    figures: dict[str, Any] = {
        "runs": args.runs,
        "create_run_ms": med(create_warm) * 1000,
        "create_run_fresh_store_ms": med(create_cold) * 1000,
        "update_ms": med(update_times) * 1000,
        "update_oldest_fresh_store_ms": med(update_old) * 1000,
        "list_runs_ms": med(list_cold) * 1000,
        "list_runs_after_an_update_ms": med(list_warm) * 1000,
        "list_records_ms": med(records_cold) * 1000,
        "list_records_after_an_update_ms": med(records_warm) * 1000,
        "newest_200_records_ms": med(newest_cold) * 1000,
        "get_oldest_ms": med(get_times) * 1000,
        "per_epoch_ms": med(append_update) * 1000,
        "disk_floor_ms": med(floor) * 1000,
        "index_mb": index_size / 1e6,
        "index_mb_after": index_after / 1e6,
        "fill_s": fill_s,
        "import_store_ms": med(import_times) * 1000,
        # the figures bench/__main__.py reads, in seconds, under their old names
        "list_runs_s": med(list_cold),
        "per_epoch_s": med(append_update),
        "create_run_s": med(create_warm),
        **cli,
    }

    p = lambda *a: print(*a, file=out)  # noqa: E731
    p(f"store of {args.runs} runs in {args.dir} ({os.cpu_count()} CPUs), medians of {n} calls")
    p(f"  index.json size                    {index_size / 1e6:8.2f} MB (filled in {fill_s:.1f} s)")
    p(f"  create_run (one store object)      {_ms(med(create_warm))}")
    p(f"  create_run (a fresh store object)  {_ms(med(create_cold))}")
    p(f"  update, per epoch                  {_ms(med(update_times))}")
    p(f"  update of the oldest run, fresh    {_ms(med(update_old))}")
    p(f"  append + update, per epoch         {_ms(med(append_update))}")
    p(f"  list_runs (fresh store object)     {_ms(med(list_cold))}  (min {_ms(min(list_cold))})")
    p(f"  list_runs after one update         {_ms(med(list_warm))}")
    p(f"  list_records (fresh store object)  {_ms(med(records_cold))}")
    p(f"  list_records after one update      {_ms(med(records_warm))}")
    p(f"  newest 200 records (fresh)         {_ms(med(newest_cold))}")
    p(f"  get the oldest run (fresh)         {_ms(med(get_times))}")
    p(f"  read_metrics of {args.epochs} lines         {_ms(med(read_times))}")
    p(f"  disk floor: one atomic_write       {_ms(med(floor))}")
    no_pyc = " (no .pyc: PYTHONDONTWRITEBYTECODE is set)" if sys.dont_write_bytecode else ""
    p(f"  import engine.store (new proc)     {_ms(med(import_times))}{no_pyc}")
    p(f"  ratio list_runs / 1 s Runs view    {med(list_cold) / 1.0:8.3f}")
    p(f"  ratio per-epoch / 1 s digits epoch {med(append_update) / 1.0:8.4f}")
    for key, label in (
        ("cli_runs_list_s", "`resnet-tui runs list` (newest 50)"),
        ("cli_runs_list_json_s", "`resnet-tui runs list --json`"),
        ("cli_runs_list_all_s", "`resnet-tui runs list --all`"),
    ):
        if key in cli:
            p(f"  {label}, whole process {_ms(cli[key])}")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
