"""ConText-style assignment of status, flags, anatomy, laterality, size and measurements to findings.

Each cue phrase has a category (negated, uncertain, historical, unchanged, pseudo) and a direction. A forward
cue covers the tokens after it, a backward cue the tokens before it, a bidirectional cue both, and every
scope ends at a terminator ("but", "however", ";") or at the sentence end. So in "no A, B or C" all three
findings are negated, and in "no A, but small B" only A is. When a finding lies in the scope of both a
negation and an uncertainty cue, the nearer cue sets its status. Pseudo cues ("not only") match longer than
the negation word they contain and negate nothing.

Anatomy, laterality and size qualifiers are taken from the same clause (the part of the sentence between
terminators), choosing the mention nearest to the finding. Each measurement of a sentence goes to the
nearest finding of that sentence.

The functions work on :class:`Mention` tuples of token offsets rather than spaCy spans, because creating
spans and reading span extensions costs more than the rules themselves.

References
----------
Chapman W, Dowling J, Chu D. ConText: An Algorithm for Identifying Contextual Features from Clinical Text.
BioNLP 2007, Association for Computational Linguistics, pages 81-88. https://aclanthology.org/W07-1011/
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any, NamedTuple

from workbench.modality.report_measurements import Measurement, find_measurements

PRESENT = "present"
NEGATED = "negated"
UNCERTAIN = "uncertain"

# A size qualifier counts when it is at most this many tokens before the finding ("small left pleural
# effusion" puts two tokens between them) or after it ("effusion is small").
_QUALIFIER_TOKENS_BEFORE = 4
_QUALIFIER_TOKENS_AFTER = 3


class Mention(NamedTuple):
    """A matched phrase: its vocabulary label and token offsets ``[start, end)``."""

    label: str
    start: int
    end: int


class Tokens(NamedTuple):
    """Character offsets of each token's start and end, and the sentences as token ranges."""

    starts: list[int]
    ends: list[int]
    sentences: list[tuple[int, int]]


def longest_mentions(mentions: list[Mention]) -> list[Mention]:
    """Keep the longest of overlapping mentions (the earlier one on ties), sorted by start."""
    # Matches usually come sorted and without overlaps; then there is nothing to choose.
    if all(first.end <= second.start for first, second in pairwise(mentions)):
        return list(mentions)
    covered_tokens: set[int] = set()
    longest = []
    for mention in sorted(mentions, key=lambda m: (m.start - m.end, m.start)):
        tokens = range(mention.start, mention.end)
        if not covered_tokens.intersection(tokens):
            covered_tokens.update(tokens)
            longest.append(mention)
    return sorted(longest, key=lambda m: m.start)


def assign_context(text: str, tokens: Tokens, matches: dict[str, list[Mention]],
                   anatomy_entries: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Return one result per finding mention: status, flags, anatomy, laterality, size and measurements."""
    # The sentence index of every token, so that each mention finds its sentence by one lookup.
    sentence_of = [index for index, (start, end) in enumerate(tokens.sentences) for _ in range(start, end)]
    by_sentence = {key: _bucket(mentions, sentence_of) for key, mentions in matches.items()}
    starts, ends = tokens.starts, tokens.ends

    results = []
    for index, sentence in enumerate(tokens.sentences):
        findings = by_sentence["findings"].get(index)
        if not findings:
            continue
        cues = by_sentence["cues"].get(index, [])
        terminators = [cue.start for cue in cues if cue.label == "terminator"]
        # Each cue's category and direction, read once per sentence rather than once per finding.
        parsed_cues = [(cue, *cue.label.split(":")) for cue in cues if cue.label != "terminator"]
        anatomy = by_sentence["anatomy"].get(index, [])
        sides = _side_mentions(anatomy, by_sentence["laterality"].get(index, []), anatomy_entries)
        sizes = by_sentence["sizes"].get(index, [])
        sentence_results = []
        for finding in findings:
            clause = _clause(finding, sentence, terminators)
            status, historical, unchanged = _status(finding, parsed_cues, terminators)
            sentence_results.append({
                "status": status, "historical": historical, "unchanged": unchanged,
                "name": finding.label, "start": starts[finding.start], "end": ends[finding.end - 1],
                "anatomy": _anatomy(finding, _own_anatomy(finding, findings, anatomy, clause), anatomy_entries,
                                    tokens),
                "laterality": _laterality(finding, sides, clause),
                "size_qualifier": _size_qualifier(finding, findings, sizes, clause),
                "measurements": [], "prior_measurements": [], "sentence_index": index,
            })
        start_char, end_char = starts[sentence[0]], ends[sentence[1] - 1]
        _assign_measurements(sentence_results, find_measurements(text, start_char, end_char))
        results.extend(sentence_results)
    return results


def _bucket(mentions: list[Mention], sentence_of: list[int]) -> dict[int, list[Mention]]:
    """Group mentions by the index of the sentence they start in."""
    buckets: dict[int, list[Mention]] = {}
    for mention in mentions:
        buckets.setdefault(sentence_of[mention.start], []).append(mention)
    return buckets


def _within(mentions: list[Mention], region: tuple[int, int]) -> list[Mention]:
    return [m for m in mentions if region[0] <= m.start and m.end <= region[1]]


def _clause(finding: Mention, sentence: tuple[int, int], terminators: list[int]) -> tuple[int, int]:
    """Return the token range of ``sentence`` between the terminators around ``finding``."""
    if not terminators:
        return sentence
    start = max((t for t in terminators if t < finding.start), default=sentence[0])
    end = min((t for t in terminators if t >= finding.end), default=sentence[1])
    return start, end


def _own_anatomy(finding: Mention, findings: list[Mention], anatomy: list[Mention],
                 clause: tuple[int, int]) -> list[Mention]:
    """Return the anatomy mentions of the clause, leaving out those inside another finding ("pleural")."""
    if not anatomy:
        return []
    others = [other for other in findings if other != finding]
    return [m for m in _within(anatomy, clause)
            if not any(o.start <= m.start and m.end <= o.end for o in others)]


def _distance(first: Mention, second: Mention) -> int:
    """Return the number of tokens between two mentions, 0 when they overlap or touch."""
    return max(first.start - second.end, second.start - first.end, 0)


def _in_scope(cue: Mention, direction: str, finding: Mention, terminators: list[int]) -> bool:
    if finding.start >= cue.end and direction != "backward":
        return not any(cue.end <= t < finding.start for t in terminators)
    if finding.end <= cue.start and direction != "forward":
        return not any(finding.end <= t < cue.start for t in terminators)
    return False


def _status(finding: Mention, cues: list[tuple[Mention, str, str]],
            terminators: list[int]) -> tuple[str, bool, bool]:
    """Return the status and the historical and unchanged flags from the cues whose scope covers ``finding``."""
    status, historical, unchanged, best = PRESENT, False, False, None
    for cue, category, direction in cues:
        if not _in_scope(cue, direction, finding, terminators):
            continue
        if category == NEGATED or category == UNCERTAIN:
            # The nearest deciding cue sets the status; the earlier one wins a tie.
            rank = (_distance(cue, finding), cue.start)
            if best is None or rank < best:
                best, status = rank, category
        elif category == "historical":
            historical = True
        elif category == "unchanged":
            unchanged = True
    return status, historical, unchanged


def _anatomy(finding: Mention, mentions: list[Mention], entries: dict[str, dict[str, Any]],
             tokens: Tokens) -> dict[str, Any] | None:
    """Return the nearest anatomy mention, with the nearest lobe and segment added for a lung."""
    if not mentions:
        return None
    nearest = min(mentions, key=lambda m: (_distance(m, finding), m.start))
    anatomy = dict(entries[nearest.label], start=tokens.starts[nearest.start],
                   end=tokens.ends[nearest.end - 1])
    if anatomy["organ"] != "lung":
        return anatomy
    for part in ("lobe", "segment"):
        candidates = [m for m in mentions if entries[m.label].get(part)]
        if anatomy.get(part) is None and candidates:
            closest = min(candidates, key=lambda m: (_distance(m, finding), m.start))
            anatomy[part] = entries[closest.label][part]
            anatomy["laterality"] = anatomy.get("laterality") or entries[closest.label].get("laterality")
    return anatomy


def _side_mentions(anatomy: list[Mention], sides: list[Mention],
                   entries: dict[str, dict[str, Any]]) -> list[tuple[Mention, str]]:
    """Side words and sided anatomy mentions of a sentence, each with its side."""
    candidates = [(m, entries[m.label]["laterality"]) for m in anatomy if entries[m.label].get("laterality")]
    for mention in sides:
        # "right" inside "right upper lobe" is already counted through the anatomy mention.
        if not any(a.start <= mention.start and mention.end <= a.end for a in anatomy):
            candidates.append((mention, mention.label))
    return candidates


def _laterality(finding: Mention, candidates: list[tuple[Mention, str]], clause: tuple[int, int]) -> str | None:
    """Return left, right or bilateral from the nearest side word or sided anatomy mention in the clause."""
    best = None
    for mention, side in candidates:
        if clause[0] <= mention.start and mention.end <= clause[1]:
            rank = (_distance(mention, finding), mention.start)
            if best is None or rank < best[0]:
                best = (rank, side)
    return None if best is None else best[1]


def _size_qualifier(finding: Mention, findings: list[Mention], sizes: list[Mention],
                    clause: tuple[int, int]) -> str | None:
    best = None
    for size in _within(sizes, clause):
        if size.end <= finding.start:
            gap, limit = finding.start - size.end, _QUALIFIER_TOKENS_BEFORE
            # A qualifier with another finding in between belongs to that finding.
            blocked = any(size.end <= other.start < finding.start for other in findings)
        else:
            gap, limit = size.start - finding.end, _QUALIFIER_TOKENS_AFTER
            # "pneumothorax or large pleural effusion": "large" belongs to the finding that follows it.
            blocked = any(finding.end <= other.start < size.start
                          or 0 <= other.start - size.end <= _QUALIFIER_TOKENS_BEFORE
                          for other in findings if other != finding)
        if 0 <= gap <= limit and not blocked and (best is None or gap < best[0]):
            best = (gap, size.label)
    return None if best is None else best[1]


def _assign_measurements(results: list[dict[str, Any]], measurements: list[Measurement]) -> None:
    """Append each measurement to the result of the nearest finding, by character distance."""
    for measurement in measurements:
        gaps = [(_character_gap(result, measurement), result["start"], index)
                for index, result in enumerate(results)]
        nearest = results[min(gaps)[2]]
        key = "prior_measurements" if measurement.prior else "measurements"
        nearest[key].append(measurement)


def _character_gap(result: dict[str, Any], measurement: Measurement) -> int:
    return max(result["start"] - measurement.end, measurement.start - result["end"], 0)
