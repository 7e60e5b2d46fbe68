"""Input checks shared by every entry point, so bad input fails early with a message naming the parameter."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from numbers import Real
from typing import Any


def check_unicode(text: str, name: str) -> str:
    """Refuse a string that cannot be encoded as UTF-8 (a lone surrogate, e.g. from a ``"\\ud800"`` JSON escape
    or undecodable bytes in ``sys.argv``), naming ``name`` and the position.

    The tokenizer and the store would otherwise fail deep inside with an error that names neither.
    Every other code point (emoji, RTL, CJK, zero-width characters, NUL) is valid text and passes.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{name} is not valid Unicode text: lone surrogate {text[exc.start]!r} at position {exc.start}"
        ) from None
    return text


def check_texts(texts: Any, name: str) -> list[str]:
    """Return ``texts`` as a list of strings, or raise naming ``name`` and the offending index.

    A single string is refused (it would silently be read as a list of characters).
    Empty strings are allowed here: they encode to zero tokens and score 0.
    """
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Sequence):
        raise TypeError(f"{name} must be a list of strings, got {type(texts).__name__}")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"{name}[{i}] must be a string, got {type(t).__name__}")
        check_unicode(t, f"{name}[{i}]")
    return list(texts)


# Characters that show nothing: controls (NUL, ...), format characters (zero-width space/joiners, BOM, bidi
# marks) and separators. A query made only of these encodes to no token, so it could only ever score 0.
_INVISIBLE = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})


def has_visible_text(text: str) -> bool:
    return any(not ch.isspace() and unicodedata.category(ch) not in _INVISIBLE for ch in text)


def check_query(query: Any) -> str:
    """A query must be a string with visible content (not only whitespace, zero-width or control characters)."""
    if not isinstance(query, str):
        raise TypeError(f"query must be a string, got {type(query).__name__}")
    if not query.strip():
        raise ValueError("query must be a non-empty string")
    check_unicode(query, "query")
    if not has_visible_text(query):
        raise ValueError("query must be a non-empty string (it holds only invisible characters)")
    return query


def check_top_k(top_k: Any) -> int | None:
    if top_k is None:
        return None
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer or None, got {top_k!r}")
    return top_k


def check_threshold(threshold: Any, name: str = "threshold") -> float | None:
    if threshold is None:
        return None
    # numbers.Real: numpy floats too. NaN fails the range test (every comparison with NaN is false).
    if isinstance(threshold, bool) or not isinstance(threshold, Real) or not 0.0 <= threshold <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1] or None, got {threshold!r}")
    return float(threshold)


def check_scores(scores: Any, name: str, n: int) -> list[float]:
    """``n`` finite real numbers (e.g. a retriever's scores), or raise naming ``name`` and the offending index."""
    if isinstance(scores, (str, bytes)) or not (hasattr(scores, "__len__") and hasattr(scores, "__iter__")):
        raise TypeError(f"{name} must be a list of numbers, got {type(scores).__name__}")
    scores = list(scores)  # a numpy array is fine too
    if len(scores) != n:
        raise ValueError(f"{name} must hold one score per document: got {len(scores)} for {n} document(s)")
    out = []
    for i, s in enumerate(scores):
        if isinstance(s, bool) or not isinstance(s, Real) or not math.isfinite(s):
            raise ValueError(f"{name}[{i}] must be a finite number, got {s!r}")
        out.append(float(s))
    return out


def check_pairs(pairs: Any) -> list[tuple[str, str]]:
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence):
        raise TypeError(f"pairs must be a list of (a, b) string pairs, got {type(pairs).__name__}")
    out = []
    for i, p in enumerate(pairs):
        if not isinstance(p, Sequence) or isinstance(p, (str, bytes)) or len(p) != 2:
            raise TypeError(f"pairs[{i}] must be an (a, b) pair of strings")
        a, b = p
        if not isinstance(a, str) or not isinstance(b, str):
            raise TypeError(f"pairs[{i}] must hold two strings, got ({type(a).__name__}, {type(b).__name__})")
        check_unicode(a, f"pairs[{i}][0]")
        check_unicode(b, f"pairs[{i}][1]")
        out.append((a, b))
    return out
