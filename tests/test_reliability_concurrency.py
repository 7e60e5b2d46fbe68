"""Issue 8, concurrency in the core: 8 threads and an asyncio gather of 50 ``rank_async`` calls over one shared
:class:`Verifier` give exactly the single-threaded results, including while its token cache is cold (threads race
to encode and store the same texts); instances with different settings never see each other's.

The single-threaded reference comes from a fresh encoder, so the shared one is still cold when the threads start.
(The adapters' run_async / ainvoke are tested the same way in tests/integrations/*/test_reliability_*.py.)
"""

from __future__ import annotations

import asyncio
import random
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from verimap import MaxSim, TokenEncoder, Verifier

WORDS = "the a dog man cat bit chased paid called Paris Rome flight every hour before after not woman sold car".split()


def calls(tag: str, n: int) -> list[tuple[str, list[str]]]:
    """``n`` (query, documents) calls with texts unique to ``tag``; documents repeat across calls, as recalled
    passages do."""
    rng = random.Random(tag)
    pool = [
        f"{tag} passage {i}: " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 30))) for i in range(3 * n)
    ]
    return [
        (
            f"{tag} query {i}: " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 10))),
            rng.sample(pool, rng.randint(1, 8)),
        )
        for i in range(n)
    ]


def rank(verifier: Verifier, call, **kwargs):
    query, docs = call
    return verifier.rank(query, docs, **kwargs)


@pytest.fixture(scope="module")
def reference_verifier():
    return Verifier(encoder=TokenEncoder())


def test_eight_threads_give_the_single_threaded_results(verifier, reference_verifier):
    work = calls("threads", 12)
    expected = [rank(reference_verifier, c) for c in work]
    jobs = [i for i in range(len(work)) for _ in range(4)]
    random.Random(0).shuffle(jobs)
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda i: (i, rank(verifier, work[i])), jobs))
    assert len(got) == len(jobs)
    for i, result in got:
        assert result == expected[i], f"call {i} differs under threads"


def test_fifty_gathered_rank_async_calls_give_the_single_threaded_results(verifier, reference_verifier):
    work = calls("asyncio", 10)
    expected = [rank(reference_verifier, c) for c in work]

    async def gather():
        return await asyncio.gather(*[verifier.rank_async(*work[i % len(work)]) for i in range(50)])

    got = asyncio.run(gather())
    assert len(got) == 50
    assert all(result == expected[i % len(work)] for i, result in enumerate(got))


def test_instances_with_different_settings_do_not_leak_into_each_other(verifier):
    """Three verifiers with different thresholds on one encoder, used interleaved from 8 threads with different
    per-call top_k / mode: each call gets what it gets alone."""
    work = calls("settings", 6)
    lenient = Verifier(encoder=verifier.encoder, threshold=0.0, batch_size=3)
    strict = Verifier(encoder=verifier.encoder, threshold=1.0)
    plans = [
        (v, c, kw)
        for v in (verifier, lenient, strict)
        for c in work
        for kw in (
            {"mode": "rerank"},
            {"top_k": 1, "mode": "rerank"},
            {"mode": "filter"},
            {"mode": "fuse", "threshold": 0.3},
        )
    ]
    expected = [rank(v, c, **kw) for v, c, kw in plans]
    # lenient keeps everything; strict (threshold 1.0) keeps nothing where the call does not set its own threshold
    assert all(r.accepted for r in expected[len(work) * 4])
    assert not any(r.kept for (v, _, kw), r in zip(plans, expected) if v is strict and "threshold" not in kw)
    order = list(range(len(plans))) * 2
    random.Random(1).shuffle(order)
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda i: (i, rank(plans[i][0], plans[i][1], **plans[i][2])), order))
    assert all(result == expected[i] for i, result in got)


@pytest.mark.filterwarnings("ignore::verimap.encoder.TruncationWarning")
def test_encoders_with_different_max_length_keep_their_own_encodings(verifier):
    """The token cache must key on everything that changes an encoding: a 32-token encoder and the default
    256-token one, encoding the same long texts interleaved from threads, each get their own (equal to what a
    fresh encoder of the same settings gives single-threaded)."""
    short = TokenEncoder(max_length=32)
    texts = [f"leak test {i}: " + " ".join(WORDS[i:] + WORDS[:i]) * (i + 1) for i in range(6)]  # 24..300 tokens
    reference = {
        "short": TokenEncoder(max_length=32).encode(texts, warn=False),
        "long": Verifier(encoder=TokenEncoder()).encoder.encode(texts, warn=False),  # a fresh verifier's own vectors
    }
    jobs = [(k, name) for k in range(len(texts)) for name in ("long", "short", "short", "long")]
    encoders = {"short": short, "long": verifier.encoder}
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda job: (job, encoders[job[1]].encode([texts[job[0]]], warn=False)[0]), jobs))
    for (k, name), e in got:
        ref = reference[name][k]
        assert (
            len(e.vectors)
            == len(ref.vectors)
            == min(30 if name == "short" else 254, len(verifier.encoder.tokenize(texts[k])))
        )
        assert torch.equal(e.vectors, ref.vectors) and torch.equal(e.pooled, ref.pooled), (k, name)
    # and the scorers on top see the difference too
    assert MaxSim(short).score("leak test 5", texts[5:]) != MaxSim(verifier.encoder).score("leak test 5", texts[5:])
