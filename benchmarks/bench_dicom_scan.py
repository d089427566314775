"""Time scanning a folder of DICOM files with workbench beside a plain pydicom loop.

The folder contains copies of the two images pydicom ships as ``CT_small.dcm`` (128 × 128 CT) and
``MR_small.dcm`` (64 × 64 MR), alternating, each with its own SOPInstanceUID, written into a
temporary folder that is deleted at the end. The steps:

- header scan: :func:`workbench.modality.folders.process_folder` with ``headers_only=True`` (one feature
  row per file, de-identified) against a loop of ``pydicom.dcmread(path, stop_before_pixels=True)``
  that reads the same attributes and does nothing else;
- pixels in HU: :func:`workbench.modality.dicom.read_dicom` per file, and ``process_folder`` (pixels,
  statistics and feature rows), against a loop of ``pydicom.dcmread`` and
  ``pydicom.pixels.apply_modality_lut`` (RescaleSlope and RescaleIntercept);
- both ``process_folder`` modes again with two worker processes.

The HU arrays of ``read_dicom`` are compared with the plain loop's, and the header-only feature rows
with the rows of the full read, before anything is timed. Each step's CPU seconds, worker processes
included, are printed beside its wall time.

Every time printed is the median of several runs, after one untimed warm-up run, with the runs of the
steps interleaved. The numbers are printed, never checked against a limit, because they depend on the
machine and on what else runs on it. Two worker processes can only be faster than one when two cores
are free, so the script also prints the load average and how much faster two processes run a
CPU-bound Python loop than one.

Run: ``.venv/bin/python benchmarks/bench_dicom_scan.py [--files N] [--repeats R] [--profile] [--json]``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import dicognito
import numpy as np
import pydicom
from bench_drift import machine_info, positive_int, summarise, time_interleaved
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_modality_lut
from pydicom.uid import generate_uid

from workbench.modality.deid import Deidentifier
from workbench.modality.dicom import read_dicom
from workbench.modality.folders import INTENSITY_COLUMNS, process_folder

SOURCE_FILES = ("CT_small.dcm", "MR_small.dcm")
SALT = "benchmark salt"

#: Attributes the plain header loop reads: those the feature row is computed from.
HEADER_KEYWORDS = (
    "Modality", "Manufacturer", "ManufacturerModelName", "StationName", "BodyPartExamined", "ConvolutionKernel",
    "PhotometricInterpretation", "ContrastBolusAgent", "KVP", "SliceThickness", "PixelSpacing", "Rows", "Columns",
    "NumberOfFrames", "SamplesPerPixel",
)


# Data ------------------------------------------------------------------------------------------------


def write_folder(folder: Path, count: int) -> list[Path]:
    """Write ``count`` copies of the source files into ``folder``, each with a new SOPInstanceUID.

    The UIDs derive from the file index, so two runs write the same files.
    """
    # download=False: pydicom's data manager would otherwise try the network for a missing file.
    sources = [pydicom.dcmread(get_testdata_file(name, download=False)) for name in SOURCE_FILES]
    paths = []
    for index in range(count):
        ds = sources[index % len(sources)]
        uid = generate_uid(entropy_srcs=["bench_dicom_scan", str(index)])
        ds.SOPInstanceUID = uid
        ds.file_meta.MediaStorageSOPInstanceUID = uid
        path = folder / f"image_{index:05d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


# Plain pydicom loops ---------------------------------------------------------------------------------


def plain_headers(paths: list[Path]) -> list[list[Any]]:
    """Read each header without pixel data and the attributes a feature row needs."""
    rows = []
    for path in paths:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        rows.append([ds.get(keyword) for keyword in HEADER_KEYWORDS])
    return rows


def plain_hounsfield(paths: list[Path]) -> list[np.ndarray]:
    """Read each file and apply its Modality LUT (RescaleSlope and RescaleIntercept) to the pixels."""
    return [apply_modality_lut(ds.pixel_array, ds) for ds in (pydicom.dcmread(path) for path in paths)]


# Checks ----------------------------------------------------------------------------------------------


def hounsfield_difference(paths: list[Path], deidentifier: Deidentifier) -> float:
    """Return the maximum absolute difference between read_dicom's pixels and the plain loop's."""
    plain = plain_hounsfield(paths)
    ours = [read_dicom(path, deidentifier=deidentifier).pixels for path in paths]
    return max(float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))
               for a, b in zip(ours, plain, strict=True))


def header_rows_match(folder: Path) -> bool:
    """Return whether the header-only rows equal the full rows in every column but the intensity ones."""
    headers = process_folder(folder, workers=1, progress=False, headers_only=True, salt=SALT).features
    full = process_folder(folder, workers=1, progress=False, salt=SALT).features
    columns = [column for column in full.columns if column not in INTENSITY_COLUMNS]
    return headers[columns].equals(full[columns])


def count_to(limit: int) -> int:
    """Sum the integers below ``limit`` in a Python loop, a CPU-bound task that shares no state."""
    total = 0
    for number in range(limit):
        total += number
    return total


def two_process_speedup(limit: int = 2_000_000, tasks: int = 4) -> float:
    """Return how many times faster two processes run ``tasks`` calls of :func:`count_to` than one process.

    About 2 on two free cores and about 1 when only one core's worth of CPU is available, whatever
    ``os.cpu_count()`` reports. It shows whether the two-worker steps can be faster on this machine.
    """
    start = time.perf_counter()
    for _ in range(tasks):
        count_to(limit)
    serial = time.perf_counter() - start
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=2) as pool:
        list(pool.map(count_to, [limit] * tasks))
    return serial / (time.perf_counter() - start)


def profile_header_scan(folder: Path, top: int = 25) -> str:
    """Return cProfile's cumulative-time listing of one header scan in this process."""
    profiler = cProfile.Profile()
    profiler.runcall(process_folder, folder, workers=1, progress=False, headers_only=True, salt=SALT)
    output = io.StringIO()
    pstats.Stats(profiler, stream=output).sort_stats("cumulative").print_stats(top)
    return output.getvalue()


# Timing ----------------------------------------------------------------------------------------------


def cpu_seconds() -> float:
    """Return the CPU seconds of this process and of its finished worker processes, user plus system."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def counting_cpu(function: Callable[[], Any], record: list[float]) -> Callable[[], Any]:
    """Wrap ``function`` so that each call appends its CPU seconds, workers included, to ``record``.

    A process pool's workers are counted once the pool has shut down, which ``process_folder`` waits
    for before it returns.
    """
    def run() -> Any:
        start = cpu_seconds()
        value = function()
        record.append(cpu_seconds() - start)
        return value

    return run


# Report ----------------------------------------------------------------------------------------------


def run(folder: Path, count: int, repeats: int) -> dict[str, Any]:
    paths = write_folder(folder, count)
    deidentifier = Deidentifier(salt=SALT)

    labels = {
        "a": "(a) workbench process_folder, headers_only, 1 worker",
        "a0": "(a0) plain dcmread(stop_before_pixels=True) + attributes",
        "b": "(b) workbench read_dicom per file (HU, statistics, metadata)",
        "b1": "(b1) workbench process_folder, pixels, 1 worker",
        "b0": "(b0) plain dcmread + apply_modality_lut",
        "c": "(c) workbench process_folder, headers_only, 2 workers",
        "c1": "(c1) workbench process_folder, pixels, 2 workers",
    }

    def folder_scan(workers: int, headers_only: bool) -> Any:
        return lambda: process_folder(folder, workers=workers, progress=False, headers_only=headers_only, salt=SALT)

    steps = {
        labels["a"]: (folder_scan(1, True), repeats),
        labels["a0"]: (lambda: plain_headers(paths), repeats),
        labels["c"]: (folder_scan(2, True), repeats),
        labels["b"]: (lambda: [read_dicom(path, deidentifier=deidentifier) for path in paths], repeats),
        labels["b1"]: (folder_scan(1, False), repeats),
        labels["b0"]: (lambda: plain_hounsfield(paths), repeats),
        labels["c1"]: (folder_scan(2, False), repeats),
    }
    checks = {"max_abs_hu_difference": hounsfield_difference(paths, deidentifier),
              "header_rows_equal_full_rows": header_rows_match(folder),
              "two_process_speedup_of_a_python_loop": two_process_speedup()}

    cpu: dict[str, list[float]] = {label: [] for label in steps}
    counted = {label: (counting_cpu(function, cpu[label]), runs) for label, (function, runs) in steps.items()}
    timings = {}
    for label, seconds in time_interleaved(counted).items():
        timing = summarise(seconds)
        timing["files_per_s"] = count / timing["median_s"]
        # The first entry is the untimed warm-up run.
        timing["median_cpu_s"] = statistics.median(cpu[label][1:])
        timings[label] = timing

    def ratio(numerator: str, denominator: str) -> float:
        return timings[labels[numerator]]["median_s"] / timings[labels[denominator]]["median_s"]

    return {
        "machine": {**machine_info(), "pydicom": pydicom.__version__, "dicognito": dicognito.__version__},
        "options": {"files": count, "repeats": repeats, "source_files": list(SOURCE_FILES)},
        "timings": timings,
        "ratios": {
            "header scan time, workbench (a) / plain (a0); goal at most 1.2": ratio("a", "a0"),
            "header scan speed, workbench 2 workers (c) / plain (a0); goal close to 2": ratio("a0", "c"),
            "HU time, workbench read_dicom (b) / plain (b0)": ratio("b", "b0"),
            "HU time, workbench process_folder (b1) / plain (b0)": ratio("b1", "b0"),
            "HU speed, workbench 2 workers (c1) / plain (b0)": ratio("b0", "c1"),
        },
        "checks": checks,
    }


def print_table(result: dict[str, Any]) -> None:
    machine, options = result["machine"], result["options"]
    print("Machine: " + ", ".join(f"{key} {value}" for key, value in machine.items()))
    print(f"Data: {options['files']} DICOM files, copies of {' and '.join(options['source_files'])} with distinct "
          "SOPInstanceUIDs")
    print(f"Repeats: {options['repeats']}, median after one warm-up run, runs of the steps interleaved\n")

    header = f"{'step':<64} {'median s':>9} {'min s':>8} {'max s':>8} {'files/s':>9} {'CPU s':>7}"
    print(header)
    print("-" * len(header))
    for label, timing in result["timings"].items():
        print(f"{label:<64} {timing['median_s']:>9.3f} {timing['min_s']:>8.3f} {timing['max_s']:>8.3f} "
              f"{timing['files_per_s']:>9.0f} {timing['median_cpu_s']:>7.3f}")
    print("CPU s: median CPU seconds of a run, worker processes included.")
    print()
    for label, value in result["ratios"].items():
        print(f"{label}: {value:.2f}")
    print()
    checks = result["checks"]
    print(f"Max abs difference of the HU arrays, read_dicom vs plain loop: {checks['max_abs_hu_difference']:.3g}")
    print(f"Header-only rows equal the full rows outside the intensity columns: "
          f"{'yes' if checks['header_rows_equal_full_rows'] else 'NO'}")
    print(f"Two processes ran a CPU-bound Python loop {checks['two_process_speedup_of_a_python_loop']:.2f} times as "
          "fast as one on this machine, the most the two-worker steps can gain.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=positive_int, default=300, help="DICOM files in the folder (default 300)")
    parser.add_argument("--repeats", type=positive_int, default=5,
                        help="timed runs of each step; the median is printed (default 5)")
    parser.add_argument("--profile", action="store_true",
                        help="also print cProfile's cumulative listing of one workbench header scan")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="workbench-bench-dicom-") as folder:
        result = run(Path(folder), args.files, args.repeats)
        profile = profile_header_scan(Path(folder)) if args.profile else None
    if args.json:
        json.dump({**result, "profile": profile}, sys.stdout, indent=2)
        print()
    else:
        print_table(result)
        if profile is not None:
            print("\ncProfile of one header scan, workbench (a):")
            print(profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
