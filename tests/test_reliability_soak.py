"""Issue 8, the soak: 10,000 rerank calls on one :class:`Verifier` with bounded memory growth.

RSS is read from ``/proc/self/statm`` after a warm-up of 200 calls, then every 2,500 calls; the figures are printed
(``pytest -s``) and recorded in docs/reliability.md.
"""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path

import pytest

CALLS = 10_000
WARM_UP = 200
MB = 2**20
QUERIES = [
    f"Did the {a} {v} the {b}?"
    for a, v, b in (
        ("dog", "bite", "man"),
        ("man", "bite", "dog"),
        ("cat", "chase", "mouse"),
        ("pilot", "pay", "doctor"),
        ("farmer", "call", "teacher"),
    )
] + ["Which flights leave Paris for Rome?", "When does check-in open?"]
DOCS = [
    "The dog bit the man.",
    "The man bit the dog.",
    "The cat chased the mouse down the hall.",
    "Flights from Paris to Rome leave every two hours.",
    "Online check-in opens 30 hours before departure.",
]
STATM = Path("/proc/self/statm")


def rss() -> int:
    return int(STATM.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.slow
@pytest.mark.skipif(not STATM.exists(), reason="reads RSS from /proc/self/statm (Linux)")
def test_ten_thousand_rerank_calls_with_bounded_memory(verifier):
    def call(i: int):
        mode = ("rerank", "filter", "fuse")[i % 3]
        prior = [0.9, 0.8, 0.5, 0.4, 0.1] if i % 6 == 2 else None
        return verifier.rank(QUERIES[i % len(QUERIES)], DOCS, top_k=3, mode=mode, prior_scores=prior)

    reference = [call(i) for i in range(2 * len(QUERIES) * 3)]
    for i in range(WARM_UP):
        call(i)
    gc.collect()
    marks = [rss()]
    start = time.perf_counter()
    for i in range(CALLS):
        out = call(i)
        if i < len(reference):
            assert out == reference[i]
        if (i + 1) % (CALLS // 4) == 0:
            gc.collect()
            marks.append(rss())
    elapsed = time.perf_counter() - start
    growth, late = marks[-1] - marks[0], marks[-1] - marks[2]
    print(
        f"\nsoak: {CALLS} rank calls in {elapsed:.1f} s ({1000 * elapsed / CALLS:.2f} ms/call); RSS "
        + " -> ".join(f"{m / MB:.1f}" for m in marks)
        + f" MB; growth {growth / MB:+.1f} MB "
        f"(second half {late / MB:+.1f} MB)"
    )
    assert [call(i) for i in range(len(reference))] == reference  # still the same answers
    assert growth < 50 * MB
    assert late < 10 * MB  # no steady climb: a leak would grow as much in the second half as in the first


@pytest.mark.slow
@pytest.mark.skipif(not STATM.exists(), reason="reads RSS from /proc/self/statm (Linux)")
def test_rerank_calls_with_new_documents_stay_within_the_cache_budget():
    """Every call brings a ~70-token passage never seen before (what a live corpus does): memory is bounded by the
    token cache's budget, not by the number of distinct passages seen. Unbounded, the 1,100 passages would hold
    ~35 MB of token vectors (fp32 copies included); RSS settles after a few hundred calls (allocator warm-up, measured the same with no
    cache at all) and then stays flat."""
    cache_module = pytest.importorskip("verimap.cache")
    from verimap import TokenEncoder, Verifier

    budget = 2 * MB
    verifier = Verifier(encoder=TokenEncoder(cache=cache_module.TokenCache(max_bytes=budget)))
    filler = " ".join(DOCS) * 2

    def call(i: int):
        passage = f"Passage {i}: {filler[i % 97 :][:300]}"
        return verifier.rank(QUERIES[i % len(QUERIES)], [*DOCS[:4], passage])

    for i in range(300):
        call(i)
    gc.collect()
    marks = [rss()]
    start = time.perf_counter()
    n = 800
    for i in range(300, 300 + n):
        call(i)
        if (i - 300 + 1) % (n // 4) == 0:
            gc.collect()
            marks.append(rss())
    elapsed = time.perf_counter() - start
    stats = verifier.encoder.cache.stats()
    print(
        f"\nchurn soak: {n} calls with a new passage each in {elapsed:.1f} s; RSS "
        + " -> ".join(f"{m / MB:.1f}" for m in marks)
        + f" MB; cache {stats['bytes'] / MB:.2f} of "
        f"{budget / MB:.0f} MB, {stats['evictions']} evictions"
    )
    assert stats["bytes"] <= budget and stats["evictions"] > 0
    assert marks[-1] - marks[0] < 25 * MB
