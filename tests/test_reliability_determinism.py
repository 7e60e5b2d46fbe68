"""Issue 8, determinism: the same inputs give the same scores (within 1e-6) across calls, network and encoder batch
sizes, whatever else shares the call, and torch thread counts.

Cold paths are what matter here (a warm token cache would hand back whatever was stored first), so every comparison
that involves the encoder uses fresh ``TokenEncoder`` instances (a second load of the bundled MiniLM takes ~0.05 s)
and texts no other test uses.
"""

from __future__ import annotations

import random

import pytest
import torch

from verimap import TokenEncoder, Verifier

pytestmark = pytest.mark.filterwarnings("ignore::verimap.encoder.TruncationWarning")  # the "-huge" passages

TOL = 1e-6
QUERY = "Did the dog bite the man before the Monday meeting in Rome?"
WORDS = (
    "the a dog man cat bit chased paid called Paris Rome flight leaves every hour from terminal two on Monday "
    "before after not never woman doctor gave sold car to Alice Bob meeting 🐶 狗 الكلب"
).split()


def corpus(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    docs = [
        f"det-{seed}-{i}: " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 45))) + "." for i in range(n)
    ]
    # one passage longer than two map windows (read in several windows) and one over the encoder's max length
    docs.append(f"det-{seed}-long: " + " ".join(rng.choice(WORDS) for _ in range(150)))
    docs.append(f"det-{seed}-huge: " + " ".join(rng.choice(WORDS) for _ in range(600)))
    return docs


def fresh(batch_size: int = 32, **kwargs) -> Verifier:
    return Verifier(encoder=TokenEncoder(batch_size=batch_size, **kwargs))


def max_diff(a: list[float], b: list[float]) -> float:
    assert len(a) == len(b)
    return max(abs(x - y) for x, y in zip(a, b))


@pytest.fixture(scope="module")
def reference():
    """Scores of ``corpus(1, 120)`` from a fresh encoder (batch size 32), all documents in one call."""
    docs = corpus(1, 120)
    return docs, fresh(32).score(QUERY, docs)


def test_same_inputs_same_scores_across_calls(verifier):
    docs = corpus(2, 40)
    first = verifier.score(QUERY, docs)  # cold: computed
    assert verifier.score(QUERY, docs) == first  # warm: served from the token cache, bit for bit
    # Another order changes which texts share a network batch: the same scores within the documented tolerance.
    assert max_diff(verifier.score(QUERY, list(reversed(docs))), list(reversed(first))) <= TOL
    ranked = verifier.rank(QUERY, docs, threshold=0.0)
    assert ranked == verifier.rank(QUERY, docs, threshold=0.0)
    assert max_diff([r.verifier_score for r in sorted(ranked, key=lambda r: r.index)], first) <= TOL
    explained = verifier.explain(QUERY, docs[-2])
    assert abs(explained.score - first[-2]) <= TOL


def test_same_scores_across_network_batch_sizes(verifier, reference):
    docs, _ = reference
    base = verifier.score(QUERY, docs)
    for batch_size in (1, 5, 256):
        other = Verifier(encoder=verifier.encoder, batch_size=batch_size).score(QUERY, docs)
        assert max_diff(base, other) <= TOL, f"network batch size {batch_size}"


def test_same_scores_across_encoder_batch_sizes(reference):
    docs, ref = reference
    for batch_size in (1, 7):
        diff = max_diff(ref, fresh(batch_size).score(QUERY, docs))
        print(f"encoder batch size {batch_size} vs 32: max |score difference| {diff:.2e}")
        assert diff <= TOL, f"encoder batch size {batch_size} vs 32: max |score difference| {diff:.2e}"


def test_a_score_does_not_depend_on_the_other_documents_in_the_call(reference):
    docs, ref = reference
    verifier = fresh(32)
    alone = [verifier.score(QUERY, [d])[0] for d in docs[::4]]
    diff = max_diff(ref[::4], alone)
    print(f"alone vs in one call with {len(docs)} others: max |score difference| {diff:.2e}")
    assert diff <= TOL


def test_same_scores_across_thread_counts(reference):
    docs, ref = reference
    docs, ref = docs[::6] + docs[-2:], ref[::6] + ref[-2:]  # two intra-op threads are slow on a busy 2-core box
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        two = fresh(32).score(QUERY, docs)
    finally:
        torch.set_num_threads(before)
    diff = max_diff(ref, two)
    print(f"2 torch threads vs 1: max |score difference| {diff:.2e}")
    assert diff <= TOL
