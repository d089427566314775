"""Findings of radiology reports as monitoring features: one row per report, one column per finding.

What radiologists report shifts when the referral pattern, the scanner fleet or the reading team
changes, and a model trained on last year's case mix meets those shifts first. :func:`report_features`
turns one :class:`~workbench.modality.report.ReportRecord` into one row with a categorical column per
finding, ``finding_<name>`` (spaces become underscores), holding one of:

``present``
    at least one mention of the finding has status present;
``uncertain``
    no mention is present and at least one is uncertain;
``negated``
    every mention is negated;
``not_mentioned``
    the report does not name the finding.

This precedence (present, then uncertain, then negated) is the one the CheXpert labeler uses to turn
mentions into one label per report. A finding mentioned only as history ("history of fracture") keeps
its status, so it counts as present.

:func:`report_feature_types` declares every column categorical for
:func:`workbench.monitoring.compute_baseline`, and :func:`workbench.monitoring.detect_drift` then tests
the share of each status with a chi-square test, as for any other categorical feature.
:func:`finding_prevalence` gives the share of reports with each finding present per time window.

>>> from workbench.modality.report import process_report
>>> row = report_features(process_report("No pneumothorax. Small left pleural effusion."),
...                       findings=["pneumothorax", "pleural effusion", "nodule"])
>>> row
{'finding_pneumothorax': 'negated', 'finding_pleural_effusion': 'present', 'finding_nodule': 'not_mentioned'}
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.errors import ValidationError
from workbench.modality.report import ReportRecord
from workbench.monitoring.features import CATEGORICAL

#: Values of a finding column, from the strongest to the weakest.
FINDING_VALUES = ("present", "uncertain", "negated", "not_mentioned")

_PRECEDENCE = {status: rank for rank, status in enumerate(FINDING_VALUES)}
COLUMN_PREFIX = "finding_"


def finding_names(vocabulary: str | Path | None = None) -> tuple[str, ...]:
    """Return the canonical finding names of the vocabulary, in the order of its file."""
    from workbench.modality.report_vocabulary import load_vocabulary

    return tuple(load_vocabulary(vocabulary).findings)


def finding_column(name: str) -> str:
    """Return the feature column of finding ``name``: ``"pleural effusion"`` gives ``finding_pleural_effusion``."""
    return COLUMN_PREFIX + "_".join(name.split())


def report_features(record: ReportRecord, *, findings: Sequence[str] | None = None,
                    vocabulary: str | Path | None = None) -> dict[str, str]:
    """Return one row with a ``finding_<name>`` column per finding, valued as in the module notes.

    Parameters
    ----------
    record : ReportRecord
        A record from :func:`~workbench.modality.report.process_report`.
    findings : sequence of str, optional
        Finding names to report, in column order. Defaults to every finding of the vocabulary. Names
        found in the report but not listed are left out.
    vocabulary : str or Path, optional
        Vocabulary file whose finding names are the default columns, as in ``process_report``.

    Raises
    ------
    ValidationError
        ``record`` is not a ReportRecord, or ``findings`` is a single string or empty.
    """
    if not isinstance(record, ReportRecord):
        raise ValidationError(f"record must be a ReportRecord from process_report, got {type(record).__name__}.",
                              field="record", value=type(record).__name__)
    names = _checked_names(findings, vocabulary)
    best = {name: _PRECEDENCE["not_mentioned"] for name in names}
    for finding in record.findings:
        if finding.name in best:
            best[finding.name] = min(best[finding.name], _PRECEDENCE[finding.status])
    return {finding_column(name): FINDING_VALUES[rank] for name, rank in best.items()}


def report_features_frame(records: Iterable[ReportRecord], *, findings: Sequence[str] | None = None,
                          vocabulary: str | Path | None = None) -> pd.DataFrame:
    """Return one row of :func:`report_features` per record, as a DataFrame of object columns."""
    names = _checked_names(findings, vocabulary)
    rows = [report_features(record, findings=names, vocabulary=vocabulary) for record in records]
    columns = [finding_column(name) for name in names]
    return pd.DataFrame(rows, columns=columns).astype(object)


def report_feature_types(columns: Iterable[str]) -> dict[str, str]:
    """Declare every ``finding_`` column of ``columns`` categorical, for ``compute_baseline(feature_types=)``."""
    return {column: CATEGORICAL for column in columns if str(column).startswith(COLUMN_PREFIX)}


def finding_prevalence(frame: pd.DataFrame, timestamps: Sequence[Any] | pd.Series, *, freq: str = "7D",
                       status: str = "present") -> pd.DataFrame:
    """Return the share of reports whose finding column equals ``status``, per time window.

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows of :func:`report_features`; only ``finding_`` columns are read.
    timestamps : sequence of datetime-like
        When each report was written, one per row of ``frame``. Naive times are taken as UTC.
    freq : str
        Window length as a pandas offset alias, such as ``"1D"``, ``"7D"`` or ``"MS"`` (month start).
    status : str
        The value counted, ``"present"`` by default; one of :data:`FINDING_VALUES`.

    Returns
    -------
    pandas.DataFrame
        One row per window that contains at least one report, indexed by the window's start (UTC), with a
        ``reports`` column (the count) and one column per finding (share in [0, 1]), named as in
        ``frame`` without the prefix.

    Raises
    ------
    ValidationError
        ``status`` or ``freq`` is invalid, the lengths differ, a timestamp cannot be parsed, or ``frame``
        has no ``finding_`` column.
    """
    if status not in FINDING_VALUES:
        raise ValidationError(f"status={status!r} is not a finding value; use one of {FINDING_VALUES}.",
                              field="status", value=status)
    columns = [column for column in frame.columns if str(column).startswith(COLUMN_PREFIX)]
    if not columns:
        raise ValidationError("The frame has no finding_ column; build it with report_features_frame.",
                              field="frame", value=list(frame.columns)[:5])
    try:
        pd.tseries.frequencies.to_offset(freq)
    except (ValueError, TypeError) as error:
        raise ValidationError(f"freq={freq!r} is not a pandas offset alias; use one such as '1D', '7D' or "
                              "'MS'.", field="freq", value=freq) from error
    if len(timestamps) != len(frame):
        raise ValidationError(f"Got {len(timestamps)} timestamps for {len(frame)} reports; pass one per row.",
                              field="timestamps", value=len(timestamps))
    try:
        times = pd.to_datetime(pd.Series(list(timestamps)), utc=True)
    except (ValueError, TypeError) as error:
        raise ValidationError(f"A timestamp could not be read as a date and time ({error}); pass ISO 8601 "
                              "strings or datetimes.", field="timestamps", value=None) from error
    shares = (frame[columns].reset_index(drop=True) == status).astype(float)
    shares.columns = [column[len(COLUMN_PREFIX):].replace("_", " ") for column in columns]
    shares.index = pd.DatetimeIndex(times)
    grouped = shares.groupby(pd.Grouper(freq=freq, label="left", closed="left"))
    result = grouped.mean()
    result.insert(0, "reports", grouped.size().astype(int))
    result = result[result["reports"] > 0]
    result.index.name = "window_start"
    return result


def plot_finding_prevalence(prevalence: pd.DataFrame, *, findings: Sequence[str] | None = None,
                            top: int = 8) -> Any:
    """Plot the share of reports with each finding per window, from :func:`finding_prevalence`.

    Parameters
    ----------
    prevalence : pandas.DataFrame
        The frame that :func:`finding_prevalence` returns.
    findings : sequence of str, optional
        Findings to draw. By default the ``top`` findings with the highest mean share.
    top : int
        How many findings to draw when ``findings`` is None.

    Returns
    -------
    matplotlib.figure.Figure
        One line per finding over the window starts, with the share in percent, and the number of
        reports per window as bars on a second axis.
    """
    import matplotlib.pyplot as plt

    shares = prevalence.drop(columns="reports")
    if findings is None:
        findings = list(shares.mean().sort_values(ascending=False).index[:top])
    missing = [name for name in findings if name not in shares.columns]
    if missing:
        raise ValidationError(f"findings {missing} are not columns of the prevalence frame; choose from "
                              f"{list(shares.columns)[:10]}.", field="findings", value=missing)
    figure, axis = plt.subplots(figsize=(9, 4))
    counts = axis.twinx()
    counts.bar(prevalence.index, prevalence["reports"], width=0.8 * _window_width(prevalence.index),
               align="edge", color="#dddddd", zorder=0)
    counts.set_ylabel("reports per window")
    axis.set_zorder(counts.get_zorder() + 1)
    axis.patch.set_visible(False)
    for name in findings:
        axis.plot(prevalence.index, 100 * shares[name], marker="o", label=name)
    axis.set_ylim(bottom=0)
    axis.set_ylabel("reports with the finding present (%)")
    axis.set_xlabel("window start (UTC)")
    axis.legend(loc="upper left", fontsize="small")
    figure.autofmt_xdate()
    figure.tight_layout()
    return figure


def _window_width(index: pd.Index) -> Any:
    if len(index) < 2:
        return pd.Timedelta(days=1)
    return pd.Series(index).diff().min()


@dataclass(frozen=True)
class ReportFolderResult:
    """Feature rows of the reports read from a folder, and the files that could not be read.

    Attributes
    ----------
    features : pandas.DataFrame
        A ``path`` column (relative to the folder, ``/`` separators), then one ``finding_`` column per
        finding, one row per report read.
    failures : tuple of (str, str)
        Relative path and error message of each file that could not be read.
    """

    features: pd.DataFrame
    failures: tuple[tuple[str, str], ...]

    def prevalence(self, status: str = "present") -> dict[str, float]:
        """Return the share of reports with each finding at ``status``, by finding name."""
        columns = [column for column in self.features.columns if column.startswith(COLUMN_PREFIX)]
        if self.features.empty:
            return {column[len(COLUMN_PREFIX):].replace("_", " "): 0.0 for column in columns}
        return {column[len(COLUMN_PREFIX):].replace("_", " "): float((self.features[column] == status).mean())
                for column in columns}


def report_folder(folder: str | Path, *, pattern: str = "*.txt", findings: Sequence[str] | None = None,
                  errors: str = "strict", vocabulary: str | Path | None = None,
                  progress: bool = True) -> ReportFolderResult:
    """Read every report file under ``folder`` into one feature row each, for labelling or monitoring.

    Parameters
    ----------
    folder : str or Path
        Folder searched recursively. Files whose names start with "." are skipped.
    pattern : str
        Glob that a file's path relative to ``folder`` must match, compared from the right.
    findings, vocabulary : optional
        As in :func:`report_features`.
    errors : {"strict", "replace"}
        As in :func:`~workbench.modality.report.process_report`. In strict mode a file that is not valid
        UTF-8 is listed in ``failures`` and skipped.
    progress : bool
        Show a ``tqdm.auto`` progress bar.

    Raises
    ------
    ValidationError
        ``folder`` is not a folder, or the arguments are invalid.
    """
    from pathlib import PurePosixPath

    from tqdm.auto import tqdm

    from workbench.modality.report import process_report

    root = Path(folder)
    if not root.is_dir():
        problem = "not a folder" if root.exists() else "no such folder"
        raise ValidationError(f"{root.name}: {problem}; pass the folder that contains the report files.",
                              field="folder", value=root.name)
    names = _checked_names(findings, vocabulary)
    files = sorted(str(PurePosixPath(path.relative_to(root).as_posix())) for path in root.rglob("*")
                   if path.is_file() and not path.name.startswith(".")
                   and PurePosixPath(path.relative_to(root).as_posix()).match(pattern))
    rows, failures = [], []
    for relative in tqdm(files, unit="report", desc="reports", disable=not progress):
        try:
            record = process_report((root / relative).read_bytes(), errors=errors, vocabulary=vocabulary)
        except (OSError, ValidationError) as error:
            failures.append((relative, str(error)))
            continue
        rows.append({"path": relative, **report_features(record, findings=names, vocabulary=vocabulary)})
    columns = ["path", *(finding_column(name) for name in names)]
    return ReportFolderResult(features=pd.DataFrame(rows, columns=columns).astype(object),
                              failures=tuple(failures))


def _checked_names(findings: Sequence[str] | None, vocabulary: str | Path | None) -> tuple[str, ...]:
    if findings is None:
        return finding_names(vocabulary)
    if isinstance(findings, str):
        raise ValidationError(f"findings must be a list of finding names, got the string {findings!r}; "
                              f"write findings=[{findings!r}].", field="findings", value=findings)
    names = tuple(dict.fromkeys(" ".join(str(name).lower().split()) for name in findings))
    if not names:
        raise ValidationError("findings is empty; pass at least one finding name, or None for all of them.",
                              field="findings", value=[])
    known = finding_names(vocabulary)
    unknown = [name for name in names if name not in known]
    if unknown:
        # A misspelt name would otherwise give a column that is never present, which reads as 0 % prevalence.
        hints = [f"{name!r} (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(name, known, 1))
                 else repr(name) for name in unknown]
        raise ValidationError(f"Unknown finding name(s) {', '.join(hints)}; use names of the vocabulary, or add "
                              "them to a vocabulary file.", field="findings", value=unknown)
    return names
