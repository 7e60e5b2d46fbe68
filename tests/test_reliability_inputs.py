"""Issue 8, bad input to the core: every input either gets a clear error naming the parameter, or a documented
pass-through (docs/reliability.md); never a crash inside torch or the tokenizer.

Property tests draw texts from an alphabet of odd Unicode (emoji and ZWJ sequences, RTL, CJK, zero-width
characters, NUL and other controls, combining marks) and check the contract of ``score``/``rank``: one finite
score in [0, 1] per document, order and indices preserved, inputs untouched.
"""

from __future__ import annotations

import asyncio
import copy
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verimap import MaxSim, PooledCosine, Ranking, TruncationWarning
from verimap.inputs import has_visible_text
from verimap.testing import FAST as SHARED_FAST

FAST = settings(SHARED_FAST, max_examples=40)  # the adapters' suites' settings, with 40 examples

QUERY = "Did the dog bite the man?"
DOCS = ["The dog bit the man.", "The man bit the dog.", "Paris is the capital of France."]

ODD = (
    "abc xyz DOG bit man . ? "  # plain
    "🐶👨🏽‍💻👩‍👩‍👧🏳️‍🌈✨"  # emoji, skin tone, ZWJ sequences
    "الكلب عض الرجل שלום"  # RTL (Arabic, Hebrew)
    "狗咬了人犬日本語한국어"  # CJK, Hangul
    "\u200b\u200c\u200d\ufeff\u2060\u200e\u200f\u202e"  # zero-width, BOM, bidi marks/overrides
    "\x00\x01\x1f\x7f\t\n\r"  # NUL and other controls
    "e\u0301\u0308ﬁ①Ⅻ"  # combining marks, ligature, compatibility forms
)
odd_text = st.text(alphabet=st.sampled_from(sorted(set(ODD))), max_size=24)
words = st.lists(
    st.sampled_from(["the", "dog", "bit", "man", "🐶", "狗", "الكلب", "\u200b", "\x00", "Paris"]), max_size=8
).map(" ".join)
any_text = st.one_of(odd_text, words)


def finite_probabilities(scores, n):
    assert len(scores) == n
    assert all(isinstance(s, float) and math.isfinite(s) and 0.0 <= s <= 1.0 for s in scores), scores


def record_truncation(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, [w for w in caught if issubclass(w.category, TruncationWarning)]


# -- property tests ----------------------------------------------------------------------------------------------
@FAST
@given(query=any_text, docs=st.lists(any_text, max_size=6), dupe=st.booleans())
def test_score_and_rank_on_odd_unicode(verifier, query, docs, dupe):
    if dupe and docs:
        docs = docs + [docs[0]]
    before = copy.deepcopy(docs)
    if not has_visible_text(query):
        with pytest.raises(ValueError, match="query must be a non-empty string"):
            verifier.score(query, docs)
        with pytest.raises(ValueError, match="query must be a non-empty string"):
            verifier.rank(query, docs)
        return
    scores = verifier.score(query, docs)
    finite_probabilities(scores, len(docs))
    ranking = verifier.rank(query, docs, threshold=0.5)
    kept, rejected = ranking.kept, ranking.rejected
    assert docs == before  # the caller's list is untouched
    assert sorted(r.index for r in kept + rejected) == list(range(len(docs)))  # every document exactly once
    for r in kept + rejected:
        assert r.verifier_score == pytest.approx(scores[r.index], abs=1e-6)
        assert r.accepted == (r.verifier_score >= 0.5)
    if dupe and docs:
        # A duplicate scores like its original (to float rounding: the two rows of one batched matmul may take
        # different kernel paths, measured ~1e-8 apart).
        assert scores[-1] == pytest.approx(scores[0], abs=1e-6)


@FAST
@given(
    top_k=st.one_of(st.none(), st.integers(-3, 8), st.floats(allow_nan=True), st.booleans(), st.just("2")),
    threshold=st.one_of(st.none(), st.floats(-2, 2), st.sampled_from([math.nan, math.inf, -math.inf, True, "0.5"])),
    mode=st.sampled_from(["rerank", "filter", "fuse"]),
)
def test_rank_parameters_are_checked_or_honoured(verifier, top_k, threshold, mode):
    valid_k = top_k is None or (type(top_k) is int and top_k >= 1)
    valid_t = threshold is None or (type(threshold) is float and 0.0 <= threshold <= 1.0)
    if not valid_k or not valid_t:
        name = "top_k|threshold" if not (valid_k or valid_t) else "top_k" if not valid_k else "threshold"
        with pytest.raises(ValueError, match=name):
            verifier.rank(QUERY, DOCS, top_k=top_k, threshold=threshold, mode=mode)
        return
    ranking = verifier.rank(QUERY, DOCS, top_k=top_k, threshold=threshold, mode=mode)
    kept, rejected = ranking.kept, ranking.rejected
    t = verifier.threshold if threshold is None else threshold
    accepted = [r for r in kept + rejected if r.accepted]
    assert all(r.accepted == (r.verifier_score >= t) for r in kept + rejected)
    if mode == "fuse" and threshold is None:  # the default policy ranks everything and drops nothing
        assert rejected == [] and len(kept) == min(len(DOCS), top_k or len(DOCS))
    else:
        assert all(r.verifier_score >= t for r in kept) and all(r.verifier_score < t for r in rejected)
        assert len(kept) == min(len(accepted), top_k or len(DOCS))  # top_k bigger than the list: all accepted
    finite_probabilities([r.score for r in kept + rejected], len(kept) + len(rejected))
    if mode == "filter":
        assert [r.index for r in kept] == sorted(r.index for r in kept)


# -- named errors --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "docs, error, message",
    [
        (None, TypeError, "documents must be a list of strings, got NoneType"),
        ("one string", TypeError, "documents must be a list of strings, got str"),
        ({"a": 1}, TypeError, "documents must be a list of strings, got dict"),
        ((d for d in DOCS), TypeError, "documents must be a list of strings, got generator"),
        (["ok", None], TypeError, r"documents\[1\] must be a string, got NoneType"),
        (["ok", 3], TypeError, r"documents\[1\] must be a string, got int"),
        ([b"bytes"], TypeError, r"documents\[0\] must be a string, got bytes"),
        (["ok", "lone \ud800 surrogate"], ValueError, r"documents\[1\] is not valid Unicode text: lone surrogate"),
    ],
)
def test_bad_documents_are_named(verifier, docs, error, message):
    for call in (
        lambda: verifier.score(QUERY, docs),
        lambda: verifier.rank(QUERY, docs),
        lambda: asyncio.run(verifier.rank_async(QUERY, docs)),
        lambda: MaxSim(verifier.encoder).score(QUERY, docs),
        lambda: PooledCosine(verifier.encoder).score(QUERY, docs),
    ):
        with pytest.raises(error, match=message):
            call()


@pytest.mark.parametrize(
    "query, error, message",
    [
        (None, TypeError, "query must be a string, got NoneType"),
        (42, TypeError, "query must be a string, got int"),
        (b"bytes", TypeError, "query must be a string, got bytes"),
        ("", ValueError, "query must be a non-empty string"),
        (" \t\n ", ValueError, "query must be a non-empty string"),
        ("\u200b\u200d\ufeff", ValueError, "query must be a non-empty string"),
        ("\x00\x00", ValueError, "query must be a non-empty string"),
        ("lone \udcff", ValueError, "query is not valid Unicode text"),
    ],
)
def test_bad_queries_are_named(verifier, query, error, message):
    for call in (
        lambda: verifier.score(query, DOCS),
        lambda: verifier.rank(query, DOCS),
        lambda: verifier.rank(query, []),
        lambda: verifier.explain(query, DOCS[0]),
    ):
        with pytest.raises(error, match=message):
            call()


def test_bad_pairs_and_encoder_texts_are_named(verifier):
    with pytest.raises(ValueError, match=r"pairs\[1\]\[0\] is not valid Unicode"):
        verifier.score_pairs([("a", "b"), ("\ud800", "b")])
    with pytest.raises(TypeError, match=r"pairs\[0\] must hold two strings, got \(str, NoneType\)"):
        verifier.score_pairs([("a", None)])
    with pytest.raises(TypeError, match=r"pairs\[0\] must be an \(a, b\) pair"):
        verifier.score_pairs([("a", "b", "c")])
    with pytest.raises(ValueError, match=r"texts\[0\] is not valid Unicode"):
        verifier.encoder.encode(["\udfff"])
    with pytest.raises(TypeError, match=r"document\[0\] must be a string, got NoneType"):
        verifier.explain(QUERY, None)


@pytest.mark.parametrize(
    "prior, message",
    [
        ([0.1, math.nan, 0.3], r"prior_scores\[1\] must be a finite number, got nan"),
        ([0.1, 0.2, math.inf], r"prior_scores\[2\] must be a finite number, got inf"),
        ([0.1, None, 0.3], r"prior_scores\[1\] must be a finite number, got None"),
        ([0.1, "0.2", 0.3], r"prior_scores\[1\] must be a finite number"),
        ([0.1, 0.2], "fuse mode needs one prior score per document"),
    ],
)
def test_bad_prior_scores_are_named(verifier, prior, message):
    with pytest.raises(ValueError, match=message):
        verifier.rank(QUERY, DOCS, mode="fuse", prior_scores=prior)


def test_numpy_prior_scores_and_thresholds_are_accepted(verifier):
    kept = verifier.rank(
        QUERY, DOCS, mode="fuse", prior_scores=np.array([0.3, 0.2, 0.1], dtype=np.float32), threshold=np.float32(0.0)
    )
    assert sorted(r.index for r in kept) == [0, 1, 2]


# -- documented pass-throughs --------------------------------------------------------------------------------------
def test_empty_list_and_empty_documents(verifier):
    assert verifier.score(QUERY, []) == []
    assert list(verifier.rank(QUERY, [])) == []
    assert verifier.rank(QUERY, []) == Ranking([], [], 0)
    assert verifier.score_pairs([]) == []
    # Blank or invisible-only *documents* have no tokens: they score 0.0 and are rejected by any positive threshold.
    blank = ["", "   ", "\u200b\u200d", "\x00"]
    assert verifier.score(QUERY, blank) == [0.0] * 4
    assert list(verifier.rank(QUERY, blank, threshold=0.01)) == []
    assert verifier.explain(QUERY, "").doc_tokens == []


def test_top_k_larger_than_the_list_returns_every_accepted(verifier):
    assert len(verifier.rank(QUERY, DOCS, top_k=10**9, threshold=0.0)) == len(DOCS)
    assert len(verifier.rank(QUERY, DOCS, top_k=1, threshold=0.0)) == 1


def test_duplicate_documents_are_scored_each_and_keep_their_positions(verifier):
    docs = [DOCS[1], DOCS[0], DOCS[1], DOCS[1]]
    scores = verifier.score(QUERY, docs)
    assert scores[2] == pytest.approx(scores[0], abs=1e-6) and scores[3] == pytest.approx(scores[0], abs=1e-6)
    assert scores[0] < scores[1]
    kept = verifier.rank(QUERY, docs, threshold=0.0)
    assert sorted(r.index for r in kept) == [0, 1, 2, 3]
    assert [r.index for r in kept if r.index != 1] == [0, 2, 3]  # ties keep the incoming order


# -- 100k-character documents ----------------------------------------------------------------------------------------
HUGE = ("The dog bit the man near the old harbour wall. " * 2200)[:100_000]


def test_a_100k_character_document_warns_once_per_call_and_still_scores(verifier):
    assert len(HUGE) == 100_000
    for _ in range(3):  # the first call encodes it, later calls may be served from the token cache: same report
        scores, caught = record_truncation(verifier.score, QUERY, ["short", HUGE])
        finite_probabilities(scores, 2)
        assert len(caught) == 1 and "1 of 3 text(s) exceeded" in str(caught[0].message)
    kept, caught = record_truncation(verifier.rank, QUERY, [HUGE, HUGE + "!", "short"], threshold=0.0)
    assert len(kept) == 3 and len(caught) == 1 and "2 of 4 text(s)" in str(caught[0].message)
    ex, caught = record_truncation(verifier.explain, QUERY, HUGE)
    assert len(ex.doc_tokens) == verifier.encoder.max_length - 2 and len(caught) == 1
    pairs, caught = record_truncation(verifier.score_pairs, [(QUERY, HUGE), (HUGE, QUERY)])
    finite_probabilities(pairs, 2)
    assert len(caught) == 1


def test_a_100k_character_query_warns_once_and_still_scores(verifier):
    scores, caught = record_truncation(verifier.score, HUGE, DOCS)
    finite_probabilities(scores, len(DOCS))
    assert len(caught) == 1
