"""The spaCy pipeline behind :func:`workbench.modality.report.process_report`.

A blank English pipeline (no downloaded model) with four rule components, in order:

``report_sections``
    finds the section headers (:mod:`workbench.modality.report_sections`).
``report_sentences``
    sets sentence starts at ".", "!" and "?", at section headers, at blank lines and at lines that start
    with a list number or bullet. Abbreviations from the vocabulary ("approx.") do not end a sentence, and
    a list number glued to its sentence ("1.No evidence") is split off by a tokenizer infix rule.
    NOTE: any other line break continues the sentence, because reports wrap lines inside sentences, so
    unnumbered lines without a full stop are read as one sentence.
``report_targets``
    matches findings, anatomy, laterality, size qualifiers, ConText cues and scope terminators with
    case-insensitive :class:`spacy.matcher.PhraseMatcher` objects (``attr="LOWER"``) into
    ``doc.user_data["report_matches"]``, and the findings also into ``doc.spans["report_findings"]`` for
    displaCy.
``report_context``
    assigns status, flags, anatomy, laterality, size and measurements to each finding
    (:mod:`workbench.modality.report_context`) into ``doc.user_data["report_results"]``.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy
import spacy
from spacy.attrs import IDX, LENGTH, SENT_START
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span
from spacy.util import compile_infix_regex

from workbench.modality.report_context import Mention, Tokens, assign_context, longest_mentions
from workbench.modality.report_sections import find_sections
from workbench.modality.report_vocabulary import Vocabulary, load_vocabulary, vocabulary_key

#: Kinds of phrases matched by ``report_targets``, the keys of ``doc.user_data["report_matches"]``.
MATCH_KEYS = ("findings", "anatomy", "laterality", "sizes", "cues")

_SENTENCE_END = frozenset({".", "!", "?"})
# A line that starts with a list number ("1.", "2)") or a bullet starts a new sentence.
_LIST_LINE = re.compile(r"\n[ \t]*(?:\d{1,2}[.)]|[-*•])")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
# spaCy's English tokenizer keeps abbreviations such as "Mass." (Massachusetts) or "Ill." as one token, so a
# report sentence ending in "Mass." would not end. Only these title-case exceptions are kept.
_KEPT_TITLE_ABBREVIATIONS = frozenset({"Dr.", "Prof.", "Mr.", "Mrs.", "Ms.", "St.", "Jr."})
_TITLE_ABBREVIATION = re.compile(r"^[A-Z][a-z]+\.$")


def build_pipeline(vocabulary: str | Path | None = None) -> Language:
    """Build the report pipeline for the default vocabulary merged with the user file ``vocabulary``.

    When ``vocabulary`` is None, the file named by ``WORKBENCH_REPORT_VOCABULARY`` is merged if that
    variable is set. Pipelines are cached per file and modification time, because building the matchers
    takes far longer than processing a report.
    """
    return _build_cached(*vocabulary_key(vocabulary))


def run_pipeline(nlp: Language, text: str) -> Doc:
    """Run ``nlp`` on ``text``, like ``nlp(text)`` but without rebuilding the text from the tokens.

    ``Doc.text`` joins every token on each access, which took about 15% of the pipeline's time in a
    cProfile run on 94-word reports, so the components read the text from ``doc.user_data["report_text"]``.
    """
    doc = nlp.make_doc(text)
    doc.user_data["report_text"] = text
    for _, component in nlp.pipeline:
        doc = component(doc)
    return doc


@lru_cache(maxsize=4)
def _build_cached(vocabulary_path: str, modified: float | None) -> Language:
    vocabulary = load_vocabulary(vocabulary_path or None)
    nlp = spacy.blank("en")
    _tune_tokenizer(nlp, vocabulary)
    nlp.add_pipe("report_sections")
    nlp.add_pipe("report_sentences")
    nlp.add_pipe("report_targets", config={"vocabulary_path": vocabulary_path})
    nlp.add_pipe("report_context")
    return nlp


def _tune_tokenizer(nlp: Language, vocabulary: Vocabulary) -> None:
    rules = {text: tokens for text, tokens in nlp.tokenizer.rules.items()
             if not _TITLE_ABBREVIATION.match(text) or text in _KEPT_TITLE_ABBREVIATIONS}
    for abbreviation in vocabulary.abbreviations:
        for written in {abbreviation.lower(), abbreviation.capitalize(), abbreviation.upper()}:
            rules[written] = [{"ORTH": written}]
    nlp.tokenizer.rules = rules
    # "1.No evidence": split a list number from a word glued to it, but not "1.2".
    infixes = [*nlp.Defaults.infixes, r"(?<=^[0-9])\.(?=[A-Za-z])", r"(?<=^[0-9][0-9])\.(?=[A-Za-z])"]
    nlp.tokenizer.infix_finditer = compile_infix_regex(infixes).finditer


@Language.component("report_sections")
def _sections_component(doc: Doc) -> Doc:
    # Doc.text joins every token on each access, so the text is kept for the later components.
    text = doc.user_data.get("report_text") or doc.text
    sections, header_starts = find_sections(text)
    doc.user_data["report_text"] = text
    doc.user_data["report_sections"] = sections
    doc.user_data["report_header_starts"] = header_starts
    return doc


@Language.component("report_sentences")
def _sentences_component(doc: Doc) -> Doc:
    text = doc.user_data["report_text"]
    forced = set(doc.user_data["report_header_starts"])
    forced.update(section.start for section in doc.user_data["report_sections"])
    forced.update(match.end() for match in _BLANK_LINE.finditer(text))
    forced.update(match.start() + 1 for match in _LIST_LINE.finditer(text))
    boundaries = sorted(forced)

    offsets = doc.to_array([IDX, LENGTH]).tolist()
    flags = numpy.full(len(offsets), -1, dtype="int64")
    starts, ends, sentence_starts = [], [], []
    previous_ends, previous_number, previous_end = True, False, 0
    for i, (start, length) in enumerate(offsets):
        word = text[start:start + length]
        index = bisect_left(boundaries, previous_end)
        if previous_ends or (index < len(boundaries) and boundaries[index] <= start):
            flags[i] = 1
            sentence_starts.append(i)
        # The full stop of a list number at a sentence start ("1." in "1.No evidence") ends nothing.
        previous_ends = word in _SENTENCE_END and not previous_number
        previous_number = flags[i] == 1 and word.isdigit() and len(word) <= 2
        previous_end = start + length
        starts.append(start)
        ends.append(previous_end)

    # spaCy reads attribute arrays as uint64, where -1 (not a sentence start) wraps around as it expects.
    doc.from_array([SENT_START], flags.astype("uint64"))
    sentences = list(zip(sentence_starts, [*sentence_starts[1:], len(doc)], strict=True))
    doc.user_data["report_tokens"] = Tokens(starts=starts, ends=ends, sentences=sentences)
    return doc


class _TargetMatcher:
    """Match the vocabulary's phrases, keeping the longest of overlapping matches of each kind."""

    def __init__(self, nlp: Language, vocabulary: Vocabulary) -> None:
        self.matchers = {key: PhraseMatcher(nlp.vocab, attr="LOWER") for key in MATCH_KEYS}
        self.strings = nlp.vocab.strings
        self.anatomy: dict[str, dict[str, Any]] = {}
        for name, words in vocabulary.findings.items():
            self._add("findings", name, words, nlp)
        for index, entry in enumerate(vocabulary.anatomy):
            label = f"anatomy{index}"
            self.anatomy[label] = {key: entry.get(key) for key in ("organ", "lobe", "segment", "laterality")}
            self._add("anatomy", label, entry.get("synonyms", ()), nlp)
        for side, words in vocabulary.laterality.items():
            self._add("laterality", side, words, nlp)
        for size, words in vocabulary.size_qualifiers.items():
            self._add("sizes", size, words, nlp)
        for category, directions in vocabulary.cues.items():
            for direction, words in directions.items():
                self._add("cues", f"{category}:{direction}", words, nlp)
        self._add("cues", "terminator", vocabulary.terminators, nlp)

    def _add(self, key: str, label: str, words: Any, nlp: Language) -> None:
        if words:
            self.matchers[key].add(label, list(nlp.tokenizer.pipe(words)))

    def __call__(self, doc: Doc) -> Doc:
        matches = {}
        for key, matcher in self.matchers.items():
            found = [Mention(self.strings[match_id], start, end) for match_id, start, end in matcher(doc)]
            matches[key] = longest_mentions(found)
        # A cue inside a finding ("collapse", "free fluid") is part of the finding.
        in_findings = {i for finding in matches["findings"] for i in range(finding.start, finding.end)}
        matches["cues"] = [cue for cue in matches["cues"]
                           if not in_findings.intersection(range(cue.start, cue.end))]

        doc.user_data["report_matches"] = matches
        doc.user_data["report_anatomy_entries"] = self.anatomy
        # Spans for displaCy and other spaCy tools.
        doc.spans["report_findings"] = [Span(doc, m.start, m.end, label=m.label) for m in matches["findings"]]
        return doc


@Language.factory("report_targets", default_config={"vocabulary_path": ""})
def _make_targets(nlp: Language, name: str, vocabulary_path: str) -> _TargetMatcher:
    return _TargetMatcher(nlp, load_vocabulary(vocabulary_path or None))


@Language.component("report_context")
def _context_component(doc: Doc) -> Doc:
    data = doc.user_data
    data["report_results"] = assign_context(data["report_text"], data["report_tokens"],
                                            data["report_matches"], data["report_anatomy_entries"])
    return doc
