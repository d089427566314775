"""Section headers of radiology reports: indication or history, technique, comparison, findings, impression.

A header starts a line (after an optional list number) and is followed by a colon or a dash, or is alone on
its line, or is written in capitals ("IMPRESSION 1. ..."). Text before the first header belongs to no
section.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

#: Canonical section name to the header spellings recognised, matched case-insensitively.
SECTION_HEADERS: dict[str, tuple[str, ...]] = {
    "indication": ("indication", "indications", "clinical indication", "reason for exam", "reason for study",
                   "reason for examination", "history", "clinical history", "clinical information",
                   "clinical details", "clinical notes", "clinical data", "medical history"),
    "technique": ("technique", "techniques", "procedure", "protocol", "exam technique", "examination"),
    "comparison": ("comparison", "comparisons", "comparison study", "prior studies", "prior study"),
    "findings": ("findings", "finding", "report", "observations"),
    "impression": ("impression", "impressions", "conclusion", "conclusions", "summary", "opinion",
                   "assessment", "diagnosis"),
}

_LOOKUP = {spelling: name for name, spellings in SECTION_HEADERS.items() for spelling in spellings}
# Longest spellings first, so that "clinical history" wins over "history".
_SPELLINGS = sorted(_LOOKUP, key=len, reverse=True)
_ALTERNATIVES = "|".join(re.escape(spelling).replace(r"\ ", r"\s+") for spelling in _SPELLINGS)
_HEADER = re.compile(
    rf"^[ \t]*(?:\d{{1,2}}[.)][ \t]*)?(?P<header>{_ALTERNATIVES})\b[ \t]*(?P<mark>:|-(?!\w)|(?=\r?\n|$))?",
    re.IGNORECASE | re.MULTILINE,
)


@dataclass(frozen=True)
class Section:
    """One section of a report.

    Attributes
    ----------
    name : str
        Canonical name: ``indication``, ``technique``, ``comparison``, ``findings`` or ``impression``.
    header : str
        The header as written, without its colon.
    start, end : int
        Character offsets of the section body (after the header, without surrounding whitespace) in the
        original text.
    text : str
        The section body.
    """

    name: str
    header: str
    start: int
    end: int
    text: str

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a dictionary."""
        return asdict(self)


def find_sections(text: str) -> tuple[tuple[Section, ...], tuple[int, ...]]:
    """Split ``text`` at its section headers.

    Returns
    -------
    sections : tuple of Section
        The sections in order, each ending where the next header starts.
    header_starts : tuple of int
        Character offsets where each header starts, so that a sentence splitter can break there.
    """
    headers = []
    for match in _HEADER.finditer(text):
        written = match.group("header")
        is_capitals = written.isupper()
        if match.group("mark") is None and not is_capitals:
            continue
        name = _LOOKUP[" ".join(written.lower().split())]
        headers.append((match.start(), match.end(), name, written))

    sections = []
    for index, (_, body_start, name, written) in enumerate(headers):
        end = headers[index + 1][0] if index + 1 < len(headers) else len(text)
        body = text[body_start:end]
        start = body_start + len(body) - len(body.lstrip())
        end = body_start + len(body.rstrip())
        sections.append(Section(name=name, header=written, start=start, end=max(start, end),
                                text=text[start:max(start, end)]))
    return tuple(sections), tuple(start for start, _, _, _ in headers)


def section_at(sections: tuple[Section, ...], offset: int) -> str | None:
    """Return the name of the section whose body contains character ``offset``, or None."""
    for section in sections:
        if section.start <= offset <= section.end:
            return section.name
    return None
