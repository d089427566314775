"""A regular-expression tokenizer for report text, about three times faster than spaCy's English one.

spaCy's rule-based tokenizer looks up prefixes, suffixes, infixes and special cases for every
whitespace-separated chunk. Report text needs far less: words, numbers, punctuation and the abbreviations
of the vocabulary. :class:`ReportTokenizer` finds them with one regular expression and builds the
:class:`spacy.tokens.Doc` from the words, which took 86 µs for a 100-word report against 300 µs for the
English tokenizer in one measurement.

Tokens, in the order tried at each position:

- an abbreviation of the vocabulary, ending in a full stop ("approx.", "e.g."), in any case;
- a number, with an optional decimal part ("1.2"); "1.No" gives "1", "." and "No";
- a run of letters of any script; digits and underscores end it, so "5mm" gives "5" and "mm";
- any other single character that is not white space ("-", "/", "×", "(").

White space follows the spaCy convention: one space after a token is that token's trailing space, and any
other run of white space (line breaks, a second space, white space at the start) is a token of its own.
So ``doc.text`` equals the input and every token's ``idx`` is its character offset in it.

The vocabulary's phrases are split by the same tokenizer (``pipe``), so a phrase such as "x-ray" or
"r/o" matches however it is split.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from spacy.attrs import IDX, LENGTH
from spacy.tokens import Doc
from spacy.vocab import Vocab

# A token with the single space after it, or a run of white space that is a token of its own.
_TOKEN = r"(?:{abbreviations}\d+(?:\.\d+)?|[^\W\d_]+|[^\w\s]|_)"
# The abbreviations are tried only where a few letters and a full stop follow, which is rare, so that
# the alternatives are not tried at every word.
_ABBREVIATIONS = r"(?=[^\s.]{{1,{longest}}}\.)(?i:{alternatives})|"
_PATTERN = r"({token})( ?)|(\s+)"


class ReportTokenizer:
    """Split text into the tokens described in the module notes.

    After a call, ``doc.user_data["report_words"]`` contains the token texts and
    ``doc.user_data["report_token_offsets"]`` the lists of token start and end character offsets, so that
    later components need not read them from the Doc.
    """

    def __init__(self, vocab: Vocab, abbreviations: Iterable[str] = ()) -> None:
        self.vocab = vocab
        ordered = sorted({word.lower() for word in abbreviations if word.strip()}, key=len, reverse=True)
        alternatives = "|".join(re.escape(word) for word in ordered)
        longest = max((len(word) for word in ordered), default=0)
        token = _TOKEN.format(abbreviations=_ABBREVIATIONS.format(longest=longest, alternatives=alternatives)
                              if alternatives else "")
        self.pattern = re.compile(_PATTERN.format(token=token))

    def __call__(self, text: str) -> Doc:
        found = self.pattern.findall(text)
        words = [word or blank for word, _, blank in found]
        doc = Doc(self.vocab, words=words, spaces=[bool(space) for _, space, _ in found])
        offsets = doc.to_array([IDX, LENGTH])
        doc.user_data["report_words"] = words
        doc.user_data["report_token_offsets"] = (offsets[:, 0].tolist(), offsets.sum(axis=1).tolist())
        return doc

    def pipe(self, texts: Iterable[str], batch_size: int = 1000) -> Iterator[Doc]:
        """Tokenize each text, like ``spacy.tokenizer.Tokenizer.pipe``."""
        for text in texts:
            yield self(text)
