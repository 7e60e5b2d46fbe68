"""Lexical opposition: pairs of words of opposite meaning ("enable" / "disable", "heavier" / "lighter"), which token
cosine scores as near-synonyms. The list (``antonyms.tsv``, built by ``scripts/build_lexicon.py`` from WordNet 3.0
and verimap's own pairs) ships with the package and is read once per process.

>>> from verimap.lexicon import lexicon
>>> lex = lexicon()
>>> lex.opposite("enable", "disable"), lex.opposite("enable", "turn on")
(True, False)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

SHIFT = 1 << 20  # word ids stay below this, so a pair key id_a * SHIFT + id_b is unique


@dataclass(frozen=True)
class Lexicon:
    ids: dict[str, int]  # word (lower case; "turn on" for verb + particle) → id ≥ 1
    pairs: np.ndarray  # sorted int64 keys id_a * SHIFT + id_b, both orders

    def id(self, word: str) -> int:
        return self.ids.get(word.lower(), 0)

    def opposite(self, a: str, b: str) -> bool:
        return bool(self.opposite_ids(np.array([self.id(a)]), np.array([self.id(b)]))[0])

    def opposite_ids(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Elementwise: whether word ids ``a`` and ``b`` (broadcast) are opposites (id 0 is never one)."""
        keys = a.astype(np.int64) * SHIFT + b.astype(np.int64)
        pos = np.searchsorted(self.pairs, keys).clip(0, len(self.pairs) - 1)
        return (self.pairs[pos] == keys) & (a > 0) & (b > 0)


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    text = (resources.files("verimap.lexicon") / "antonyms.tsv").read_text(encoding="utf-8")
    ids: dict[str, int] = {}
    keys = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        a, b = line.split("\t")
        ia, ib = ids.setdefault(a, len(ids) + 1), ids.setdefault(b, len(ids) + 1)
        keys += [ia * SHIFT + ib, ib * SHIFT + ia]
    if len(ids) >= SHIFT:
        raise ValueError("antonym lexicon too large for its pair keys")
    return Lexicon(ids, np.unique(np.array(keys, dtype=np.int64)))
