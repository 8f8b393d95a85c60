"""Tables computed from the store: best stats per run, config differences. Pure Python."""

from __future__ import annotations

from typing import Any

from engine.config import RunConfig


def best_stats_row(doc: dict[str, Any], epochs: list[dict[str, Any]]) -> dict[str, Any]:
    """Seed 000's "Best Stats Per Model" row: the best value of each curve over the epochs
    (lowest losses, highest accuracies), the best epoch and the test accuracy."""

    def pick(key: str, fn: Any) -> float | None:
        values = [m[key] for m in epochs if isinstance(m.get(key), int | float)]
        return fn(values) if values else None

    best = doc.get("best") or {}
    return {
        "run": doc.get("name") or doc["id"],
        "id": doc["id"],
        "model": doc.get("model", ""),
        "train_loss": pick("train_loss", min),
        "val_loss": pick("val_loss", min),
        "train_acc": pick("train_acc", max),
        "val_acc": pick("val_acc", max),
        "best_epoch": int(best["best_epoch"]) if best.get("best_epoch") else None,
        "test_acc": (doc.get("test") or {}).get("test_acc"),
        "epochs": len(epochs),
    }


def config_differences(configs: list[RunConfig]) -> dict[str, list[Any]]:
    """``{"optim.lr": [0.1, 0.05], ...}`` for every key whose value is not the same in all."""
    flats = [{f"{s}.{k}": v for s, d in c.to_dict().items() for k, v in d.items()} for c in configs]
    keys = list(flats[0]) if flats else []
    return {
        key: [f[key] for f in flats] for key in keys if any(f[key] != flats[0][key] for f in flats)
    }


def to_csv(rows: list[dict[str, Any]], columns: list[str] | tuple[str, ...]) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def to_markdown(rows: list[dict[str, Any]], columns: list[str] | tuple[str, ...]) -> str:
    def cell(v: Any) -> str:
        if v is None:
            return "-"
        return f"{v:.6f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"
