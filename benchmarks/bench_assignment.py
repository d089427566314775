"""Time sticky variant assignment in workbench against the GrowthBook Python SDK's own hash.

The ids are ``user-0000000``, ``user-0000001``, ... (``--ids``, default 1,000,000). Every 20th id is
non-ASCII: half of those are Persian (``کاربر-`` and Persian digits), half accented Latin
(``bíró-``), and every 1,000th id ends in an emoji, a character above U+FFFF. All steps use the seed
``model-ab-2026`` and, where variants are assigned, weights 0.5/0.5 and coverage 1. The steps:

(1) GrowthBook SDK: ``growthbook.core.gbhash(seed, id, 2)`` per id, the call the SDK makes to bucket a
    user for an experiment with hash version 2.
(2) workbench ``bucket(seed, id)`` per id.
(3) workbench ``buckets(seed, ids)`` on the whole list.
(4) GrowthBook SDK: ``chooseVariation(gbhash(seed, id, 2), getBucketRanges(2, 1, [0.5, 0.5]))`` per
    id, the variant choice of the SDK's experiment evaluation without its targeting and tracking.
(5) workbench ``assign_variant(seed, id, [0.5, 0.5])`` per id.
(6) workbench ``assign_variants(seed, ids, [0.5, 0.5])`` on the whole list.

Each time is the median of ``--repeats`` runs, after one untimed warm-up run, with the runs of the
steps interleaved. The script also counts the ids whose bucket or variant differs between workbench and
the SDK, which must be 0. The times are printed, never checked against a limit, because they depend on
the machine. Without the SDK (``pip install growthbook``) only the workbench steps run.

Run: ``.venv/bin/python benchmarks/bench_assignment.py [--ids N] [--repeats R] [--json]``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
from bench_drift import machine_info, positive_int, summarise, time_interleaved

from workbench.abtesting.batch_hashing import assign_variants, buckets
from workbench.abtesting.hashing import assign_variant, bucket

SEED = "model-ab-2026"
WEIGHTS = [0.5, 0.5]

LABELS = {
    "sdk_bucket": "(1) GrowthBook gbhash(seed, id, 2) per id",
    "bucket": "(2) workbench bucket per id",
    "buckets": "(3) workbench buckets, one call",
    "sdk_variant": "(4) GrowthBook chooseVariation(gbhash, getBucketRanges) per id",
    "assign_variant": "(5) workbench assign_variant per id",
    "assign_variants": "(6) workbench assign_variants, one call",
}


def make_ids(count: int) -> list[str]:
    """Build the ids described in the module docstring."""
    ids = []
    for index in range(count):
        if index % 1000 == 999:
            ids.append(f"user-{index:07d}-\U0001F600")
        elif index % 40 == 0:
            persian_digits = f"{index:07d}".translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
            ids.append(f"کاربر-{persian_digits}")
        elif index % 40 == 20:
            ids.append(f"bíró-{index:07d}")
        else:
            ids.append(f"user-{index:07d}")
    return ids


def growthbook_version() -> str | None:
    if importlib.util.find_spec("growthbook") is None:
        return None
    return importlib.metadata.version("growthbook")


def steps_for(ids: list[str], with_sdk: bool) -> dict[str, Callable[[], Any]]:
    """Return the function that each step times, keyed as in LABELS."""
    steps: dict[str, Callable[[], Any]] = {
        "bucket": lambda: [bucket(SEED, unit_id) for unit_id in ids],
        "buckets": lambda: buckets(SEED, ids),
        "assign_variant": lambda: [assign_variant(SEED, unit_id, WEIGHTS) for unit_id in ids],
        "assign_variants": lambda: assign_variants(SEED, ids, WEIGHTS),
    }
    if with_sdk:
        from growthbook.core import chooseVariation, gbhash, getBucketRanges

        steps["sdk_bucket"] = lambda: [gbhash(SEED, unit_id, 2) for unit_id in ids]
        steps["sdk_variant"] = lambda: [
            chooseVariation(gbhash(SEED, unit_id, 2), getBucketRanges(2, 1, WEIGHTS)) for unit_id in ids
        ]
    return {key: steps[key] for key in LABELS if key in steps}


def count_mismatches(ids: list[str], steps: dict[str, Callable[[], Any]]) -> dict[str, int]:
    """Count the ids whose workbench bucket or variant differs from the SDK's, and batch from scalar."""
    scalar_buckets = np.array(steps["bucket"]())
    scalar_variants = np.array(steps["assign_variant"]())
    counts = {
        "buckets (3) vs bucket (2)": int(np.sum(steps["buckets"]() != scalar_buckets)),
        "assign_variants (6) vs assign_variant (5)":
            int(np.sum(steps["assign_variants"]() != scalar_variants)),
    }
    if "sdk_bucket" in steps:
        sdk_buckets = np.array(steps["sdk_bucket"]())
        sdk_variants = np.array(steps["sdk_variant"]())
        counts["bucket (2) vs GrowthBook (1)"] = int(np.sum(scalar_buckets != sdk_buckets))
        counts["assign_variant (5) vs GrowthBook (4)"] = int(np.sum(scalar_variants != sdk_variants))
    return counts


def run(count: int, repeats: int) -> dict[str, Any]:
    ids = make_ids(count)
    version = growthbook_version()
    steps = steps_for(ids, with_sdk=version is not None)
    mismatches = count_mismatches(ids, steps)

    seconds = time_interleaved({LABELS[key]: (function, repeats) for key, function in steps.items()})
    timings: dict[str, Any] = {}
    for key, label in LABELS.items():
        if key not in steps:
            timings[label] = {"status": "growthbook not installed"}
            continue
        timings[label] = summarise(seconds[label])
        timings[label]["ids_per_s"] = count / timings[label]["median_s"]

    def speedup(ours: str, theirs: str) -> float | None:
        if "median_s" not in timings[LABELS[theirs]]:
            return None
        return timings[LABELS[theirs]]["median_s"] / timings[LABELS[ours]]["median_s"]

    return {
        "machine": {**machine_info(), "growthbook": version or "not installed"},
        "options": {"ids": count, "repeats": repeats, "seed": SEED, "weights": WEIGHTS,
                    "non_ascii_ids": sum(not unit_id.isascii() for unit_id in ids)},
        "timings": timings,
        "speedups": {
            "bucket (2) vs GrowthBook gbhash (1)": speedup("bucket", "sdk_bucket"),
            "buckets (3) vs GrowthBook gbhash (1)": speedup("buckets", "sdk_bucket"),
            "assign_variant (5) vs GrowthBook variant choice (4)": speedup("assign_variant", "sdk_variant"),
            "assign_variants (6) vs GrowthBook variant choice (4)": speedup("assign_variants", "sdk_variant"),
        },
        "mismatches": mismatches,
    }


def print_table(result: dict[str, Any]) -> None:
    machine, options = result["machine"], result["options"]
    print("Machine: " + ", ".join(f"{key} {value}" for key, value in machine.items()))
    print(f"Data: {options['ids']:,} ids, {options['non_ascii_ids']:,} of them non-ASCII, seed "
          f"{options['seed']!r}, weights {options['weights']}, coverage 1")
    print(f"Repeats: {options['repeats']}, median after one warm-up run, runs of the steps interleaved\n")

    header = f"{'step':<66} {'median s':>9} {'min s':>8} {'max s':>8} {'ids/s':>12}"
    print(header)
    print("-" * len(header))
    for label, timing in result["timings"].items():
        if "median_s" in timing:
            print(f"{label:<66} {timing['median_s']:>9.3f} {timing['min_s']:>8.3f} {timing['max_s']:>8.3f} "
                  f"{timing['ids_per_s']:>12,.0f}")
        else:
            print(f"{label:<66} {timing['status']:>40}")
    print("\nSpeed-up, GrowthBook's median time over workbench's (above 1 means workbench is faster):")
    for label, value in result["speedups"].items():
        print(f"  {label}: " + ("n/a" if value is None else f"{value:.2f}"))
    print("\nIds whose results differ (must be 0):")
    for label, value in result["mismatches"].items():
        print(f"  {label}: {value}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ids", type=positive_int, default=1_000_000,
                        help="number of unit ids to hash (default 1000000)")
    parser.add_argument("--repeats", type=positive_int, default=3,
                        help="timed runs of each step, of which the median is printed (default 3)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    args = parser.parse_args(argv)

    result = run(args.ids, args.repeats)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
