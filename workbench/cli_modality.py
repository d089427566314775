"""The ``workbench modality`` commands: ``image`` reads one image or series, ``folder`` a folder of images,
``report`` extracts the findings of a radiology report, ``study`` reads an image with its report and checks
that they agree.

Error messages name input files by their base name, because folder and file names may contain a patient's
name.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from workbench.config import Settings

#: Letters of the patient directions that the positive and negative x, y and z axes point to.
_AXIS_LETTERS = {"LPS": ("LPS", "RAI"), "RAS": ("RAS", "LPI")}

_TABLE_SUFFIXES = (".csv", ".parquet", ".pq")

#: Exit status of ``workbench modality study --fail-on-mismatch`` when a check finds a mismatch; 1 is an
#: error and 2 a usage error.
MISMATCH_STATUS = 3


def add_modality(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``workbench modality`` and its commands to ``commands``."""
    modality = commands.add_parser("modality", help="read medical images (DICOM, NIfTI, PNG, JPEG, TIFF) and "
                                     "radiology reports")
    modality.set_defaults(switch="multi_modality_enabled")
    sub = modality.add_subparsers(title="modality commands", metavar="COMMAND", required=True)

    image = sub.add_parser("image", parents=[common], help="summarise one image file, or a folder holding one "
                           "DICOM series, with de-identified metadata")
    image.add_argument("path", metavar="FILE_OR_DIR", type=Path, help="image file, or folder of one DICOM series")
    image.add_argument("--modality", help="DICOM Modality code (CT, MR, ...) for formats that carry none; "
                       "replaces the header's value when they differ")
    image.add_argument("--allow-gaps", action="store_true",
                       help="fill the missing slices of a DICOM series with NaN instead of failing")
    image.add_argument("--thumbnail", metavar="OUT.png", type=Path,
                       help="write a PNG thumbnail of the middle frame or slice to this file")
    image.set_defaults(handler=_image)

    folder = sub.add_parser("folder", parents=[common], help="one feature row per image file in a folder, "
                            "searched recursively; files that cannot be read are listed and skipped")
    folder.add_argument("path", metavar="DIR", type=Path, help="folder of images")
    folder.add_argument("--workers", type=int, default=2, help="worker processes, 1 reads in this process "
                        "(default 2)")
    folder.add_argument("--output", metavar="FILE", type=Path,
                        help="write the feature table to this .csv or .parquet file instead of printing it")
    folder.add_argument("--pattern", help="glob that each file's path relative to DIR must match from the right, "
                        "such as '*.dcm' (default: every file whose name does not start with '.')")
    folder.add_argument("--headers-only", action="store_true",
                        help="read DICOM headers without pixel data; the intensity columns stay empty")
    folder.set_defaults(handler=_folder)

    report = sub.add_parser("report", parents=[common], help="extract sections, findings with negation and "
                            "uncertainty, anatomy and sizes in millimetres from a radiology report")
    report.add_argument("path", metavar="FILE",
                        help="UTF-8 text file of one report, or - to read standard input")
    report.add_argument("--replace-invalid", action="store_true",
                        help="decode bytes that are not valid UTF-8 as U+FFFD instead of failing")
    report.add_argument("--vocabulary", metavar="FILE.json", type=Path,
                        help="JSON vocabulary merged into the default findings, anatomy and cue phrases "
                        "(default: the file named by WORKBENCH_REPORT_VOCABULARY, if set)")
    report.set_defaults(handler=_report)

    reports = sub.add_parser("reports", parents=[common], help="one row per report file in a folder: each "
                             "finding present, uncertain, negated or not mentioned; files that cannot be read "
                             "are listed and skipped")
    reports.add_argument("path", metavar="DIR", type=Path, help="folder of UTF-8 report files, searched recursively")
    reports.add_argument("--pattern", default="*.txt", help="glob that each file's path relative to DIR must "
                         "match from the right (default: *.txt)")
    reports.add_argument("--findings", help="comma-separated finding names to report (default: every finding of "
                         "the vocabulary)")
    reports.add_argument("--output", metavar="FILE", type=Path,
                         help="write the table to this .csv or .parquet file instead of printing a summary")
    reports.add_argument("--replace-invalid", action="store_true",
                         help="decode bytes that are not valid UTF-8 as U+FFFD instead of skipping the file")
    reports.add_argument("--vocabulary", metavar="FILE.json", type=Path,
                         help="JSON vocabulary merged into the default one, as for 'report'")
    reports.set_defaults(handler=_reports)

    study = sub.add_parser("study", parents=[common], help="read an image and its report together: findings, "
                           "and the header's modality, body part and laterality checked against the report")
    study.add_argument("image", metavar="IMAGE", type=Path, help="image file, or folder of one DICOM series")
    study.add_argument("report", metavar="REPORT", help="UTF-8 text file of the report, or - for standard input")
    study.add_argument("--modality", help="DICOM Modality code for image formats that carry none")
    study.add_argument("--allow-gaps", action="store_true",
                       help="fill the missing slices of a DICOM series with NaN instead of failing")
    study.add_argument("--replace-invalid", action="store_true",
                       help="decode report bytes that are not valid UTF-8 as U+FFFD instead of failing")
    study.add_argument("--vocabulary", metavar="FILE.json", type=Path,
                       help="JSON vocabulary merged into the default one, as for 'report'")
    study.add_argument("--fail-on-mismatch", action="store_true",
                       help="exit with status 3 when a check finds a mismatch (1 is an error, 2 a usage "
                       "error; default: 0)")
    study.set_defaults(handler=_study)


def _image(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.modality.process import process_image

    record = process_image(args.path, modality=args.modality, allow_gaps=args.allow_gaps)
    if args.thumbnail is not None:
        _write_bytes(args.thumbnail, record.thumbnail_png(), "--thumbnail")
    if args.json:
        data = record.to_dict()
        if args.thumbnail is not None:
            data["thumbnail"] = str(args.thumbnail)
        _print_json(data)
        return 0
    print(image_summary(record))
    if args.thumbnail is not None:
        print(f"thumbnail written to {args.thumbnail}")
    return 0


def _folder(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.errors import ValidationError
    from workbench.modality.folders import process_folder

    if args.output is not None and args.output.suffix.lower() not in _TABLE_SUFFIXES:
        raise ValidationError(f"--output {args.output.name} has suffix {args.output.suffix!r}; use a .csv or "
                              ".parquet file.", field="--output", value=args.output.name)
    result = process_folder(args.path, workers=args.workers, progress=not args.json, pattern=args.pattern,
                            headers_only=args.headers_only)
    if result.file_count == 0:
        raise ValidationError(f"{args.path.name} contains no files"
                              f"{' matching ' + repr(args.pattern) if args.pattern else ''}.",
                              field="path", value=args.path.name)
    if args.output is not None:
        _write_table(result.features, args.output)

    if args.json:
        data = result.to_dict()
        if args.output is not None:
            # The rows are in the file, so the JSON carries the counts and errors only.
            data["features"] = str(args.output)
        _print_json(data)
    else:
        print(_folder_text(result, args.output))
    if len(result.features) == 0:
        print(f"error: none of the {result.file_count} file(s) could be read", file=sys.stderr)
        return 1
    return 0


def _report(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.modality.report import process_report

    data = _read_report(args.path)
    record = process_report(data, errors="replace" if args.replace_invalid else "strict",
                            vocabulary=args.vocabulary)
    if args.json:
        _print_json(record.to_dict())
    else:
        print(report_summary(record))
    return 0


def _read_report(name: str) -> bytes:
    from workbench.modality.report import read_report_file

    if name == "-":
        return sys.stdin.buffer.read()
    return read_report_file(Path(name), field="path",
                            fix="pass a readable report file, or - for standard input")


def _reports(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.errors import ValidationError
    from workbench.modality.report_features import report_folder

    if args.output is not None and args.output.suffix.lower() not in _TABLE_SUFFIXES:
        raise ValidationError(f"--output {args.output.name} has suffix {args.output.suffix!r}; use a .csv or "
                              ".parquet file.", field="--output", value=args.output.name)
    findings = [name.strip() for name in args.findings.split(",") if name.strip()] if args.findings else None
    result = report_folder(args.path, pattern=args.pattern, findings=findings,
                           errors="replace" if args.replace_invalid else "strict", vocabulary=args.vocabulary,
                           progress=not args.json)
    if len(result.features) == 0 and not result.failures:
        raise ValidationError(f"{args.path.name} contains no files matching {args.pattern!r}; check the folder "
                              "or pass --pattern.", field="path", value=args.path.name)
    if args.output is not None:
        _write_table(result.features, args.output)
    prevalence = result.prevalence()
    if args.json:
        data = {"reports": len(result.features), "prevalence": prevalence,
                "failures": [{"path": path, "error": error} for path, error in result.failures]}
        data["features"] = str(args.output) if args.output is not None else result.features.to_dict("records")
        _print_json(data)
    else:
        lines = [f"reports read: {len(result.features)}, failed: {len(result.failures)}"]
        mentioned = sorted(((share, name) for name, share in prevalence.items() if share > 0), reverse=True)
        lines.append("present in (share of reports):" + ("" if mentioned else " none"))
        lines.extend(f"  {name}: {share:.1%}" for share, name in mentioned)
        lines.extend(f"failed: {path}: {error}" for path, error in result.failures)
        if args.output is not None:
            lines.append(f"table written to {args.output}")
        print("\n".join(lines))
    return 1 if len(result.features) == 0 else 0


def _study(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.modality.study import process_study

    study = process_study(args.image, _read_report(args.report), modality=args.modality,
                          errors="replace" if args.replace_invalid else "strict", vocabulary=args.vocabulary,
                          allow_gaps=args.allow_gaps)
    if args.json:
        _print_json(study.to_dict(vocabulary=args.vocabulary))
    else:
        print(study_summary(study))
    if args.fail_on_mismatch and study.mismatches:
        names = ", ".join(check.name for check in study.mismatches)
        print(f"mismatch: {names}", file=sys.stderr)
        return MISMATCH_STATUS
    return 0


def study_summary(study: Any) -> str:
    """Return the summary of a :class:`~workbench.modality.study.StudyRecord` that ``study`` prints."""
    image = study.image
    shape = " x ".join(str(size) for size in image.shape)
    lines = [f"image: {image.format}, modality {image.modality or 'unknown'}, shape {shape}"]
    lines.append("checks:")
    for check in study.checks:
        lines.append(f"  - {check.name}: {check.message}")
    mismatches = [check.name for check in study.mismatches]
    lines.append("mismatches: " + (", ".join(mismatches) if mismatches else "none"))
    lines.append(report_summary(study.report))
    lines.extend(f"  - {note}" for note in study.notes)
    return "\n".join(lines)


def report_summary(record: Any) -> str:
    """Return the summary of a :class:`~workbench.modality.report.ReportRecord` that ``report`` prints."""
    lines = ["sections: " + (", ".join(section.name for section in record.sections) or "none")]
    lines.append(f"findings: {len(record.findings)}")
    for finding in record.findings:
        details = [finding.status]
        details.extend(flag for flag, on in (("historical", finding.historical),
                                             ("unchanged", finding.unchanged)) if on)
        details.extend(value for value in (finding.size_qualifier, finding.laterality) if value)
        if finding.anatomy is not None:
            details.append(finding.anatomy.lobe or finding.anatomy.organ)
        details.extend(_measurement_text(m) for m in finding.measurements)
        details.extend("previously " + _measurement_text(m) for m in finding.prior_measurements)
        section = f" [{finding.section}]" if finding.section else ""
        lines.append(f"  - {finding.name}: {', '.join(details)}{section}")
    lines.append("notes:" + ("" if record.notes else " none"))
    lines.extend(f"  - {note}" for note in record.notes)
    return "\n".join(lines)


def _measurement_text(measurement: Any) -> str:
    if measurement.qualitative is not None:
        return measurement.qualitative
    return " × ".join(f"{value:g}" for value in measurement.dimensions_mm) + " mm"


def image_summary(record: Any) -> str:
    """Return the readable summary of an :class:`~workbench.modality.record.ImageRecord` that ``image`` prints."""
    statistics = record.statistics
    lines = [
        f"file: {record.source}",
        f"format: {record.format}",
        f"modality: {record.modality or 'unknown'}",
        f"shape: {' × '.join(str(size) for size in record.shape)} ({record.axes}), {record.pixels.dtype}",
        f"spacing: {_spacing_text(record.spacing)}",
        f"orientation: {_orientation_text(record)}",
        f"units: {record.units or 'not declared'}",
        f"frames: {record.frame_count}",
        f"photometric interpretation: {record.photometric_interpretation or 'not declared'}",
        f"statistics: {_statistics_text(statistics)}",
    ]
    lines.append("notes:" + ("" if record.notes else " none"))
    lines.extend(f"  - {note}" for note in record.notes)
    lines.append("metadata (de-identified):")
    lines.extend(f"  {key}: {_value_text(value)}" for key, value in record.metadata.items())
    return "\n".join(lines)


def _spacing_text(spacing: tuple[float, ...] | None) -> str:
    if spacing is None:
        return "unknown"
    return " × ".join(f"{value:.4g}" for value in spacing) + " mm"


def _orientation_text(record: Any) -> str:
    """Name the patient direction each spatial axis points to, such as ``row → P, column → L, normal → S``."""
    if record.direction is None or record.coordinate_system not in _AXIS_LETTERS:
        return f"none ({record.coordinate_system} coordinates)"
    positive, negative = _AXIS_LETTERS[record.coordinate_system]
    direction = np.asarray(record.direction, dtype=float)
    names = [name for name in record.axes.split(",") if name != "sample"]
    if record.axes.startswith("row,"):
        # A single plane: the third direction column is the slice normal.
        names = [*names, "normal"]
    # Direction columns follow the spatial axes in the order of the pixel array.
    codes = []
    for index, name in enumerate(names[:direction.shape[1]]):
        column = direction[:, index]
        dominant = int(np.argmax(np.abs(column)))
        letter = positive[dominant] if column[dominant] > 0 else negative[dominant]
        codes.append(f"{name} → {letter}")
    return f"{record.coordinate_system}; {', '.join(codes)}"


def _statistics_text(statistics: Any) -> str:
    if statistics is None or statistics.count == 0:
        return "no finite values"
    percentiles = statistics.percentiles
    return (f"min {statistics.minimum:.6g}, p1 {percentiles.get('p1', float('nan')):.6g}, "
            f"median {percentiles.get('p50', float('nan')):.6g}, mean {statistics.mean:.6g}, "
            f"p99 {percentiles.get('p99', float('nan')):.6g}, max {statistics.maximum:.6g}, "
            f"std {statistics.std:.6g} ({statistics.count} values)")


def _value_text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return str(value)


def _folder_text(result: Any, output: Path | None) -> str:
    lines = [f"read {len(result.features)} of {result.file_count} file(s); {len(result.errors)} could not be read"]
    if output is not None:
        lines.append(f"feature table written to {output}")
    elif len(result.features):
        lines.append(result.features.to_string(index=False, float_format=lambda value: f"{value:.6g}"))
    if len(result.errors):
        lines.append("files that could not be read:")
        lines.extend(f"  {row.file}: {row.error}: {row.message}" for row in result.errors.itertuples(index=False))
    return "\n".join(lines)


def _write_table(frame: Any, path: Path) -> None:
    from workbench.errors import ValidationError

    try:
        if path.suffix.lower() == ".csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
    except OSError as exc:
        raise ValidationError(f"--output {path.name} could not be written: {exc.strerror or type(exc).__name__}. Check that its "
                              "folder exists and is writable.", field="--output", value=path.name) from exc


def _write_bytes(path: Path, data: bytes, option: str) -> None:
    from workbench.errors import ValidationError

    try:
        path.write_bytes(data)
    except OSError as exc:
        raise ValidationError(f"{option} {path.name} could not be written: {exc.strerror or type(exc).__name__}. Check that its "
                              "folder exists and is writable.", field=option, value=path.name) from exc


def _print_json(data: Any) -> None:
    from workbench.cli import _print_json as print_json

    print_json(data)
