"""Radiology report records: sections, findings with ConText status, anatomy and sizes in millimetres.

:func:`process_report` runs the rule-based spaCy pipeline of :mod:`workbench.modality.report_pipeline` on
one report and returns a :class:`ReportRecord`. No trained model is used, so results depend only on the
vocabulary file and the rules.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from workbench.errors import ValidationError
from workbench.modality.report_measurements import Measurement
from workbench.modality.report_sections import Section

__all__ = ["SAMPLE_REPORT_PATH", "Anatomy", "Finding", "Measurement", "ReportRecord", "Section", "Sentence",
           "process_report"]

_ERROR_MODES = ("strict", "replace")
_Record = TypeVar("_Record")

#: A chest CT report written for the examples and the multi-modality notebook; it names no patient.
SAMPLE_REPORT_PATH = Path(__file__).with_name("samples") / "chest_ct_report.txt"


@dataclass(frozen=True)
class Anatomy:
    """The body part a finding is located in.

    Attributes
    ----------
    organ : str
        Canonical organ name from the vocabulary, such as ``"lung"`` or ``"oesophagus"``.
    lobe, segment : str or None
        Lung lobe ("right upper lobe") and segment ("apical segment") when the report names them.
    text : str
        The nearest anatomy mention as written.
    start, end : int
        Character offsets of that mention in the original text.
    """

    organ: str
    lobe: str | None
    segment: str | None
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Finding:
    """One finding mentioned in a report.

    Attributes
    ----------
    name : str
        Canonical name from the vocabulary ("pleural effusion" for "effusions").
    text : str
        The words matched, as written.
    start, end : int
        Character offsets of ``text`` in the original report text.
    status : str
        ``"present"``, ``"negated"`` or ``"uncertain"``.
    historical : bool
        True when a historical cue ("history of", "prior") covers the finding.
    unchanged : bool
        True when an unchanged or stable cue ("unchanged", "no interval change") covers the finding.
    anatomy : Anatomy or None
        The nearest anatomy mention of the same clause.
    laterality : str or None
        ``"left"``, ``"right"`` or ``"bilateral"``.
    size_qualifier : str or None
        ``"small"``, ``"large"``, ``"mild"``, ``"moderate"`` or ``"severe"``.
    measurements, prior_measurements : tuple of Measurement
        Sizes of the current study and sizes quoted from an earlier one.
    sentence : str
        The sentence the finding was found in.
    section : str or None
        Canonical name of the section containing the finding, None before the first header.
    """

    name: str
    text: str
    start: int
    end: int
    status: str
    historical: bool = False
    unchanged: bool = False
    anatomy: Anatomy | None = None
    laterality: str | None = None
    size_qualifier: str | None = None
    measurements: tuple[Measurement, ...] = ()
    prior_measurements: tuple[Measurement, ...] = ()
    sentence: str = ""
    section: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as JSON-ready built-in types."""
        data = asdict(self)
        data["measurements"] = [m.to_dict() for m in self.measurements]
        data["prior_measurements"] = [m.to_dict() for m in self.prior_measurements]
        return data


@dataclass(frozen=True)
class Sentence:
    """A sentence of the report, with character offsets into the original text."""

    text: str
    start: int
    end: int
    section: str | None


@dataclass(frozen=True)
class ReportRecord:
    """Everything :func:`process_report` extracts from one report.

    Attributes
    ----------
    sections : tuple of Section
        Sections in the order written.
    findings : tuple of Finding
        Findings in the order written.
    sentences : tuple of Sentence
        Sentences that contain text, headers included.
    notes : tuple of str
        Remarks on the input, such as replaced bytes or an empty report.
    text : str
        The text that was read, after decoding; every character offset of the record points into it.
    """

    sections: tuple[Section, ...] = ()
    findings: tuple[Finding, ...] = ()
    sentences: tuple[Sentence, ...] = ()
    notes: tuple[str, ...] = field(default=())
    text: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the record as JSON-ready built-in types."""
        return {
            "text": self.text,
            "sections": [section.to_dict() for section in self.sections],
            "findings": [finding.to_dict() for finding in self.findings],
            "sentences": [asdict(sentence) for sentence in self.sentences],
            "notes": list(self.notes),
        }


def process_report(text: str | bytes | Path, *, errors: str = "strict",
                   vocabulary: str | Path | None = None) -> ReportRecord:
    """Extract sections, findings, statuses, anatomy and measurements from one radiology report.

    Parameters
    ----------
    text : str, bytes or pathlib.Path
        The report. Bytes, and the contents of a file given as a :class:`pathlib.Path`, are decoded as
        UTF-8. A str is always the text itself. Text in any script may be mixed in, but only English
        phrases of the vocabulary are matched.
    errors : {"strict", "replace"}
        What to do with bytes that are not valid UTF-8: raise, or decode them as U+FFFD and add a note.
    vocabulary : str or Path, optional
        JSON vocabulary file merged into the default one. When None, the file named by the
        ``WORKBENCH_REPORT_VOCABULARY`` environment variable is used if set.

    Raises
    ------
    ValidationError
        ``text`` is neither str nor bytes, ``errors`` is unknown, or the bytes are not valid UTF-8 in
        strict mode.

    Examples
    --------
    >>> record = process_report("No pneumothorax, but there is a small left pleural effusion.")
    >>> [(f.name, f.status, f.laterality, f.size_qualifier) for f in record.findings]
    [('pneumothorax', 'negated', None, None), ('pleural effusion', 'present', 'left', 'small')]
    """
    from workbench.modality.report_pipeline import build_pipeline, run_pipeline

    decoded, notes = _decode(text, errors)
    if not decoded.strip():
        return ReportRecord(notes=(*notes, "The report is empty or contains only whitespace."), text=decoded)

    doc = run_pipeline(build_pipeline(vocabulary), decoded)
    sections = doc.user_data["report_sections"]
    tokens = doc.user_data["report_tokens"]
    section_of = _SectionLookup(sections)
    # One Sentence per token range; blank ones (only white space) are left out of the record.
    all_sentences = [_sentence(decoded, tokens.starts[start], tokens.ends[end - 1], section_of)
                     for start, end in tokens.sentences]
    sentences = tuple(sentence for sentence in all_sentences if sentence is not None)
    findings = tuple(_finding(result, decoded, all_sentences, section_of)
                     for result in doc.user_data["report_results"])
    return ReportRecord(sections=sections, findings=findings, sentences=sentences, notes=tuple(notes),
                        text=decoded)


def read_report_file(path: Path, *, field: str = "text", fix: str = "pass a readable report file") -> bytes:
    """Return the bytes of a report file, raising ValidationError with its base name when it cannot be read.

    The message names the file by its base name only, because folder names may contain a patient's name.
    """
    try:
        return path.read_bytes()
    except OSError as error:
        raise ValidationError(f"{path.name}: {error.strerror or type(error).__name__}; {fix}.", field=field,
                              value=path.name) from error


def _decode(text: str | bytes | Path, errors: str) -> tuple[str, list[str]]:
    """Decode ``text`` as UTF-8, raising on invalid bytes or replacing them, as set by ``errors``."""
    if errors not in _ERROR_MODES:
        raise ValidationError(f"errors={errors!r} is not supported; use one of {_ERROR_MODES}.",
                              field="errors", value=errors)
    if isinstance(text, str):
        return text, []
    if isinstance(text, Path):
        text = read_report_file(text)
    if not isinstance(text, (bytes, bytearray)):
        raise ValidationError(f"The report must be str, bytes or pathlib.Path, got {type(text).__name__}; pass "
                              "the report text, its UTF-8 bytes or the path of its file.", field="text",
                              value=type(text).__name__)
    try:
        return bytes(text).decode("utf-8"), []
    except UnicodeDecodeError as error:
        first_invalid = error.start
        if errors == "strict":
            raise ValidationError(
                f"The report is not valid UTF-8: byte 0x{text[error.start]:02x} at position {error.start} "
                f"({error.reason}). Re-encode the file as UTF-8, or decode invalid bytes as U+FFFD with "
                "errors='replace' (--replace-invalid on the command line).", field="text", value=error.start) from error
    decoded = bytes(text).decode("utf-8", errors="replace")
    # surrogateescape turns each invalid byte into one lone surrogate, so they can be counted.
    escaped = bytes(text).decode("utf-8", errors="surrogateescape")
    invalid = sum(1 for char in escaped if "\udc80" <= char <= "\udcff")
    note = (f"Decoded {invalid} invalid UTF-8 byte(s) as U+FFFD; the first was at byte position "
            f"{first_invalid}.")
    return decoded, [note]


def _frozen(cls: type[_Record], **values: Any) -> _Record:
    """Create the frozen dataclass ``cls`` from every one of its fields, without its ``__init__``.

    The generated ``__init__`` of a frozen dataclass sets each field through ``object.__setattr__``, which
    took about a quarter of the time spent building records from the pipeline's results. The object is
    equal to ``cls(**values)``, and stays frozen.
    """
    record = object.__new__(cls)
    record.__dict__.update(values)
    return record


class _SectionLookup:
    """Name of the section containing a character offset, like :func:`section_at`, by bisection."""

    def __init__(self, sections: tuple[Section, ...]) -> None:
        self.starts = [section.start for section in sections]
        self.sections = sections

    def __call__(self, offset: int) -> str | None:
        index = bisect_right(self.starts, offset) - 1
        if index >= 0 and offset <= self.sections[index].end:
            return self.sections[index].name
        return None


def _sentence(text: str, start: int, end: int, section_of: _SectionLookup) -> Sentence | None:
    """Return the sentence between two character offsets without surrounding white space, or None when blank."""
    raw = text[start:end]
    stripped = raw.strip()
    if not stripped:
        return None
    start += len(raw) - len(raw.lstrip())
    return _frozen(Sentence, text=stripped, start=start, end=start + len(stripped), section=section_of(start))


def _finding(result: dict[str, Any], text: str, sentences: list[Sentence | None],
             section_of: _SectionLookup) -> Finding:
    """Turn one result of the context rules into a Finding, reusing the result's dictionary."""
    start, end = result["start"], result["end"]
    anatomy = result["anatomy"]
    if anatomy is not None:
        anatomy_start, anatomy_end = anatomy["start"], anatomy["end"]
        result["anatomy"] = _frozen(Anatomy, organ=anatomy["organ"], lobe=anatomy["lobe"],
                                    segment=anatomy["segment"], text=text[anatomy_start:anatomy_end],
                                    start=anatomy_start, end=anatomy_end)
    result["text"] = text[start:end]
    result["measurements"] = tuple(result["measurements"])
    result["prior_measurements"] = tuple(result["prior_measurements"])
    # A finding's sentence contains the finding, so it is never blank.
    result["sentence"] = sentences[result.pop("sentence_index")].text  # type: ignore[union-attr]
    result["section"] = section_of(start)
    record = object.__new__(Finding)
    record.__dict__.update(result)
    return record
