"""The spaCy pipeline behind :func:`workbench.modality.report.process_report`.

A blank English pipeline (no downloaded model) whose tokenizer is replaced by
:class:`~workbench.modality.report_tokenizer.ReportTokenizer`, with four rule components, in order:

``report_sections``
    finds the section headers (:mod:`workbench.modality.report_sections`).
``report_sentences``
    sets sentence starts at ".", "!" and "?", at section headers, at blank lines and at lines that start
    with a list number or bullet. Abbreviations from the vocabulary ("approx.") are single tokens and do not
    end a sentence, and the full stop of a list number at a sentence start ("1.No evidence") ends nothing.
    NOTE: any other line break continues the sentence, because reports wrap lines inside sentences, so
    unnumbered lines without a full stop are read as one sentence.
``report_targets``
    matches findings, anatomy, laterality, size qualifiers, ConText cues and scope terminators with
    one case-insensitive :class:`spacy.matcher.PhraseMatcher` (``attr="LOWER"``) into
    ``doc.user_data["report_matches"]``, and the findings also into ``doc.spans["report_findings"]`` for
    displaCy (except under :func:`run_pipeline`).
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
from spacy.attrs import SENT_START
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span

from workbench.modality.report_context import Mention, Tokens, assign_context, longest_mentions
from workbench.modality.report_sections import find_sections
from workbench.modality.report_tokenizer import ReportTokenizer
from workbench.modality.report_vocabulary import Vocabulary, load_vocabulary, vocabulary_key

#: Kinds of phrases matched by ``report_targets``, the keys of ``doc.user_data["report_matches"]``.
MATCH_KEYS = ("findings", "anatomy", "laterality", "sizes", "cues")

_SENTENCE_END = frozenset({".", "!", "?"})
# Words that join coordinated modifiers whose head noun is written once ("pleural or pericardial effusion").
_COORDINATORS = frozenset({"or", "and", "/", ","})
# A line that starts with a list number ("1.", "2)") or a bullet starts a new sentence.
_LIST_LINE = re.compile(r"\n[ \t]*(?:\d{1,2}[.)]|[-*•])")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
# Titles before a name, kept as one token so that their full stop ends no sentence.
_TITLE_ABBREVIATIONS = ("dr.", "prof.", "mr.", "mrs.", "ms.")


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
    The Doc gets neither the ``report_findings`` spans nor sentence starts, which only spaCy tools read.
    """
    doc = nlp.make_doc(text)
    doc.user_data["report_text"] = text
    doc.user_data["report_spacy_annotations"] = False
    for _, component in nlp.pipeline:
        doc = component(doc)
    return doc


@lru_cache(maxsize=4)
def _build_cached(vocabulary_path: str, modified: float | None) -> Language:
    vocabulary = load_vocabulary(vocabulary_path or None)
    nlp = spacy.blank("en")
    nlp.tokenizer = ReportTokenizer(nlp.vocab, (*vocabulary.abbreviations, *_TITLE_ABBREVIATIONS))
    nlp.add_pipe("report_sections")
    nlp.add_pipe("report_sentences")
    nlp.add_pipe("report_targets", config={"vocabulary_path": vocabulary_path})
    nlp.add_pipe("report_context")
    return nlp


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
    starts, ends = doc.user_data["report_token_offsets"]
    count = len(starts)
    forced = set(doc.user_data["report_header_starts"])
    forced.update(section.start for section in doc.user_data["report_sections"])
    forced.update(match.end() for match in _BLANK_LINE.finditer(text))
    forced.update(match.start() + 1 for match in _LIST_LINE.finditer(text))

    # A forced boundary starts the first token at or after it, unless it falls inside the token before.
    sentence_starts = {0} if count else set()
    for boundary in forced:
        index = bisect_left(starts, boundary)
        if index < count and (index == 0 or ends[index - 1] <= boundary):
            sentence_starts.add(index)
    # A sentence ends after ".", "!" or "?", except the full stop of a list number that starts a
    # sentence ("1." in "1.No evidence"). Ends are visited in order, so a list number's own start is known.
    for index in [i for i, word in enumerate(doc.user_data["report_words"]) if word in _SENTENCE_END]:
        previous = index - 1
        if previous in sentence_starts and _is_list_number(text, starts[previous], ends[previous]):
            continue
        if index + 1 < count:
            sentence_starts.add(index + 1)

    ordered = sorted(sentence_starts)
    if doc.user_data.get("report_spacy_annotations", True):
        # For doc.sents; run_pipeline leaves it out, as the later components read report_tokens.
        flags = numpy.full(count, -1, dtype="int64")
        flags[ordered] = 1
        # spaCy reads attribute arrays as uint64, where -1 (not a sentence start) wraps around as it expects.
        doc.from_array([SENT_START], flags.astype("uint64"))
    sentences = list(zip(ordered, [*ordered[1:], count], strict=True))
    doc.user_data["report_tokens"] = Tokens(starts=starts, ends=ends, sentences=sentences)
    return doc


def _is_list_number(text: str, start: int, end: int) -> bool:
    return end - start <= 2 and text[start:end].isdigit()


class _TargetMatcher:
    """Match the vocabulary's phrases, keeping the longest of overlapping matches of each kind.

    One PhraseMatcher contains every kind, with match ids ``"<kind>|<label>"``, because each matcher call
    walks the whole Doc. A table of match ids then gives each match its kind.
    """

    def __init__(self, nlp: Language, vocabulary: Vocabulary) -> None:
        self.matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
        self.kinds: dict[int, tuple[str, str]] = {}
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
        # Finding synonyms of two or more words, as lower-case token text joined by spaces, for ellipsis.
        self.phrases = {" ".join(token.lower_ for token in doc if not token.is_space): name
                        for name, words in vocabulary.findings.items()
                        for doc in nlp.tokenizer.pipe(words) if len(doc) > 1}

    def _add(self, key: str, label: str, words: Any, nlp: Language) -> None:
        if words:
            match_id = f"{key}|{label}"
            self.matcher.add(match_id, list(nlp.tokenizer.pipe(words)))
            self.kinds[nlp.vocab.strings[match_id]] = (key, label)

    def __call__(self, doc: Doc) -> Doc:
        found: dict[str, list[Mention]] = {key: [] for key in MATCH_KEYS}
        kinds = self.kinds
        new_mention = tuple.__new__  # Mention(label, start, end) without the keyword-handling wrapper
        for match_id, start, end in self.matcher(doc):
            key, label = kinds[match_id]
            found[key].append(new_mention(Mention, (label, start, end)))
        matches = {key: longest_mentions(mentions) for key, mentions in found.items()}
        if self.phrases and matches["findings"]:
            matches["findings"] = self._elided(doc.user_data["report_words"], matches["findings"])
        # A cue inside a finding ("collapse", "free fluid") is part of the finding.
        in_findings = bytearray(len(doc))
        for finding in matches["findings"]:
            in_findings[finding.start:finding.end] = b"\x01" * (finding.end - finding.start)
        matches["cues"] = [cue for cue in matches["cues"] if in_findings.find(1, cue.start, cue.end) < 0]

        doc.user_data["report_matches"] = matches
        doc.user_data["report_anatomy_entries"] = self.anatomy
        # Spans for displaCy and other spaCy tools. run_pipeline leaves them out, because process_report
        # reads only the matches and creating spans took a fifth of this component's time.
        if doc.user_data.get("report_spacy_annotations", True):
            doc.spans["report_findings"] = [Span(doc, m.start, m.end, label=m.label) for m in matches["findings"]]
        return doc


    def _elided(self, words: list[str], findings: list[Mention]) -> list[Mention]:
        """Add the findings whose head noun is left out before a coordinated one.

        In "no pleural or pericardial effusion", "pleural" means "pleural effusion". The walk starts at a
        finding of two or more words and goes back over "or", "and", "/" or "," and the word before each.
        Every such word that forms a finding synonym with the rest of that finding ("pleural" + "effusion")
        becomes a mention of that finding, covering the word alone.
        """
        candidates = [finding for finding in findings if finding.end - finding.start >= 2 and finding.start >= 2
                      and words[finding.start - 1].lower() in _COORDINATORS]
        if not candidates:
            return findings
        covered = {index for finding in findings for index in range(finding.start, finding.end)}
        added = []
        for finding in candidates:
            head = " ".join(words[index].lower() for index in range(finding.start + 1, finding.end))
            position = finding.start - 1
            while position >= 1 and words[position].lower() in _COORDINATORS:
                modifier = position - 1
                if modifier in covered or words[modifier] in _COORDINATORS:
                    break
                name = self.phrases.get(f"{words[modifier].lower()} {head}")
                if name is None:
                    break
                added.append(Mention(name, modifier, modifier + 1))
                covered.add(modifier)
                # ", or" joins like "or": step over the comma as well.
                position = modifier - 1
                if position >= 1 and words[position] == "," and words[position - 1].lower() in ("or", "and"):
                    position -= 1
        return sorted([*findings, *added], key=lambda mention: mention.start) if added else findings


@Language.factory("report_targets", default_config={"vocabulary_path": ""})
def _make_targets(nlp: Language, name: str, vocabulary_path: str) -> _TargetMatcher:
    return _TargetMatcher(nlp, load_vocabulary(vocabulary_path or None))


@Language.component("report_context")
def _context_component(doc: Doc) -> Doc:
    data = doc.user_data
    data["report_results"] = assign_context(data["report_text"], data["report_tokens"],
                                            data["report_matches"], data["report_anatomy_entries"])
    return doc
