"""Time the workbench drift report against a plain scipy loop and Evidently's data drift preset.

Evidently is optional. Get it with ``pip install evidently``, preferably in a separate virtual
environment, because Evidently 0.7.23 fails to import with pandas 3.1.1 and needs ``pandas<3``
(benchmarks/README.md shows the commands). Without it the Evidently row reads "not installed".

Every time printed is the median of several runs, after one untimed warm-up run, with the runs of
the steps interleaved. The numbers are printed, never checked against a limit, because they depend
on the machine.

Run: ``.venv/bin/python benchmarks/bench_drift.py [--rows N] [--repeats R] [--json]``.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy
from scipy import stats

from workbench.monitoring.baseline import DEFAULT_REFERENCE_SAMPLE_SIZE, compute_baseline
from workbench.monitoring.drift import DriftReport, detect_drift

SEED = 20_260_914
CATEGORY_COUNTS = (3, 5, 7, 9, 12)


# Data ------------------------------------------------------------------------------------------------


def make_frames(rows: int, seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str], list[str]]:
    """Build seeded reference and current frames of 20 numeric and 5 categorical features.

    The numeric features are 8 normal, 6 lognormal and 6 rounded (tied) columns. Five numeric and two
    categorical features are shifted in the current frame. Four columns have a few percent of missing
    values, and one of them has a higher missing share in the current frame.

    Returns the reference, the current frame, the feature types and the names of the shifted features.
    """
    rng = np.random.default_rng(seed)
    reference: dict[str, Any] = {}
    current: dict[str, Any] = {}

    # Normal features. normal_0 has a mean shift of 0.05 standard deviations, normal_1 a scale shift of 10 %.
    for index in range(8):
        loc, scale = 10.0 * index, 1.0 + index
        reference[f"normal_{index}"] = rng.normal(loc, scale, rows)
        current_loc = loc + 0.05 * scale if index == 0 else loc
        current_scale = scale * 1.1 if index == 1 else scale
        current[f"normal_{index}"] = rng.normal(current_loc, current_scale, rows)

    # Lognormal features. lognormal_0 has a shift of 0.05 in the mean of the log.
    for index in range(6):
        sigma = 0.25 + 0.15 * index
        reference[f"lognormal_{index}"] = rng.lognormal(0.0, sigma, rows)
        current[f"lognormal_{index}"] = rng.lognormal(0.05 if index == 0 else 0.0, sigma, rows)

    # Rounded features with many ties: ages in whole years, counts, scores and one-decimal measurements.
    reference["tied_age"] = np.round(rng.normal(58.0, 12.0, rows))
    current["tied_age"] = np.round(rng.normal(59.0, 12.0, rows))
    reference["tied_count"] = rng.poisson(3.0, rows).astype("float64")
    current["tied_count"] = rng.poisson(3.2, rows).astype("float64")
    reference["tied_score"] = rng.binomial(10, 0.4, rows).astype("float64")
    current["tied_score"] = rng.binomial(10, 0.4, rows).astype("float64")
    for index in range(3):
        reference[f"tied_decimal_{index}"] = np.round(rng.gamma(2.0 + index, 1.5, rows), 1)
        current[f"tied_decimal_{index}"] = np.round(rng.gamma(2.0 + index, 1.5, rows), 1)

    # Categorical features. category_3 and category_12 have changed shares in the current frame.
    for count in CATEGORY_COUNTS:
        labels = np.array([f"level_{level}" for level in range(count)], dtype=object)
        shares = np.linspace(1.0, 2.0, count)
        shares /= shares.sum()
        current_shares = shares.copy()
        if count in (3, 12):
            current_shares[0] += 0.03
            current_shares[-1] -= 0.03
        reference[f"category_{count}"] = labels[rng.choice(count, size=rows, p=shares)]
        current[f"category_{count}"] = labels[rng.choice(count, size=rows, p=current_shares)]

    # A few percent missing in four columns. The missing share of tied_count rises from 3 % to 5 %.
    missing = {"normal_3": (0.03, 0.03), "lognormal_2": (0.02, 0.02), "tied_count": (0.03, 0.05),
               "category_7": (0.04, 0.04)}
    for column, (reference_share, current_share) in missing.items():
        _set_missing(reference[column], rng.random(rows) < reference_share)
        _set_missing(current[column], rng.random(rows) < current_share)

    feature_types = {name: ("categorical" if name.startswith("category_") else "numeric") for name in reference}
    shifted = ["normal_0", "normal_1", "lognormal_0", "tied_age", "tied_count", "category_3", "category_12"]
    return pd.DataFrame(reference), pd.DataFrame(current), feature_types, shifted


def _set_missing(values: np.ndarray, mask: np.ndarray) -> None:
    values[mask] = None if values.dtype == object else np.nan


# Timing ----------------------------------------------------------------------------------------------


def time_interleaved(steps: dict[str, tuple[Callable[[], Any], int]]) -> dict[str, list[float]]:
    """Time each step's function its given number of times and return the wall-clock seconds per run.

    Every step runs once untimed first. The timed runs then go round-robin, one run of each step per
    round, so that load from other processes during the benchmark slows all steps alike. A step with
    fewer repeats drops out of the later rounds.
    """
    for function, _ in steps.values():
        function()
    seconds: dict[str, list[float]] = {label: [] for label in steps}
    for round_index in range(max(repeats for _, repeats in steps.values())):
        for label, (function, repeats) in steps.items():
            if round_index >= repeats:
                continue
            gc.collect()
            start = time.perf_counter()
            function()
            seconds[label].append(time.perf_counter() - start)
    return seconds


def summarise(seconds: list[float]) -> dict[str, Any]:
    return {"median_s": statistics.median(seconds), "min_s": min(seconds), "max_s": max(seconds),
            "runs": len(seconds)}


# The scipy floor -------------------------------------------------------------------------------------


def scipy_loop(reference: pd.DataFrame, current: pd.DataFrame, feature_types: dict[str, str]) -> dict[str, Any]:
    """Test every column with scipy alone: ``ks_2samp`` for numeric, ``chi2_contingency`` for categorical.

    NaNs are dropped. Each categorical table has one column per category seen in either frame, so
    it has no all-zero column. Yates' correction is off, as in workbench (it only changes 2-by-2 tables).
    """
    results = {}
    for column, kind in feature_types.items():
        if kind == "numeric":
            results[column] = stats.ks_2samp(reference[column].dropna().to_numpy(),
                                             current[column].dropna().to_numpy())
        else:
            reference_counts = reference[column].value_counts()
            current_counts = current[column].value_counts()
            categories = sorted(set(reference_counts.index) | set(current_counts.index))
            table = np.array([reference_counts.reindex(categories, fill_value=0).to_numpy(),
                              current_counts.reindex(categories, fill_value=0).to_numpy()])
            results[column] = stats.chi2_contingency(table, correction=False)
    return results


def compare_with_scipy(report: DriftReport, scipy_results: dict[str, Any],
                       feature_types: dict[str, str]) -> dict[str, float]:
    """Return the maximum absolute differences between workbench's and scipy's statistics and p-values."""
    differences = {"ks_statistic": 0.0, "ks_pvalue": 0.0, "chi2_statistic": 0.0, "chi2_pvalue": 0.0}
    for column, kind in feature_types.items():
        prefix = "ks" if kind == "numeric" else "chi2"
        ours, theirs = report[column], scipy_results[column]
        differences[f"{prefix}_statistic"] = max(differences[f"{prefix}_statistic"],
                                                 abs(ours.statistic - float(theirs.statistic)))
        differences[f"{prefix}_pvalue"] = max(differences[f"{prefix}_pvalue"],
                                              abs(ours.pvalue - float(theirs.pvalue)))
    return differences


# Evidently -------------------------------------------------------------------------------------------


def evidently_status() -> tuple[str | None, str | None]:
    """Return Evidently's version and, when it cannot be used, the reason."""
    if importlib.util.find_spec("evidently") is None:
        return None, "not installed"
    version = importlib.metadata.version("evidently")
    # Evidently 0.7.23's telemetry logger (evidently/telemetry.py) stays off while DO_NOT_TRACK is set.
    os.environ["DO_NOT_TRACK"] = "1"
    try:
        import evidently  # noqa: F401
    except ImportError as exc:
        return version, f"installed but failed to import: {exc}"
    return version, None


def evidently_runner(reference: pd.DataFrame, current: pd.DataFrame,
                     feature_types: dict[str, str]) -> Callable[[], Any]:
    """Return a function that runs Evidently's DataDriftPreset with KS and chi-square.

    The API is Evidently 0.7's: ``Report``, ``Dataset`` and ``DataDefinition`` from ``evidently``, and
    ``DataDriftPreset(num_method=..., cat_method=...)`` from ``evidently.presets``. Building the two
    Datasets is timed too, since a drift report needs them every time.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=[name for name, kind in feature_types.items() if kind == "numeric"],
        categorical_columns=[name for name, kind in feature_types.items() if kind == "categorical"],
    )

    def run() -> Any:
        report = Report([DataDriftPreset(num_method="ks", cat_method="chisquare")])
        return report.run(Dataset.from_pandas(current, data_definition=definition),
                          Dataset.from_pandas(reference, data_definition=definition))

    return run


def evidently_ks_pvalues(snapshot: Any) -> dict[str, float]:
    """Return the KS p-value per column from an Evidently 0.7 snapshot (its ``ValueDrift`` metrics)."""
    pvalues = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith("ValueDrift") and config.get("method") == "ks":
            pvalues[config["column"]] = float(metric["value"])
    return pvalues


# Report ----------------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    """Return the cores, platform, package versions and the 1-minute load average when called."""
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pandas": pd.__version__,
        "workbench_commit": git_commit(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "unset"),
        # Other processes slow the runs, and a load average near the core count shows that they ran.
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def git_commit() -> str:
    """Return the short commit of the repository, with "+changes" when workbench/ has uncommitted edits."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                                text=True, check=True).stdout.strip()
        changes = subprocess.run(["git", "status", "--porcelain", "workbench"], cwd=root, capture_output=True,
                                 text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}+changes" if changes else commit


def print_table(result: dict[str, Any]) -> None:
    machine, options = result["machine"], result["options"]
    print("Machine: " + ", ".join(f"{key} {value}" for key, value in machine.items()))
    print(f"Data: {options['rows']:,} reference and {options['rows']:,} current rows, 20 numeric and "
          f"5 categorical features, shifted: {', '.join(result['shifted_features'])}")
    print(f"Repeats: {options['repeats']} (Evidently {options['evidently_repeats']}), "
          "median after one warm-up run, runs of the steps interleaved\n")

    header = f"{'step':<66} {'median s':>9} {'min s':>8} {'max s':>8}"
    print(header)
    print("-" * len(header))
    for label, timing in result["timings"].items():
        if "median_s" in timing:
            print(f"{label:<66} {timing['median_s']:>9.3f} {timing['min_s']:>8.3f} {timing['max_s']:>8.3f}")
        else:
            print(f"{label:<66} {timing['status']:>27}")
    print()
    for label, ratio in result["ratios"].items():
        print(f"{label}: " + ("n/a" if ratio is None else f"{ratio:.2f}"))
    print()
    print("Max abs difference, workbench (b) vs scipy (d) on the same arrays:")
    for name, value in result["scipy_differences"].items():
        print(f"  {name:<16} {value:.3g}")
    if result.get("evidently_ks_pvalue_difference") is not None:
        print(f"  Evidently KS p-value vs scipy: {result['evidently_ks_pvalue_difference']:.3g}")
    print(f"Drifted features in (b): {', '.join(result['drifted_features']) or 'none'}")


def run(rows: int, repeats: int, evidently_repeats: int) -> dict[str, Any]:
    reference, current, feature_types, shifted = make_frames(rows)
    evidently_version, evidently_problem = evidently_status()

    labels = {
        "a": f"(a) workbench compute_baseline, reference_sample_size={rows:,}",
        "b": "(b) workbench detect_drift on (a): same arrays as scipy",
        "c": f"(c) workbench detect_drift, default reference_sample_size={DEFAULT_REFERENCE_SAMPLE_SIZE:,}",
        "d": "(d) scipy floor: ks_2samp and chi2_contingency per column",
        "e": "(e) Evidently DataDriftPreset(num_method=ks, cat_method=chisquare)",
    }

    def full_baseline() -> Any:
        return compute_baseline(reference, feature_types=feature_types, reference_sample_size=rows)

    baseline = full_baseline()
    default_baseline = compute_baseline(reference, feature_types=feature_types)
    report = detect_drift(baseline, current)
    scipy_results = scipy_loop(reference, current, feature_types)

    steps = {
        labels["a"]: (full_baseline, repeats),
        labels["b"]: (lambda: detect_drift(baseline, current), repeats),
        labels["c"]: (lambda: detect_drift(default_baseline, current), repeats),
        labels["d"]: (lambda: scipy_loop(reference, current, feature_types), repeats),
    }
    evidently_difference = None
    if evidently_problem is None:
        run_evidently = evidently_runner(reference, current, feature_types)
        evidently_pvalues = evidently_ks_pvalues(run_evidently())
        evidently_difference = max(abs(evidently_pvalues[column] - float(scipy_results[column].pvalue))
                                   for column in evidently_pvalues)
        steps[labels["e"]] = (run_evidently, evidently_repeats)

    timings: dict[str, Any] = {label: summarise(seconds) for label, seconds in time_interleaved(steps).items()}
    if evidently_problem is not None:
        timings[labels["e"]] = {"status": evidently_problem}

    def ratio(numerator: str, denominator: str) -> float | None:
        top, bottom = timings[labels[numerator]], timings[labels[denominator]]
        if "median_s" not in top or "median_s" not in bottom:
            return None
        return top["median_s"] / bottom["median_s"]

    return {
        "machine": {**machine_info(), "evidently": evidently_version or "not installed"},
        "options": {"rows": rows, "repeats": repeats, "evidently_repeats": evidently_repeats, "seed": SEED},
        "shifted_features": shifted,
        "timings": timings,
        "ratios": {
            "workbench drift (b) / scipy floor (d), below 1 is faster than scipy": ratio("b", "d"),
            "workbench drift (c) / scipy floor (d)": ratio("c", "d"),
            "Evidently (e) / workbench drift (b), times slower than workbench": ratio("e", "b"),
        },
        "scipy_differences": compare_with_scipy(report, scipy_results, feature_types),
        "evidently_ks_pvalue_difference": evidently_difference,
        "drifted_features": report.drifted_features,
    }


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is invalid; use a whole number of at least 1.")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=positive_int, default=100_000,
                        help="rows in the reference and in the current frame (default 100000)")
    parser.add_argument("--repeats", type=positive_int, default=5,
                        help="timed runs of each workbench and scipy step; the median is printed (default 5)")
    parser.add_argument("--evidently-repeats", type=positive_int, default=3,
                        help="timed runs of the Evidently report (default 3)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    args = parser.parse_args(argv)

    result = run(args.rows, args.repeats, args.evidently_repeats)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
