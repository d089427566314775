"""Size measurements in radiology reports, normalised to millimetres.

Recognised forms: one to three numbers joined by ``x``, ``×``, ``*`` or ``by``, each followed by a unit or
sharing the unit written after the last one ("5mm", "1.2 cm", "1.2 x 0.9 x 1.1cm", "12 x 8 mm"). Units are
millimetres and centimetres in short or spelled-out form. A measurement preceded, within its clause or
parenthesis, by "previously", "prior" or "formerly" is a prior measurement. "Sub-centimeter" and its
spellings are kept as qualitative sizes below 10 mm and never turned into a number.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

#: Value of :attr:`Measurement.qualitative` for "sub-centimeter" and its spellings.
BELOW_10_MM = "below 10 mm"

_MM_PER_UNIT = {"mm": 1.0, "cm": 10.0}
_UNIT = r"(?:mm|cm|millimet(?:er|re)s?|centimet(?:er|re)s?)(?![A-Za-z])"
# A decimal comma ("1,2 cm") is read when one or two digits follow it, so "1,200" stays two numbers.
_NUMBER = r"(?:\d+(?:\.\d+|,\d{1,2}(?!\d))?|\.\d+)"
_JOIN = r"\s*(?:[xX×*]|by)\s*"
_MEASUREMENT = re.compile(
    rf"(?<![\w.,])(?P<d1>{_NUMBER})\s*(?P<u1>{_UNIT})?"
    rf"(?:{_JOIN}(?P<d2>{_NUMBER})\s*(?P<u2>{_UNIT})?)?"
    rf"(?:{_JOIN}(?P<d3>{_NUMBER})\s*(?P<u3>{_UNIT})?)?"
)
# Every measurement contains a digit followed by a unit, or "centimet" (also in "sub-centimeter"), so
# text without either contains none.
_UNIT_MARK = re.compile(r"\d\s*(?:mm|cm|millimet)|(?i:centimet)")
_QUALITATIVE = re.compile(r"\bsub[\s-]?centimet(?:er|re|ric)\b", re.IGNORECASE)
_PRIOR_WORDS = re.compile(r"\b(?:previously|previous|prior|formerly|earlier)\b", re.IGNORECASE)
# The prior-size keyword must follow the last of these marks before the measurement.
_CLAUSE_MARKS = re.compile(r"[(,;:]")


@dataclass(frozen=True)
class Measurement:
    """A size written in a report.

    Attributes
    ----------
    dimensions_mm : tuple of float
        One to three dimensions in millimetres, in the order written; empty for a qualitative size.
    text : str
        The measurement as written.
    start, end : int
        Character offsets in the original report text.
    prior : bool
        True for a size of an earlier study ("(previously 2.8 x 1.4 cm)").
    qualitative : str or None
        ``"below 10 mm"`` for "sub-centimeter", else None.
    """

    dimensions_mm: tuple[float, ...]
    text: str
    start: int
    end: int
    prior: bool = False
    qualitative: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a dictionary, with ``dimensions_mm`` as a list."""
        data = asdict(self)
        data["dimensions_mm"] = list(self.dimensions_mm)
        return data


def find_measurements(text: str, start: int = 0, end: int | None = None) -> list[Measurement]:
    """Find the measurements in ``text[start:end]``, with offsets into ``text``.

    Numbers without any unit ("grade 2", "3 x 4") are not measurements. A decimal comma followed by one or
    two digits is read as a decimal point ("1,2 cm" is 12 mm). NOTE: the first number of a range ("from 5
    to 7 mm") is not read, so such reports lose that size.

    Examples
    --------
    >>> [(m.dimensions_mm, m.prior) for m in find_measurements("3.2 x 1.5 cm (previously 2.8 x 1.4 cm)")]
    [((32.0, 15.0), False), ((28.0, 14.0), True)]
    """
    end = len(text) if end is None else end
    if _UNIT_MARK.search(text, start, end) is None:
        return []
    found = []
    previous_end = start
    for match in _MEASUREMENT.finditer(text, start, end):
        dimensions = _dimensions_mm(match)
        if dimensions is None:
            continue
        found.append(Measurement(dimensions_mm=dimensions, text=match.group(), start=match.start(),
                                 end=match.end(), prior=_is_prior(text[previous_end:match.start()])))
        previous_end = match.end()
    for match in _QUALITATIVE.finditer(text, start, end):
        found.append(Measurement(dimensions_mm=(), text=match.group(), start=match.start(), end=match.end(),
                                 qualitative=BELOW_10_MM))
    return sorted(found, key=lambda measurement: measurement.start)


def _dimensions_mm(match: re.Match[str]) -> tuple[float, ...] | None:
    """Convert the numbers of ``match`` to millimetres, or return None when no unit follows them."""
    numbers = [match.group(f"d{i}") for i in (1, 2, 3) if match.group(f"d{i}") is not None]
    units = [match.group(f"u{i}") for i in (1, 2, 3)][: len(numbers)]
    if units[-1] is None:
        return None
    dimensions = []
    for index, number in enumerate(numbers):
        # A number without its own unit shares the next unit written ("1.2 x 0.9 x 1.1cm").
        unit = next(u for u in units[index:] if u is not None)
        factor = _MM_PER_UNIT[unit[:1].lower() + "m"]
        # Rounding removes binary noise such as 1.2 * 10 = 12.000000000000002.
        dimensions.append(round(float(number.replace(",", ".")) * factor, 6))
    return tuple(dimensions)


def _is_prior(between: str) -> bool:
    """Tell whether ``between``, the text since the last measurement or sentence start, marks a prior size."""
    marks = list(_CLAUSE_MARKS.finditer(between))
    tail = between[marks[-1].start():] if marks else between
    return _PRIOR_WORDS.search(tail) is not None
