"""An image and its report together: header-against-report checks, identifiers masked, one feature row.

:func:`process_study` reads an image (or takes an :class:`~workbench.modality.record.ImageRecord`) and a
report (text, bytes, a file path or a :class:`~workbench.modality.report.ReportRecord`) and checks that
they describe the same examination:

``modality``
    the header's DICOM Modality against the modalities the report names in its title (the text before
    the first section header, or the first sentence when there is no header) and its technique section.
    Recommendations elsewhere ("CT is recommended") are not read.
``body_part``
    the body regions of the header's BodyPartExamined against the regions the report names in its title
    and technique ("CT CHEST"). A report whose title names no region is read whole: region words, the
    organs of its findings, and findings that belong to one region such as pneumothorax. A mismatch is
    reported only when the two sets share no region, because a title may name several ("CT CHEST,
    ABDOMEN AND PELVIS") and a whole report often mentions neighbouring regions ("the lung bases are
    clear" in an abdominal CT).
``laterality``
    the header's Laterality or ImageLaterality (``L`` or ``R``) against the sides of the findings that
    are neither negated nor historical, and the side words of the title and technique. A mismatch is
    reported when the report names only the other side.

Sentences of the comparison section and sentences that compare or recommend ("prior", "previous",
"recommend", "follow-up") are left out of every check, because they name other examinations.

Each check is ``match``, ``mismatch`` or ``not_checked`` with the reason (the header or the report lacks
the value). The phrases and codes come from the report vocabulary (keys ``modalities``, ``modality_codes``,
``body_regions``, ``body_part_codes``, ``organ_regions`` and ``finding_regions``), which a user file
extends like the findings.

Patient identity: the image may be a DICOM file, series folder or DICOM bytes. Then the header's
PatientName parts, PatientID, OtherPatientIDs, AccessionNumber and PatientBirthDate (in the usual date
spellings) are looked up in the report text. Each is replaced by ``X`` characters of the same length
before the report is read, so character offsets still refer to the text as given. The record counts the
replacements and never names them.
"""

from __future__ import annotations

import dataclasses
import io
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from workbench.errors import ValidationError
from workbench.modality.record import ImageRecord
from workbench.modality.report import ReportRecord, Sentence, process_report, read_report_file

__all__ = ["Check", "StudyRecord", "process_study", "study_features"]

CHECKS = ("modality", "body_part", "laterality")

# Sentences that name another examination: comparisons and recommendations.
_OTHER_EXAMINATION = re.compile(
    r"\b(?:prior|previous|previously|compared|comparison|recommend(?:ed|s)?|suggest(?:ed|s)?|consider|"
    r"follow[- ]?up|further evaluation|correlation|correlate)\b", re.IGNORECASE)
_HEADER_SIDES = {"L": "left", "R": "right", "B": "bilateral"}
_MASK = "X"
# One word without spaces that ends in a short suffix, such as "reports/0012.txt".
_PATH_LIKE = re.compile(r"\S+\.[A-Za-z0-9]{1,5}")


@dataclass(frozen=True)
class Check:
    """One comparison of the image header with the report.

    Attributes
    ----------
    name : str
        ``modality``, ``body_part`` or ``laterality``.
    result : str
        ``match``, ``mismatch`` or ``not_checked``.
    header : str or None
        The header value (Modality, BodyPartExamined, or the side) as read.
    report : tuple of str
        What the report names: modalities, body regions or sides, canonical and sorted.
    evidence : tuple of str
        Up to five report phrases behind ``report``, as written.
    message : str
        One sentence on the result, naming both sides, or why nothing was checked.
    """

    name: str
    result: str
    header: str | None
    report: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as JSON-ready built-in types."""
        return {**dataclasses.asdict(self), "report": list(self.report), "evidence": list(self.evidence)}


@dataclass(frozen=True)
class StudyRecord:
    """An image record and a report record of one examination, with the checks between them.

    Attributes
    ----------
    image : ImageRecord
    report : ReportRecord
    checks : tuple of Check
        One per entry of :data:`CHECKS`.
    identifiers_replaced : int or None
        Header identifiers found and masked in the report text; None when the header's identifiers were
        not available (an ImageRecord was given, or the image is not DICOM) or the report was given as a
        ReportRecord.
    notes : tuple of str
    """

    image: ImageRecord
    report: ReportRecord
    checks: tuple[Check, ...]
    identifiers_replaced: int | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def mismatches(self) -> tuple[Check, ...]:
        """The checks whose result is ``mismatch``."""
        return tuple(check for check in self.checks if check.result == "mismatch")

    def to_dict(self, *, findings: list[str] | None = None,
                vocabulary: str | Path | None = None) -> dict[str, Any]:
        """Return JSON-ready values: image (without pixels), report, checks, mismatches and features.

        ``findings`` and ``vocabulary`` choose the finding columns of the features, as in
        :func:`study_features`.
        """
        return {
            "image": self.image.to_dict(),
            "report": self.report.to_dict(),
            "checks": [check.to_dict() for check in self.checks],
            "mismatches": [check.name for check in self.mismatches],
            "identifiers_replaced": self.identifiers_replaced,
            "features": study_features(self, findings=findings, vocabulary=vocabulary),
            "notes": list(self.notes),
        }


def process_study(image: ImageRecord | str | Path | bytes, report: ReportRecord | str | bytes | Path, *,
                  modality: str | None = None, errors: str = "strict", vocabulary: str | Path | None = None,
                  allow_gaps: bool = False) -> StudyRecord:
    """Read an image and its report, and check that the header and the report describe the same examination.

    Parameters
    ----------
    image : ImageRecord, str, pathlib.Path or bytes
        A record from :func:`~workbench.modality.process.process_image`, or what that function reads: a
        file, a DICOM series folder or the bytes of one file.
    report : ReportRecord, str, bytes or pathlib.Path
        A record from :func:`~workbench.modality.report.process_report`, the report text (str), its
        bytes (UTF-8), or the path of a UTF-8 text file (a :class:`pathlib.Path`, or a str of one line
        that names an existing file).
    modality : str, optional
        Passed to ``process_image`` when ``image`` is read here.
    errors : {"strict", "replace"}
        What to do with report bytes that are not valid UTF-8, as in ``process_report``.
    vocabulary : str or Path, optional
        Report vocabulary file merged into the default one, as in ``process_report``.
    allow_gaps : bool
        Passed to ``process_image`` for a DICOM series folder.

    Raises
    ------
    ValidationError
        ``report`` has an unsupported type or its file cannot be read, or as ``process_report``.
    NotFoundError, ImageError
        As ``process_image``.

    Examples
    --------
    >>> import numpy as np
    >>> image = ImageRecord(pixels=np.zeros((4, 4), dtype=np.int16), format="dicom", modality="CT",
    ...                     metadata={"BodyPartExamined": "HEAD"})
    >>> study = process_study(image, "CHEST RADIOGRAPH, PA AND LATERAL. No pneumothorax.")
    >>> [(check.name, check.result) for check in study.checks]
    [('modality', 'mismatch'), ('body_part', 'mismatch'), ('laterality', 'not_checked')]
    """
    notes: list[str] = []
    identifiers: list[str] | None = None
    if isinstance(image, ImageRecord):
        record = image
    else:
        from workbench.modality.process import process_image

        record = process_image(image, modality=modality, allow_gaps=allow_gaps)
        identifiers = _header_identifiers(image, record)

    replaced: int | None = None
    if isinstance(report, ReportRecord):
        report_record = report
    else:
        text = _report_text(report, errors)
        if identifiers is not None:
            text, replaced = _mask_identifiers(text, identifiers)
            if replaced:
                notes.append(f"Masked {replaced} occurrence(s) of the patient's header identifiers in the report "
                             "text.")
        else:
            notes.append("The report text was not searched for the patient's header identifiers, because "
                         "they are only available when a DICOM file, folder or bytes is passed as the image.")
        if isinstance(text, str) and _looks_like_a_path(text):
            notes.append("The report text is one word that looks like a file name, but no such file exists, so "
                         "it was read as text; check the path.")
        report_record = process_report(text, errors=errors, vocabulary=vocabulary)

    from workbench.modality.report_vocabulary import load_vocabulary

    words = load_vocabulary(vocabulary)
    sentences = [s for s in report_record.sentences
                 if s.section != "comparison" and not _OTHER_EXAMINATION.search(s.text)]
    header_sentences = _title_and_technique(report_record.sentences, sentences)
    checks = (
        _check_modality(record, header_sentences, words),
        _check_body_part(record, report_record, sentences, header_sentences, words),
        _check_laterality(record, report_record, header_sentences, words),
    )
    return StudyRecord(image=record, report=report_record, checks=checks, identifiers_replaced=replaced,
                       notes=tuple(notes))


def study_features(study: StudyRecord, *, findings: list[str] | None = None,
                   vocabulary: str | Path | None = None) -> dict[str, Any]:
    """Return one monitoring row: image features, ``finding_`` columns and a ``<check>_check`` column each.

    ``findings`` and ``vocabulary`` choose the finding columns as in
    :func:`~workbench.modality.report_features.report_features`. The check columns contain ``match``,
    ``mismatch`` or ``not_checked``, so the share of mismatched studies
    can be baselined and drift-checked as a categorical feature.
    """
    from workbench.modality.features import image_features
    from workbench.modality.report_features import report_features

    row = dict(image_features(study.image))
    row.update(report_features(study.report, findings=findings, vocabulary=vocabulary))
    row.update({f"{check.name}_check": check.result for check in study.checks})
    return row


# Checks ----------------------------------------------------------------------------------------------


def _check_modality(record: ImageRecord, sentences: list[Sentence], words: Any) -> Check:
    header = (record.modality or "").strip().upper() or None
    named, evidence = _named(sentences, words.modalities)
    if header is None:
        return _not_checked("modality", None, named, evidence, "the image header has no Modality")
    if not named:
        return _not_checked("modality", header, named, evidence,
                            "the report's title and technique name no modality")
    accepted = {label for label in named if header in {code.upper() for code in words.modality_codes.get(label, ())}}
    if accepted:
        return Check("modality", "match", header, named, evidence,
                     f"Modality {header} agrees with the report ({', '.join(named)}).")
    return Check("modality", "mismatch", header, named, evidence,
                 f"The header's Modality is {header} but the report names {', '.join(named)}.")


def _check_body_part(record: ImageRecord, report: ReportRecord, sentences: list[Sentence],
                     title_sentences: list[Sentence], words: Any) -> Check:
    raw = (record.metadata or {}).get("BodyPartExamined")
    header = str(raw).strip() if raw else None
    # The region in the title or technique ("CT CHEST") names the examination. Only without one are the
    # regions of the whole report and its findings read.
    named, evidence = _named(title_sentences, words.body_regions)
    regions = set(named)
    if not regions:
        named, evidence = _named(sentences, words.body_regions)
        regions = set(named)
        for finding in report.findings:
            sources = [*words.finding_regions.get(finding.name, ())]
            if finding.anatomy is not None:
                sources.extend(words.organ_regions.get(finding.anatomy.organ, ()))
            if sources and not set(sources) <= regions and len(evidence) < 5:
                evidence = (*evidence, f"{finding.text} ({finding.anatomy.organ if finding.anatomy else finding.name})")
            regions.update(sources)
    named_regions = tuple(sorted(regions))
    if header is None:
        return _not_checked("body_part", None, named_regions, evidence, "the image header has no BodyPartExamined")
    code = re.sub(r"[\s_\-]", "", header.upper())
    header_regions = {region for region, codes in words.body_part_codes.items()
                      if code in {re.sub(r"[\s_\-]", "", c.upper()) for c in codes}}
    if not header_regions:
        return _not_checked("body_part", header, named_regions, evidence,
                            f"BodyPartExamined {header!r} is not in the vocabulary's body_part_codes")
    if not named_regions:
        return _not_checked("body_part", header, named_regions, evidence, "the report names no body region")
    if "all" in header_regions or header_regions & regions:
        return Check("body_part", "match", header, named_regions, evidence,
                     f"BodyPartExamined {header} agrees with the report ({', '.join(named_regions)}).")
    return Check("body_part", "mismatch", header, named_regions, evidence,
                 f"The header's BodyPartExamined is {header} ({', '.join(sorted(header_regions))}) but the report "
                 f"names {', '.join(named_regions)}.")


def _check_laterality(record: ImageRecord, report: ReportRecord, sentences: list[Sentence], words: Any) -> Check:
    metadata = record.metadata or {}
    raw = metadata.get("Laterality") or metadata.get("ImageLaterality")
    header = str(raw).strip().upper() if raw else None
    named, evidence = _named(sentences, words.laterality)
    sides = set(named)
    for finding in report.findings:
        # A negated, historical or compared finding does not show the side of this image.
        if (finding.status != "negated" and not finding.historical and finding.section != "comparison"
                and finding.laterality):
            sides.add(finding.laterality)
            evidence = (*evidence, finding.text)[:5]
    named_sides = tuple(sorted(sides))
    if header is None:
        return _not_checked("laterality", None, named_sides, evidence,
                            "the image header has no Laterality or ImageLaterality")
    side = _HEADER_SIDES.get(header)
    if side is None or side == "bilateral":
        return _not_checked("laterality", header, named_sides, evidence,
                            f"the header's laterality {header!r} is not a single side (L or R)")
    if not sides:
        return _not_checked("laterality", header, named_sides, evidence, "the report names no side")
    if side in sides or "bilateral" in sides:
        return Check("laterality", "match", header, named_sides, evidence,
                     f"Laterality {header} agrees with the report ({', '.join(named_sides)}).")
    return Check("laterality", "mismatch", header, named_sides, evidence,
                 f"The header's laterality is {header} ({side}) but the report names only "
                 f"{', '.join(named_sides)}.")


def _not_checked(name: str, header: str | None, named: tuple[str, ...], evidence: tuple[str, ...],
                 reason: str) -> Check:
    return Check(name, "not_checked", header, named, evidence, f"Not checked: {reason}.")


def _title_and_technique(all_sentences: tuple[Sentence, ...], readable: list[Sentence]) -> list[Sentence]:
    """Return the readable sentences of the title (before the first header) and of the technique section.

    A report without section headers has only a title; then only its first sentence counts, because a
    report's first line usually names the examination.
    """
    has_sections = any(sentence.section is not None for sentence in all_sentences)
    if not has_sections:
        first = all_sentences[0] if all_sentences else None
        return [sentence for sentence in readable if sentence is first]
    return [sentence for sentence in readable if sentence.section in (None, "technique")]


def _named(sentences: list[Sentence], phrases: dict[str, tuple[str, ...]]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return the labels of ``phrases`` found in ``sentences``, sorted, and up to five matches as written."""
    pattern, labels = _phrase_pattern(tuple((label, tuple(words)) for label, words in phrases.items()))
    if pattern is None:
        return (), ()
    found: set[str] = set()
    evidence: list[str] = []
    for sentence in sentences:
        for match in pattern.finditer(sentence.text):
            label = labels[match.lastgroup]
            found.add(label)
            if len(evidence) < 5 and match.group() not in evidence:
                evidence.append(match.group())
    return tuple(sorted(found)), tuple(evidence)


@lru_cache(maxsize=32)
def _phrase_pattern(phrases: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[re.Pattern[str] | None, dict[str, str]]:
    """Build one regular expression over every phrase, with a named group per label.

    A phrase written in capitals in the vocabulary ("CT", "US") matches only in capitals, so that the
    pronoun "us" is not read as ultrasound. Other phrases match in any case. Spaces match any run of
    white space, and a phrase must not be glued to a letter or digit on either side.
    """
    alternatives, labels = [], {}
    for index, (label, words) in enumerate(phrases):
        group = f"g{index}"
        labels[group] = label
        parts = []
        for word in sorted(set(words), key=len, reverse=True):
            body = r"\s+".join(re.escape(part) for part in word.split())
            parts.append(body if word.isupper() else f"(?i:{body})")
        if parts:
            alternatives.append(f"(?P<{group}>{'|'.join(parts)})")
    if not alternatives:
        return None, labels
    return re.compile(rf"(?<![A-Za-z0-9])(?:{'|'.join(alternatives)})(?![A-Za-z0-9])"), labels


# Report input and identifiers ------------------------------------------------------------------------


def _report_text(report: str | bytes | Path, errors: str) -> str | bytes:
    if isinstance(report, str) and _names_a_file(report):
        report = Path(report)
    if isinstance(report, str | bytes | bytearray):
        return report
    if isinstance(report, Path):
        return read_report_file(report, field="report")
    raise ValidationError(f"report must be a ReportRecord, str, bytes or pathlib.Path, got {type(report).__name__}.",
                          field="report", value=type(report).__name__)


def _names_a_file(text: str) -> bool:
    """Tell whether ``text`` is a path to an existing file rather than report text."""
    if not text or len(text) > 1024 or "\n" in text:
        return False
    try:
        return Path(text).is_file()
    except (OSError, ValueError):
        return False


def _looks_like_a_path(text: str) -> bool:
    """Tell whether ``text`` is a single word ending in a file suffix such as ``.txt``."""
    return bool(_PATH_LIKE.fullmatch(text.strip()))


def _header_identifiers(source: str | Path | bytes, record: ImageRecord) -> list[str] | None:
    """Return the identifier strings of the DICOM header behind ``source``, or None when it is not DICOM."""
    if not record.format.startswith("dicom"):
        return None
    import pydicom
    from pydicom.errors import InvalidDicomError

    candidates: list[Any]
    if isinstance(source, bytes | bytearray):
        candidates = [io.BytesIO(bytes(source))]
    elif Path(source).is_dir():
        candidates = sorted(p for p in Path(source).rglob("*") if p.is_file())[:20]
    else:
        candidates = [Path(source)]
    for candidate in candidates:
        try:
            ds = pydicom.dcmread(candidate, stop_before_pixels=True, force=True)
        except (InvalidDicomError, OSError, ValueError, EOFError, AttributeError, KeyError):
            continue
        if "PatientID" in ds or "PatientName" in ds:
            return _identifier_strings(ds)
    return []


def _identifier_strings(ds: Any) -> list[str]:
    values: list[str] = []
    name = str(ds.get("PatientName", "") or "")
    values.extend(part for part in re.split(r"[\^=,\s]+", name) if len(part) >= 2)
    for keyword in ("PatientID", "AccessionNumber"):
        value = str(ds.get(keyword, "") or "").strip()
        if len(value) >= 3:
            values.append(value)
    others = ds.get("OtherPatientIDs")
    if others:
        values.extend(str(value).strip() for value in (others if isinstance(others, list | tuple) or
                      hasattr(others, "__iter__") and not isinstance(others, str) else [others])
                      if len(str(value).strip()) >= 3)
    birth = str(ds.get("PatientBirthDate", "") or "").strip()
    if re.fullmatch(r"\d{8}", birth):
        year, month, day = birth[:4], birth[4:6], birth[6:]
        values.extend({birth, f"{year}-{month}-{day}", f"{year}/{month}/{day}", f"{day}/{month}/{year}",
                       f"{month}/{day}/{year}", f"{day}.{month}.{year}", f"{day}-{month}-{year}"})
    return values


def _mask_identifiers(text: str | bytes, identifiers: list[str]) -> tuple[str | bytes, int]:
    """Replace each identifier in ``text`` by as many ``X`` as it has characters; return the count.

    NOTE: a name part that is also a report word (a surname such as "Mass") is masked wherever the word
    appears, so a finding of that name is lost. Privacy comes first here.
    """
    if not identifiers:
        return text, 0
    was_bytes = isinstance(text, bytes | bytearray)
    if was_bytes:
        # Masking works on text; invalid bytes are left for process_report to report or replace.
        try:
            decoded = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            decoded = bytes(text).decode("utf-8", errors="surrogateescape")
    else:
        decoded = text
    alternatives = "|".join(re.escape(value) for value in sorted(set(identifiers), key=len, reverse=True))
    pattern = re.compile(rf"(?<![^\W_])(?:{alternatives})(?![^\W_])", re.IGNORECASE)
    masked, count = pattern.subn(lambda match: _MASK * len(match.group()), decoded)
    if was_bytes:
        return masked.encode("utf-8", errors="surrogateescape"), count
    return masked, count
