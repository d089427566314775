"""Time recording and loading predictions through the Monitor on a SQLite store, beside plain sqlite3.

The store lives in a temporary folder that is deleted at the end. The model has a baseline of the 25
features that bench_drift.py generates (20 numeric, 5 categorical), computed with the default reference
sample size, and two classes with probabilities. No labels are recorded.

The plain sqlite3 floor writes the same rows, encoded as JSON text, into a table of the same layout
with the same pragmas (WAL, synchronous=NORMAL), and reads them back into a DataFrame. It does no
validation, so it is the least time that storing such rows as JSON can take with the standard library.

Run: ``.venv/bin/python benchmarks/bench_store.py [--single-calls N] [--repeats R] [--json]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from bench_drift import machine_info, make_frames, positive_int

from workbench.config import load_settings
from workbench.monitoring.baseline import compute_baseline
from workbench.monitoring.monitor import Monitor
from workbench.store import open_store

CLASSES = ["benign", "malignant"]
WINDOW_ROWS = 100_000
BATCH_ROWS = 1_000

_PLAIN_SCHEMA = """
CREATE TABLE predictions (
    prediction_id TEXT PRIMARY KEY,
    model_id TEXT NOT NULL,
    ts INTEGER NOT NULL,
    features TEXT NOT NULL,
    prediction TEXT NOT NULL,
    probability TEXT
);
CREATE INDEX predictions_model_ts ON predictions (model_id, ts);
"""


# Steps -----------------------------------------------------------------------------------------------


def model_outputs(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return seeded predicted classes and matching two-class probabilities."""
    rng = np.random.default_rng(seed)
    malignant = rng.random(rows)
    predictions = np.where(malignant >= 0.5, CLASSES[1], CLASSES[0]).astype(object)
    return predictions, np.column_stack([1.0 - malignant, malignant])


def time_call(function: Any) -> float:
    gc.collect()
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def open_plain(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.executescript(_PLAIN_SCHEMA)
    return conn


def plain_rows(frame: pd.DataFrame, predictions: np.ndarray,
               probabilities: np.ndarray) -> list[tuple[dict[str, Any], str, list[float]]]:
    """Return (features with None for missing, prediction, probabilities) per row, as workbench stores them."""
    records = frame.to_dict("records")
    for record in records:
        for name, value in record.items():
            if isinstance(value, float) and math.isnan(value):
                record[name] = None
    return list(zip(records, predictions.tolist(), probabilities.tolist(), strict=True))


def plain_insert(conn: sqlite3.Connection, rows: list[tuple[dict[str, Any], str, list[float]]]) -> None:
    """Encode the rows as JSON and insert them in one transaction with executemany."""
    # Microsecond timestamps, one apart so that every row has its own, as utc_now() gives in workbench.
    start = time.time_ns() // 1000
    values = [(uuid.uuid4().hex, "bench-model:1", start + index, json.dumps(features), json.dumps(prediction),
               json.dumps(probability)) for index, (features, prediction, probability) in enumerate(rows)]
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT OR IGNORE INTO predictions VALUES (?, ?, ?, ?, ?, ?)", values)
    conn.execute("COMMIT")


def plain_load(conn: sqlite3.Connection, columns: list[str]) -> pd.DataFrame:
    """Read the newest rows and decode their JSON into one DataFrame column per feature."""
    rows = conn.execute(
        "SELECT prediction_id, ts, features, prediction, probability FROM predictions "
        "WHERE model_id = ? ORDER BY ts DESC, prediction_id DESC LIMIT ?", ("bench-model:1", WINDOW_ROWS),
    ).fetchall()
    rows.reverse()
    features = pd.DataFrame.from_records([json.loads(row[2]) for row in rows], columns=columns)
    features.insert(0, "prediction_id", [row[0] for row in rows])
    features["prediction"] = [json.loads(row[3]) for row in rows]
    features["probability"] = [json.loads(row[4]) for row in rows]
    return features


def stored_record_bytes(path: Path, model_id: str) -> int:
    """Return the length of the stored model record, which Monitor.record reads on every call."""
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT length(record) FROM models WHERE model_id = ?", (model_id,)).fetchone()[0])


def run_steps(folder: Path, frame: pd.DataFrame, predictions: np.ndarray, probabilities: np.ndarray,
              feature_types: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    """Run every step on the workbench store and on the plain sqlite3 database, alternating between them.

    Each workbench batch, call or load is followed by the same one on plain sqlite3, so that load from
    other processes during the benchmark slows both alike.
    """
    url = f"sqlite:///{folder / 'workbench.db'}"
    settings = load_settings(environ={"WORKBENCH_STORE_URL": url, "WORKBENCH_DATA_DIR": str(folder)},
                             dotenv_path=None)
    store = open_store(url)
    monitor = Monitor(store=store, settings=settings)
    baseline = compute_baseline(frame, feature_types=feature_types, classes=CLASSES)
    model_id = monitor.registry.register("bench-model", 1, baseline_statistics=baseline).model_id
    conn = open_plain(folder / "plain.db")
    rows = plain_rows(frame, predictions, probabilities)
    ours: dict[str, Any] = {"model_record_bytes": stored_record_bytes(folder / "workbench.db", model_id)}
    plain: dict[str, Any] = {}

    # Batches of 1,000 rows, taken in turn from the frame.
    batch_seconds, plain_seconds = [], []
    for batch in range(args.batches):
        part = slice(batch * BATCH_ROWS, (batch + 1) * BATCH_ROWS)
        batch_seconds.append(time_call(lambda part=part: monitor.record_batch(
            model_id, frame.iloc[part], predictions[part], probabilities[part])))
        plain_seconds.append(time_call(lambda part=part: plain_insert(conn, rows[part])))
    ours["record_batch_1000"] = {"rows": args.batches * BATCH_ROWS, "seconds": sum(batch_seconds),
                                 "median_batch_s": statistics.median(batch_seconds)}
    plain["record_batch_1000"] = {"rows": args.batches * BATCH_ROWS, "seconds": sum(plain_seconds)}

    # One batch of the whole frame.
    ours["record_batch_100000"] = {
        "rows": len(frame), "seconds": time_call(lambda: monitor.record_batch(model_id, frame, predictions,
                                                                              probabilities))}
    plain["record_batch_100000"] = {"rows": len(rows), "seconds": time_call(lambda: plain_insert(conn, rows))}

    # One call per prediction, stopped after --single-calls calls or --single-seconds of workbench time.
    records = frame.iloc[:args.single_calls].to_dict("records")
    single_seconds, plain_single_seconds = 0.0, 0.0
    for index, features in enumerate(records):
        start = time.perf_counter()
        monitor.record(model_id, features, predictions[index], probabilities[index].tolist())
        single_seconds += time.perf_counter() - start
        start = time.perf_counter()
        plain_insert(conn, [rows[index]])
        plain_single_seconds += time.perf_counter() - start
        if single_seconds > args.single_seconds:
            break
    ours["record_single"] = {"rows": index + 1, "seconds": single_seconds}
    plain["record_single"] = {"rows": index + 1, "seconds": plain_single_seconds}

    # Reading the newest 100,000 predictions.
    window, columns = f"last:{WINDOW_ROWS}", list(frame.columns)
    load_seconds, fetch_seconds, plain_load_seconds = [], [], []
    for _ in range(args.repeats):
        load_seconds.append(time_call(lambda: monitor.load_window(model_id, window)))
        fetch_seconds.append(time_call(lambda: store.fetch_predictions(model_id, last=WINDOW_ROWS)))
        plain_load_seconds.append(time_call(lambda: plain_load(conn, columns)))
    ours["load_window"] = {"rows": WINDOW_ROWS, "seconds": statistics.median(load_seconds)}
    ours["fetch_predictions"] = {"rows": WINDOW_ROWS, "seconds": statistics.median(fetch_seconds)}
    plain["load_window"] = {"rows": WINDOW_ROWS, "seconds": statistics.median(plain_load_seconds)}

    store.close()
    conn.close()
    return {"workbench": ours, "plain_sqlite3": plain}


# Report ----------------------------------------------------------------------------------------------

LABELS = {
    "record_batch_1000": "Monitor.record_batch, batches of 1,000",
    "record_batch_100000": "Monitor.record_batch, one batch of 100,000",
    "record_single": "Monitor.record, one call per prediction",
    "load_window": "Monitor.load_window(model_id, 'last:100000')",
    "fetch_predictions": "store.fetch_predictions(model_id, last=100000)",
}


def print_table(result: dict[str, Any]) -> None:
    print("Machine: " + ", ".join(f"{key} {value}" for key, value in result["machine"].items()))
    options = result["options"]
    print(f"Model: 25 features, stored model record {result['workbench']['model_record_bytes']:,} bytes; "
          f"load steps are the median of {options['repeats']} runs\n")
    header = (f"{'step':<48} {'rows':>8} {'seconds':>9} {'rows/s':>10} {'sqlite3 s':>10} {'sqlite3 rows/s':>15}"
              f" {'workbench/sqlite3':>18}")
    print(header)
    print("-" * len(header))
    for key, label in LABELS.items():
        ours = result["workbench"][key]
        plain = result["plain_sqlite3"].get(key)
        line = f"{label:<48} {ours['rows']:>8,} {ours['seconds']:>9.3f} {ours['rows'] / ours['seconds']:>10,.0f}"
        if plain is None:
            line += f" {'-':>10} {'-':>15} {'-':>18}"
        else:
            ratio = (ours["seconds"] / ours["rows"]) / (plain["seconds"] / plain["rows"])
            line += (f" {plain['seconds']:>10.3f} {plain['rows'] / plain['seconds']:>15,.0f}"
                     f" {ratio:>17.1f}x")
        print(line)
    print("\nworkbench/sqlite3 is the time per row of workbench divided by that of plain sqlite3 "
          "(1.0x = as fast as the floor).")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=positive_int, default=20,
                        help="number of 1,000-row batches recorded with record_batch (default 20)")
    parser.add_argument("--single-calls", type=positive_int, default=2_000,
                        help="maximum Monitor.record calls (default 2000)")
    parser.add_argument("--single-seconds", type=float, default=60.0,
                        help="stop the Monitor.record calls once they have taken this many seconds (default 60)")
    parser.add_argument("--repeats", type=positive_int, default=3,
                        help="timed runs of each load step; the median is printed (default 3)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    args = parser.parse_args(argv)
    if args.batches * BATCH_ROWS > WINDOW_ROWS:
        parser.error(f"--batches {args.batches} needs more than the {WINDOW_ROWS:,} generated rows; use at most "
                     f"{WINDOW_ROWS // BATCH_ROWS}.")

    frame, _, feature_types, _ = make_frames(WINDOW_ROWS)
    predictions, probabilities = model_outputs(WINDOW_ROWS, seed=7)
    with tempfile.TemporaryDirectory(prefix="workbench-bench-") as folder:
        measured = run_steps(Path(folder), frame, predictions, probabilities, feature_types, args)

    result = {
        "machine": machine_info(),
        "options": {"batches": args.batches, "single_calls": args.single_calls,
                    "single_seconds": args.single_seconds, "repeats": args.repeats},
        **measured,
    }
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
