from __future__ import annotations

import numpy as np
import pytest

from verimap import MaxSim, PooledCosine

PAIRS = [
    ("The man bit the dog.", "The dog bit the man."),
    ("Flights from Paris to Rome", "Cheap flights leave Rome for Paris every morning."),
    ("Aspirin does not cause ulcers.", "Aspirin causes ulcers."),
]


@pytest.fixture(scope="module")
def baselines(encoder):
    return MaxSim(encoder), PooledCosine(encoder)


def test_maxsim_and_pooled_match_numpy(encoder, baselines):
    maxsim, pooled = baselines
    got_m = maxsim.score_pairs(PAIRS)
    got_p = pooled.score_pairs(PAIRS)
    for (a, b), m, p in zip(PAIRS, got_m, got_p):
        ea, eb = encoder.encode([a, b])
        qa, db = ea.vectors.numpy(), eb.vectors.numpy()
        qa = qa / np.linalg.norm(qa, axis=1, keepdims=True)
        db = db / np.linalg.norm(db, axis=1, keepdims=True)
        assert m == pytest.approx(float((qa @ db.T).max(axis=1).mean()), abs=1e-5)
        pa, pb = ea.pooled.numpy(), eb.pooled.numpy()
        assert p == pytest.approx(float(pa @ pb / np.linalg.norm(pa) / np.linalg.norm(pb)), abs=1e-5)


def test_identical_texts_score_one(baselines):
    for scorer in baselines:
        for s in scorer.score("Does aspirin prevent heart attacks?", ["Does aspirin prevent heart attacks?"]):
            assert s == pytest.approx(1.0, abs=1e-4)


def test_baselines_cannot_see_role_swaps(baselines):
    """The reason verimap exists: both baselines score a role swap like the original."""
    for scorer in baselines:
        swap = scorer.score("The man bit the dog.", ["The dog bit the man."])[0]
        assert swap > 0.9


def test_score_equals_score_pairs(baselines):
    for scorer in baselines:
        docs = [b for _, b in PAIRS]
        assert scorer.score(PAIRS[0][0], docs) == pytest.approx(scorer.score_pairs([(PAIRS[0][0], d) for d in docs]))


def test_bad_input(baselines):
    maxsim, _ = baselines
    with pytest.raises(ValueError, match="query must be a non-empty string"):
        maxsim.score("  ", ["x"])
    with pytest.raises(TypeError, match="query must be a string"):
        maxsim.score(None, ["x"])
    with pytest.raises(TypeError, match=r"documents\[0\] must be a string, got NoneType"):
        maxsim.score("q", [None])
    with pytest.raises(TypeError, match=r"pairs\[0\]"):
        maxsim.score_pairs([("only one",)])
    assert maxsim.score("q", []) == []
    assert maxsim.score("query", [""]) == [0.0]
