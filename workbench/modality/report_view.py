"""HTML views of a report with its findings highlighted by status, and of a study: image beside report.

The highlighting is spaCy's displaCy entity renderer in manual mode, fed with the character offsets of
:class:`~workbench.modality.report.Finding`, so the report is not run through the pipeline again.
displaCy escapes the text, so a report containing ``<`` or ``&`` renders as written.
"""

from __future__ import annotations

import base64
import html

from workbench.modality.report import ReportRecord
from workbench.modality.study import StudyRecord

#: Background colour of each status: red for present, green for negated, amber for uncertain.
STATUS_COLORS = {"PRESENT": "#f6b7b0", "NEGATED": "#bfe5c8", "UNCERTAIN": "#ffe08a"}

_RESULT_COLORS = {"match": "#bfe5c8", "mismatch": "#f6b7b0", "not_checked": "#e4e4e4"}


def report_html(record: ReportRecord) -> str:
    """Return the report text as HTML with each finding marked and labelled with its status.

    Examples
    --------
    >>> from workbench.modality.report import process_report
    >>> html_text = report_html(process_report("No pneumothorax. Small effusion."))
    >>> "NEGATED" in html_text and "PRESENT" in html_text
    True
    """
    from spacy import displacy

    entities = [{"start": finding.start, "end": finding.end, "label": finding.status.upper()}
                for finding in sorted(record.findings, key=lambda finding: finding.start)]
    return displacy.render({"text": record.text, "ents": entities, "title": None}, style="ent", manual=True,
                           jupyter=False, options={"colors": STATUS_COLORS})


def study_html(study: StudyRecord, *, size: int = 320, window: tuple[float, float] | None = None) -> str:
    """Return a two-column HTML view: the image's middle slice or frame, and the highlighted report.

    Below them, each header-against-report check is listed with its result.

    Parameters
    ----------
    study : StudyRecord
    size : int
        Maximum width and height of the image thumbnail, in pixels.
    window : (low, high), optional
        Display range of the thumbnail in the image's units; the 1st to 99th percentile by default.
    """
    png = base64.b64encode(study.image.thumbnail_png(size=size, window=window)).decode("ascii")
    checks = "".join(
        f'<li><span style="background: {_RESULT_COLORS[check.result]}; padding: 0 0.4em; border-radius: 0.3em">'
        f"{html.escape(check.result.replace('_', ' '))}</span> <b>{html.escape(check.name)}</b>: "
        f"{html.escape(check.message)}</li>"
        for check in study.checks)
    return (
        '<div style="display: flex; gap: 1.5em; align-items: flex-start; flex-wrap: wrap">'
        f'<img src="data:image/png;base64,{png}" alt="middle slice of the image" '
        f'style="width: {size}px; max-width: 100%">'
        f'<div style="flex: 1; min-width: 20em">{report_html(study.report)}</div>'
        "</div>"
        f'<ul style="margin-top: 1em">{checks}</ul>'
    )
