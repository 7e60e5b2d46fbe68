"""Input checks shared by every entry point, so bad input fails early with a message naming the parameter."""

from __future__ import annotations

from typing import Any, Sequence


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
    return list(texts)


def check_query(query: Any) -> str:
    """A query must be a string with visible content."""
    if not isinstance(query, str):
        raise TypeError(f"query must be a string, got {type(query).__name__}")
    if not query.strip():
        raise ValueError("query must be a non-empty string")
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
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1] or None, got {threshold!r}")
    return float(threshold)


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
        out.append((a, b))
    return out
