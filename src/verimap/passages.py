"""Documents into passages that fit the encoder: sentence-aware windows measured in its own word pieces.

A document longer than ``max_tokens`` word pieces becomes several passages. The rule:

1. Sentences end at ``.``, ``!`` or ``?`` followed by whitespace (the rule of :mod:`verimap.splitter`); each
   sentence's size is counted in the encoder's word pieces (one tokenizer call per document, with offsets).
2. Sentences are packed greedily into a window of at most ``max_tokens`` pieces. The next window starts with the
   last sentences of the previous one, as many as fit in ``overlap`` pieces (none if the last sentence alone is
   longer), so a statement spanning a boundary is read whole at least once.
3. A sentence longer than ``max_tokens`` on its own is cut into windows of ``max_tokens`` pieces at word
   boundaries, each starting ``overlap`` pieces before the previous one ended.

Every passage is a substring of the document (``text[start:end]``; offsets in characters), so nothing is rewritten,
and none is longer than ``max_tokens`` pieces: the encoder never cuts one (checked by re-tokenizing every passage).
A document that fits is one passage: itself. Passage ids are the document's id when it is one passage, else
``"<document id>#<n>"`` (n from 0), so re-indexing gives the same ids.

>>> from verimap.encoder import TokenEncoder
>>> tok = TokenEncoder(parser=False).tokenizer
>>> doc = Document("d1", "One short sentence. " * 3 + "A last one.")
>>> [(p.id, p.text) for p in split_document(doc, tok, max_tokens=8, overlap=4)]
[('d1#0', 'One short sentence. One short sentence.'), ('d1#1', 'One short sentence. One short sentence.'), ('d1#2', 'One short sentence. A last one.')]
>>> [(p.id, p.start, p.end) for p in split_document(doc, tok, max_tokens=64, overlap=8)]
[('d1', 0, 71)]
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_OVERLAP = 32  # word pieces, at most: a short closing sentence is repeated, a long one is not
PARENT_KEY = "verimap_parent"  # Chroma metadata of every passage: its document's id,
INDEX_KEY = "verimap_passage"  # its number in the document (from 0),
START_KEY = "verimap_start"  # and its character offsets in the document's text
END_KEY = "verimap_end"
COUNT_KEY = "verimap_passages"  # how many passages the document has
RESERVED = (PARENT_KEY, INDEX_KEY, START_KEY, END_KEY, COUNT_KEY)

_SENTENCE = re.compile(r"\S.*?(?:[.!?](?=\s)|$)", re.DOTALL)


@dataclass(frozen=True)
class Document:
    """One record to index: ``id`` (stable across runs), ``text`` and user metadata."""

    id: str
    text: str
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Passage:
    """One window of a document: ``text == document.text[start:end]``."""

    id: str
    text: str
    parent_id: str
    index: int
    count: int
    start: int
    end: int
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def store_meta(self) -> dict[str, Any]:
        """The metadata it is stored with: the document's, plus where it comes from (:data:`RESERVED` keys)."""
        return {
            **{k: v for k, v in self.meta.items() if k not in RESERVED},
            PARENT_KEY: self.parent_id,
            INDEX_KEY: self.index,
            COUNT_KEY: self.count,
            START_KEY: self.start,
            END_KEY: self.end,
        }


def passage_id(parent: str, index: int, count: int) -> str:
    return parent if count == 1 else f"{parent}#{index}"


def _sentences(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _SENTENCE.finditer(text)]


def windows(text: str, offsets: list[tuple[int, int]], max_tokens: int, overlap: int) -> list[tuple[int, int]]:
    """Character spans of the windows of ``text``, whose word pieces have character ``offsets``.

    A window of whole words tokenizes alone to exactly the pieces it had in context; one cut inside a word (a
    single word longer than the limit) may not, and is checked by :func:`split_documents`."""
    pieces = [(s, e) for s, e in offsets if e > s]
    if len(pieces) <= max_tokens:
        return [(0, len(text))] if text.strip() else []
    starts = [s for s, _ in pieces]
    # Pieces per sentence: those starting inside it (a piece never spans a sentence end, which is whitespace).
    sentences = []
    for s, e in _sentences(text):
        lo, hi = bisect.bisect_left(starts, s), bisect.bisect_left(starts, e)
        if hi > lo:
            sentences.append((s, e, lo, hi))
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(sentences):
        j, total = i, 0
        while j < len(sentences) and total + sentences[j][3] - sentences[j][2] <= max_tokens:
            total += sentences[j][3] - sentences[j][2]
            j += 1
        if j == i:  # one sentence over the limit: windows of pieces, cut where a word starts
            out += _cut(text, pieces, sentences[i][2], sentences[i][3], max_tokens, overlap)
            i += 1
            continue
        out.append((sentences[i][0], sentences[j - 1][1]))
        if j == len(sentences):
            break
        k, kept = j, 0
        while k - 1 > i and kept + sentences[k - 1][3] - sentences[k - 1][2] <= overlap:
            kept += sentences[k - 1][3] - sentences[k - 1][2]
            k -= 1
        i = k
    return out


def _cut(text: str, pieces, lo: int, hi: int, max_tokens: int, overlap: int) -> list[tuple[int, int]]:
    """Windows of pieces ``lo:hi`` (one long sentence), each ending where a word ends when it can."""

    def word_start(p: int) -> bool:  # whitespace before it: a new word
        return p == 0 or pieces[p][0] > pieces[p - 1][1]

    out = []
    a = lo
    while True:
        b = min(a + max_tokens, hi)
        if b < hi:
            cut = next((c for c in range(b, a + max(1, max_tokens // 2), -1) if word_start(c)), b)
            b = cut
        out.append((pieces[a][0], pieces[b - 1][1]))
        if b >= hi:
            return out
        nxt = max(a + 1, b - overlap)
        a = next((c for c in range(nxt, b) if word_start(c)), b)


def split_document(doc: Document, tokenizer, max_tokens: int, overlap: int = DEFAULT_OVERLAP) -> list[Passage]:
    """The passages of ``doc``, in order (``[]`` for a document with no visible text)."""
    return split_documents([doc], tokenizer, max_tokens, overlap)


def split_documents(
    docs: Iterable[Document], tokenizer, max_tokens: int, overlap: int = DEFAULT_OVERLAP
) -> list[Passage]:
    """The passages of every document, in order: one tokenizer call for all, one more to check the windows.

    :param tokenizer: the encoder's (a fast transformers tokenizer: offsets are needed).
    :param max_tokens: longest passage in word pieces, without [CLS]/[SEP] (``TokenEncoder.max_length - 2`` at most).
    :param overlap: word pieces repeated between consecutive windows, at most (sentence-aligned).
    """
    if max_tokens < 8:
        raise ValueError(f"max_tokens must be at least 8 (got {max_tokens})")
    if not 0 <= overlap < max_tokens // 2 + 1:
        raise ValueError(f"overlap must be in 0..{max_tokens // 2} (got {overlap})")
    docs = list(docs)
    if not docs:
        return []
    offsets = tokenizer([d.text for d in docs], add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    spans = [windows(d.text, list(o), max_tokens, overlap) for d, o in zip(docs, offsets)]
    for _ in range(8):  # each round only splits windows further; one is almost always enough
        spans, changed = _check(docs, spans, tokenizer, max_tokens, overlap)
        if not changed:
            break
    out = []
    for d, doc_spans in zip(docs, spans):
        n = len(doc_spans)
        for k, (s, e) in enumerate(doc_spans):
            out.append(Passage(passage_id(d.id, k, n), d.text[s:e], d.id, k, n, s, e, dict(d.meta)))
    return out


def _whole_words(text: str, s: int, e: int) -> bool:
    return (s == 0 or text[s - 1].isspace()) and (e == len(text) or text[e].isspace())


def _check(docs, spans, tokenizer, max_tokens: int, overlap: int):
    """Re-tokenize every window cut inside a word (which can tokenize to more pieces alone than it had in context)
    and split again those over the limit (rare: a word of hundreds of characters)."""
    flat = [
        (i, s, e)
        for i, doc_spans in enumerate(spans)
        if len(doc_spans) > 1
        for s, e in doc_spans
        if not _whole_words(docs[i].text, s, e)
    ]
    if not flat:
        return spans, False
    counts = tokenizer([docs[i].text[s:e] for i, s, e in flat], add_special_tokens=False, return_length=True)["length"]
    over = {(i, s, e) for (i, s, e), n in zip(flat, counts) if n > max_tokens}
    if not over:
        return spans, False
    fixed = []
    for i, doc_spans in enumerate(spans):
        new = []
        for s, e in doc_spans:
            if (i, s, e) not in over:
                new.append((s, e))
                continue
            part = docs[i].text[s:e]
            sub_offsets = tokenizer(part, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
            pieces = [(a, b) for a, b in sub_offsets if b > a]
            new += [(s + a, s + b) for a, b in _cut(part, pieces, 0, len(pieces), max_tokens, overlap)]
        fixed.append(new)
    return fixed, True
