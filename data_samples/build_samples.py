"""Build the demo data set from scikit-learn's bundled breast cancer data.

The rows are the real cases of the UCI Breast Cancer Wisconsin (Diagnostic) data set
(``sklearn.datasets.load_breast_cancer``: 569 rows, 30 numeric features, target
0 = malignant, 1 = benign). The script adds an imaging ``site`` column, a cross-validated
reference cohort, an 8-week production stream with a documented site-B texture shift
from week 5 on, and delayed ground-truth labels. No noise is added to any feature value.

Every random step uses a fixed seed, so two runs write byte-identical files on the
same platform and library versions. The package loads this file by path, so at module
level it must import nothing but numpy, pandas and scikit-learn.

Run as a script, it also copies a few of the test images that pydicom and nibabel ship
into ``images/`` (see ``build_images``), importing those two packages only then.

Usage: python data_samples/build_samples.py [--output-dir DIR] [--no-images]
"""

from __future__ import annotations

import argparse
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

SEED = 20260907

REFERENCE_FRACTION = 0.6
CROSS_VALIDATION_FOLDS = 5

SITES = ("A", "B", "C")
# Site shares of the reference cohort and of the production stream before the shift.
BASELINE_SITE_SHARES = (0.5, 0.3, 0.2)
# From the shift on, site B takes 0.55 of the stream and A and C keep their 5:2 ratio.
SHIFTED_SITE_SHARES = (0.45 * 5 / 7, 0.55, 0.45 * 2 / 7)

STREAM_SIZE = 2400
STREAM_START = np.datetime64("2026-09-07T00:00:00", "s")
STREAM_DAYS = 56
SHIFT_START = np.datetime64("2026-10-05T00:00:00", "s")

# Site B's scanner was recalibrated with a higher grey-level gain. Texture in this data
# set is the standard deviation of grey-scale values, so a gain g multiplies it by g.
SHIFTED_SITE = "B"
SHIFTED_FEATURES = ("mean_texture", "texture_error", "worst_texture")
SHIFT_FACTOR = 1.6

LABELLED_FRACTION = 0.6
LABEL_DELAY_MIN_SECONDS = 1 * 86400
LABEL_DELAY_MAX_SECONDS = 10 * 86400

CSV_FLOAT_FORMAT = "%.10g"
SECONDS_PER_DAY = 86400

# Test files that pydicom ships in its wheel, copied into images/ under the same names.
PYDICOM_IMAGES = ("CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm", "JPEG2000.dcm")
# Three neighbouring slices of a CT series in pydicom's dicomdirtests/77654033/CT2 folder, copied into
# images/ct_series/. The folder's fourth file (17106) lies 202.5 mm away and would make the series
# read as one with missing slices.
PYDICOM_SERIES_FOLDER = ("dicomdirtests", "77654033", "CT2")
PYDICOM_SERIES_FILES = ("17136", "17166", "17196")
# Test files that nibabel ships in nibabel/tests/data.
NIBABEL_IMAGES = ("example4d.nii.gz", "anatomical.nii")


@dataclass(frozen=True)
class SampleFrames:
    """Tables written by `build_samples`, plus the true class of every streamed prediction."""

    reference: pd.DataFrame
    production: pd.DataFrame
    labels: pd.DataFrame
    production_truth: pd.Series


def load_source_data() -> tuple[pd.DataFrame, pd.Series]:
    """Load the bundled data with feature names such as ``mean_radius`` and ``worst_texture``."""
    dataset = load_breast_cancer(as_frame=True)
    features = dataset.data.rename(columns=lambda name: name.replace(" ", "_"))
    target = dataset.target.rename("label").astype("int64")
    return features, target


def make_model() -> Pipeline:
    return Pipeline(
        [
            ("scaler", StandardScaler()),
            ("classifier", LogisticRegression(max_iter=5000, random_state=SEED)),
        ]
    )


def format_utc(timestamps: np.ndarray) -> np.ndarray:
    """Format ``datetime64[s]`` values as ISO 8601 UTC strings such as ``2026-09-07T03:12:45Z``."""
    return np.char.add(np.datetime_as_string(timestamps, unit="s"), "Z")


def build_reference(
    features: pd.DataFrame, target: pd.Series, sites: np.ndarray, model: Pipeline
) -> pd.DataFrame:
    """Build the reference table with cross-validated outputs, so no row is scored by a model fit on it."""
    folds = StratifiedKFold(n_splits=CROSS_VALIDATION_FOLDS, shuffle=True, random_state=SEED)
    probabilities = cross_val_predict(model, features, target, cv=folds, method="predict_proba")

    reference = features.reset_index(drop=True)
    reference["site"] = sites
    reference["label"] = target.to_numpy()
    reference["prediction"] = probabilities.argmax(axis=1)
    reference["proba_0"] = probabilities[:, 0]
    reference["proba_1"] = probabilities[:, 1]
    return reference


def build_stream(
    holdout_features: pd.DataFrame,
    holdout_target: pd.Series,
    model: Pipeline,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.Series, np.ndarray]:
    """Sample the production stream from the hold-out pool and score it after the site-B shift.

    Returns the production table, the true class of each prediction and the prediction
    times as ``datetime64[s]``.
    """
    offsets = np.sort(rng.integers(0, STREAM_DAYS * SECONDS_PER_DAY, size=STREAM_SIZE))
    timestamps = STREAM_START + offsets.astype("timedelta64[s]")
    is_shifted_period = timestamps >= SHIFT_START

    # Each prediction gets its site from the shares in force at its time, then a hold-out
    # case drawn with replacement.
    sites = np.where(
        is_shifted_period,
        rng.choice(SITES, size=STREAM_SIZE, p=SHIFTED_SITE_SHARES),
        rng.choice(SITES, size=STREAM_SIZE, p=BASELINE_SITE_SHARES),
    )
    rows = rng.integers(0, len(holdout_features), size=STREAM_SIZE)
    stream_features = holdout_features.iloc[rows].reset_index(drop=True)
    truth = holdout_target.iloc[rows].reset_index(drop=True)

    # The shift changes the features as shipped, and the model scores those shipped values.
    is_shifted_row = is_shifted_period & (sites == SHIFTED_SITE)
    for column in SHIFTED_FEATURES:
        stream_features.loc[is_shifted_row, column] = stream_features.loc[is_shifted_row, column] * SHIFT_FACTOR
    probabilities = model.predict_proba(stream_features)

    production = pd.DataFrame(
        {
            "prediction_id": [f"pred-{number:06d}" for number in range(1, STREAM_SIZE + 1)],
            "timestamp": format_utc(timestamps),
        }
    )
    production = pd.concat([production, stream_features], axis=1)
    production["site"] = sites
    production["prediction"] = model.classes_[probabilities.argmax(axis=1)]
    production["proba_0"] = probabilities[:, 0]
    production["proba_1"] = probabilities[:, 1]
    return production, truth, timestamps


def build_labels(
    production: pd.DataFrame, truth: pd.Series, timestamps: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    """Pick the labelled predictions and give each label an arrival time 1 to 10 days later.

    Labels that arrive after the stream ends are kept. Rows are in arrival order.
    """
    labelled_count = round(LABELLED_FRACTION * len(production))
    labelled = np.sort(rng.choice(len(production), size=labelled_count, replace=False))
    delays = rng.integers(LABEL_DELAY_MIN_SECONDS, LABEL_DELAY_MAX_SECONDS + 1, size=labelled_count)
    arrivals = timestamps[labelled] + delays.astype("timedelta64[s]")

    labels = pd.DataFrame(
        {
            "prediction_id": production["prediction_id"].to_numpy()[labelled],
            "label": truth.to_numpy()[labelled],
            "timestamp": format_utc(arrivals),
        }
    )
    return labels.sort_values(["timestamp", "prediction_id"], kind="stable").reset_index(drop=True)


def make_sample_frames() -> SampleFrames:
    """Build all sample tables in memory from the bundled data and the fixed seed."""
    rng = np.random.default_rng(SEED)
    site_rng, stream_rng, label_rng = rng.spawn(3)

    features, target = load_source_data()
    reference_features, holdout_features, reference_target, holdout_target = train_test_split(
        features,
        target,
        train_size=REFERENCE_FRACTION,
        stratify=target,
        random_state=SEED,
    )

    reference_sites = site_rng.choice(SITES, size=len(reference_features), p=BASELINE_SITE_SHARES)
    model = make_model()
    reference = build_reference(reference_features, reference_target, reference_sites, model)

    # The production model is fit on the whole reference cohort.
    model.fit(reference_features, reference_target)
    production, truth, timestamps = build_stream(holdout_features, holdout_target, model, stream_rng)
    labels = build_labels(production, truth, timestamps, label_rng)

    return SampleFrames(reference=reference, production=production, labels=labels, production_truth=truth)


def write_sample_frames(frames: SampleFrames, output_dir: Path) -> dict[str, Path]:
    """Write reference.csv, production.csv and labels.csv into output_dir and return their paths."""
    output_dir.mkdir(parents=True, exist_ok=True)
    tables = {"reference": frames.reference, "production": frames.production, "labels": frames.labels}

    paths: dict[str, Path] = {}
    for name, table in tables.items():
        path = output_dir / f"{name}.csv"
        table.to_csv(path, index=False, float_format=CSV_FLOAT_FORMAT, lineterminator="\n")
        paths[name] = path
    return paths


def build_samples(output_dir: Path) -> dict[str, Path]:
    """Build the sample data and write it into output_dir.

    Returns the paths of the written files under the keys ``reference``, ``production``
    and ``labels``.
    """
    return write_sample_frames(make_sample_frames(), Path(output_dir))


def build_images(output_dir: Path) -> dict[str, Path]:
    """Copy the sample images that pydicom and nibabel ship into ``output_dir / "images"``.

    The copies are byte for byte the files in the installed wheels. Their patient names and IDs are
    the placeholders the publishers put in, and they are copied as shipped, without de-identification.

    Returns the written paths keyed by their path relative to ``images/``.

    Raises
    ------
    FileNotFoundError
        If the installed pydicom or nibabel lacks one of the files.
    """
    # Imported here so that loading this module needs only numpy, pandas and scikit-learn.
    from nibabel.testing import data_path as nibabel_data
    from pydicom.data import get_testdata_file

    def pydicom_file(name: str) -> Path:
        # download=False: pydicom's data manager would otherwise fetch a missing file over the network.
        found = get_testdata_file(name, download=False)
        if found is None:
            raise FileNotFoundError(f"pydicom's test file {name} is not installed; reinstall pydicom 3.")
        return Path(found)

    images = Path(output_dir) / "images"
    series_source = pydicom_file("CT_small.dcm").parent.joinpath(*PYDICOM_SERIES_FOLDER)
    sources = {name: pydicom_file(name) for name in PYDICOM_IMAGES}
    sources.update({f"ct_series/{name}": series_source / name for name in PYDICOM_SERIES_FILES})
    sources.update({name: Path(nibabel_data) / name for name in NIBABEL_IMAGES})

    paths: dict[str, Path] = {}
    for relative, source in sources.items():
        target = images / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        paths[relative] = target
    return paths


def weekly_accuracy(frames: SampleFrames) -> pd.DataFrame:
    """Compute the model's accuracy per stream week over all predictions, labelled or not."""
    production = frames.production
    timestamps = pd.to_datetime(production["timestamp"], utc=True)
    stream_start = pd.Timestamp(str(STREAM_START), tz="UTC")
    week = (timestamps - stream_start).dt.days // 7 + 1
    is_correct = production["prediction"].to_numpy() == frames.production_truth.to_numpy()
    is_site_b = production["site"] == SHIFTED_SITE

    table = pd.DataFrame({"week": week, "is_correct": is_correct, "is_site_b": is_site_b})
    summary = table.groupby("week").agg(
        predictions=("is_correct", "size"),
        site_b_share=("is_site_b", "mean"),
        accuracy=("is_correct", "mean"),
    )
    summary["accuracy_site_b"] = table[table["is_site_b"]].groupby("week")["is_correct"].mean()
    summary.insert(0, "week_start", [str((stream_start + pd.Timedelta(weeks=w - 1)).date()) for w in summary.index])
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="folder to write reference.csv, production.csv, labels.csv and images/ into "
        "(default: the folder of this script)",
    )
    parser.add_argument(
        "--no-images",
        action="store_true",
        help="write only the CSV files, without copying the sample images (which need pydicom and nibabel)",
    )
    arguments = parser.parse_args()

    frames = make_sample_frames()
    paths = write_sample_frames(frames, arguments.output_dir)
    tables = {"reference": frames.reference, "production": frames.production, "labels": frames.labels}
    for name, path in paths.items():
        rows, columns = tables[name].shape
        print(f"{path.name}: {rows} rows, {columns} columns -> {path}")
    if not arguments.no_images:
        images = build_images(arguments.output_dir)
        size = sum(path.stat().st_size for path in images.values())
        print(f"images/: {len(images)} files, {size / 1024:.0f} KiB -> {arguments.output_dir / 'images'}")

    summary = weekly_accuracy(frames)
    first_shifted_week = (SHIFT_START - STREAM_START) // np.timedelta64(7, "D") + 1
    before = summary.loc[summary.index < first_shifted_week]
    after = summary.loc[summary.index >= first_shifted_week]
    print()
    print("Accuracy per week (all predictions, scored against the true class):")
    print(summary.to_string(float_format=lambda value: f"{value:.3f}"))
    print(
        f"Weeks {before.index.min()}-{before.index.max()}: "
        f"{np.average(before['accuracy'], weights=before['predictions']):.3f}, "
        f"weeks {after.index.min()}-{after.index.max()}: "
        f"{np.average(after['accuracy'], weights=after['predictions']):.3f}"
    )


if __name__ == "__main__":
    main()
