from __future__ import annotations

import asyncio

import numpy as np
import pytest

from verimap import Ranking, Verifier

# Written by hand for this test (not produced by the training rules): (query, true match, near-miss).
TEXTBOOK = [
    ("Did the dog bite the man?", "The dog bit the man.", "The man bit the dog."),
    (
        "Does aspirin cause stomach ulcers?",
        "Aspirin can cause stomach ulcers.",
        "Aspirin does not cause stomach ulcers.",
    ),
    (
        "Flights from Paris to Rome",
        "Flights from Paris to Rome leave every morning.",
        "Flights from Rome to Paris leave every morning.",
    ),
    ("Which team beat Brazil in the final?", "Germany beat Brazil in the final.", "Brazil beat Germany in the final."),
    ("Is the box heavier than the chair?", "The box is heavier than the chair.", "The box is lighter than the chair."),
    ("Who did the police arrest?", "The police arrested the suspect.", "The suspect arrested the police."),
]


def test_scores_are_probabilities_in_order(verifier):
    docs = ["The dog bit the man.", "The man bit the dog.", "Completely unrelated text about tax law."]
    scores = verifier.score("Did the dog bite the man?", docs)
    assert len(scores) == 3 and all(0.0 <= s <= 1.0 for s in scores)
    assert scores == pytest.approx([verifier.score("Did the dog bite the man?", [d])[0] for d in docs], abs=1e-6)


# What the shipped weights get wrong on TEXTBOOK, recorded rather than hidden (strict: a fix makes these fail
# until the list is updated). Measured figures: docs/benchmarks.md.
WRONG_ORDER = {"Who did the police arrest?"}
NEAR_MISS_ACCEPTED = {"Flights from Paris to Rome", "Is the box heavier than the chair?"}
MATCH_REJECTED = {"Which team beat Brazil in the final?", "Who did the police arrest?"}


def known(cases: set[str], why: str):
    return [
        pytest.param(*case, id=case[0], marks=pytest.mark.xfail(case[0] in cases, reason=why, strict=True))
        for case in TEXTBOOK
    ]


@pytest.mark.parametrize("query, match, near_miss", known(WRONG_ORDER, "shipped weights rank this near-miss first"))
def test_textbook_matches_outrank_their_near_misses(verifier, query, match, near_miss):
    good, bad = verifier.score(query, [match, near_miss])
    assert good > bad


@pytest.mark.parametrize("query, match, near_miss", known(MATCH_REJECTED, "shipped weights reject this match"))
def test_textbook_matches_are_accepted(verifier, query, match, near_miss):
    good = verifier.score(query, [match])[0]
    assert good >= verifier.threshold, f"true match rejected: {good:.3f} < {verifier.threshold:.3f}"


@pytest.mark.parametrize(
    "query, match, near_miss",
    known(NEAR_MISS_ACCEPTED, "shipped weights accept this near-miss at the default threshold"),
)
def test_textbook_near_misses_are_rejected(verifier, query, match, near_miss):
    bad = verifier.score(query, [near_miss])[0]
    assert bad < verifier.threshold, f"near-miss accepted: {bad:.3f} >= {verifier.threshold:.3f}"


def test_rank_returns_index_score_and_flags(verifier):
    q, match, miss = TEXTBOOK[0]
    ranking = verifier.rank(q, [miss, match])
    assert isinstance(ranking, Ranking)
    assert ranking[0].index == 1 and ranking[0].accepted
    assert {r.index for r in ranking.kept} | {r.index for r in ranking.rejected} == {0, 1}
    assert verifier.rank(q, [miss, match], threshold=0.0)[0].index == 1
    assert len(verifier.rank(q, [miss, match], top_k=1, threshold=0.0)) == 1
    assert list(verifier.rank(q, [])) == []


def test_fuse_mode_uses_prior_or_maxsim(verifier):
    q, match, miss = TEXTBOOK[0]
    fused = verifier.rank(q, [miss, match, "Tax law changed in 2020."], mode="fuse", threshold=0.0)
    assert fused[-1].index == 2  # topically unrelated, last
    with_prior = verifier.rank(q, [miss, match], mode="fuse", prior_scores=[0.1, 0.2], threshold=0.0)
    assert all(r.score != r.verifier_score for r in with_prior)


def test_rank_async_equals_rank(verifier):
    q, match, miss = TEXTBOOK[1]

    async def many():
        return await asyncio.gather(*[verifier.rank_async(q, [match, miss], threshold=0.0) for _ in range(5)])

    sync = verifier.rank(q, [match, miss], threshold=0.0)
    assert all(r == sync for r in asyncio.run(many()))


def test_explain_gives_map_tokens_best_matches(verifier):
    e = verifier.explain("Did the dog bite the man?", "The man bit the dog.")
    assert e.map.shape == (len(e.query_tokens), len(e.doc_tokens))
    assert len(e.best_match) == len(e.query_tokens)
    j, s = e.best_match[e.query_tokens.index("dog")]
    assert e.doc_tokens[j] == "dog" and s == pytest.approx(float(e.map[e.query_tokens.index("dog")].max()))
    assert e.score == pytest.approx(verifier.score("Did the dog bite the man?", ["The man bit the dog."])[0])
    assert "REJECT" in e.to_text() or "ACCEPT" in e.to_text()


def test_explanation_to_dict_is_json_ready(verifier):
    import json

    ex = verifier.explain("Did the dog bite the man?", "The man bit the dog.")
    d = json.loads(json.dumps(ex.to_dict()))
    assert d["query_tokens"] == ex.query_tokens and d["candidate_tokens"] == ex.doc_tokens
    assert d["score"] == round(ex.score, 6) and d["accepted"] == ex.accepted and d["threshold"] == ex.threshold
    assert [b["match"] for b in d["best_match"]] == [ex.doc_tokens[j] for j, _ in ex.best_match]
    assert d["unmatched"] == ex.unmatched() and len(d["map"]) == len(ex.query_tokens)
    empty = verifier.explain("Did the dog bite the man?", "").to_dict()
    assert empty["candidate_tokens"] == [] and {b["match"] for b in empty["best_match"]} == {None}


def test_symmetric_pairs_read_both_ways(verifier):
    pairs = [("How do I enable 2FA?", "How do I turn on two-factor login?"), ("the man bit the dog", "the dog")]
    swapped = [(b, a) for a, b in pairs]
    one_way, other_way = verifier.score_pairs(pairs, symmetric=False), verifier.score_pairs(swapped, symmetric=False)
    both = verifier.score_pairs(pairs, symmetric=True)
    # Whichever side comes first, the same score; a mean of two logits lies between them (sigmoid is monotone).
    assert both == pytest.approx(verifier.score_pairs(swapped, symmetric=True), abs=1e-6)
    for s, x, y in zip(both, one_way, other_way):
        assert min(x, y) - 1e-9 <= s <= max(x, y) + 1e-9
    assert verifier.score_pairs(pairs) == (both if verifier.card.symmetric else one_way)  # None: the card's reading
    assert verifier.score_pairs([], symmetric=True) == []


def test_long_documents_are_read_in_windows(verifier):
    """A true match buried at the end of a long passage is still found (no silent cropping)."""
    q, match, _ = TEXTBOOK[1]
    filler = "The weather report for the coast predicts light rain and mild winds. " * 13
    # longer than two map windows, shorter than the encoder's max_length (so nothing is truncated)
    assert 2 * verifier.card.network.map_cols < len(verifier.encoder.tokenize(filler + match)) < 254
    buried = verifier.score(q, [filler + match])[0]
    assert buried > 2 * verifier.score(q, [filler])[0]  # the end was read: cropped, it would score as the filler


@pytest.mark.xfail(
    strict=True,
    reason="shipped weights: a match sharing its 64-token window with unrelated text scores below the threshold "
    "(0.13 vs 0.70 alone; docs/model-card.md)",
)
def test_a_match_buried_in_a_long_document_is_accepted(verifier):
    q, match, _ = TEXTBOOK[1]
    filler = "The weather report for the coast predicts light rain and mild winds. " * 13
    assert verifier.score(q, [filler + match])[0] >= verifier.threshold


def test_huge_document_is_truncated_with_a_warning(verifier):
    from verimap import TruncationWarning

    with pytest.warns(TruncationWarning):
        scores = verifier.score("Did the dog bite the man?", ["word " * 20_000])
    assert 0.0 <= scores[0] <= 1.0


def test_odd_unicode_and_empty_documents(verifier):
    docs = ["🐶 bit 👨", "الكلب عض الرجل", "狗咬了人", "zero\u200bwidth", "nul\x00byte", ""]
    scores = verifier.score("Did the dog bite the man?", docs)
    assert len(scores) == len(docs) and all(np.isfinite(scores)) and scores[-1] == 0.0


def test_bad_input_is_named(verifier):
    with pytest.raises(ValueError, match="query must be a non-empty string"):
        verifier.score("", ["x"])
    with pytest.raises(TypeError, match=r"documents\[1\] must be a string"):
        verifier.score("q", ["x", None])
    with pytest.raises(ValueError, match="top_k must be a positive integer"):
        verifier.rank("q", ["x"], top_k=0)
    with pytest.raises(ValueError, match="threshold must be a number in"):
        verifier.rank("q", ["x"], threshold=2)
    with pytest.raises(ValueError, match="threshold must be in"):
        Verifier(encoder=verifier.encoder, threshold=-1)


def test_deterministic_across_batch_sizes(verifier):
    q = "Did the dog bite the man?"
    docs = [m for _, m, _ in TEXTBOOK] + [n for _, _, n in TEXTBOOK]
    small = Verifier(encoder=verifier.encoder, batch_size=1)
    assert small.score(q, docs) == pytest.approx(verifier.score(q, docs), abs=1e-6)
