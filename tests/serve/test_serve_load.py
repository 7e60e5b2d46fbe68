"""The load test on loopback: 8 concurrent clients send 2,000 rerank requests of 50 candidates to a real
``verimap serve`` (a child process, one worker, one torch thread); no error, no lost or mixed-up response (every
answer is checked against the in-process ranking of its own request), server RSS growth under 50 MB.

Requests cycle through 100 distinct (query, candidate order) shapes, so an answer that went to the wrong request
would not match; with 8 in flight, two requests of the same shape are never out at once. RSS is read from
``/proc/<pid>/statm`` after a warm-up of 200 requests and at the end. The figures are printed (``pytest -s``);
``verimap bench serve`` writes the benchmark's in docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from verimap.evaluation.bench import bench_texts, load, serve_process

REQUESTS = 2000
CONCURRENCY = 8
CANDIDATES = 50
SHAPES = 100
WARM_UP = 200
MB = 2**20


def rss(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads RSS from /proc/<pid>/statm (Linux)")
def test_two_thousand_concurrent_requests(verifier, shared_data):
    docs, queries = bench_texts(shared_data, CANDIDATES, SHAPES, verifier.encoder)
    shapes = [(queries[i], docs[i % CANDIDATES :] + docs[: i % CANDIDATES]) for i in range(SHAPES)]
    expected = [[(r.index, r.score) for r in verifier.rank(q, d)] for q, d in shapes]
    bodies = [{"model": "verimap", "query": q, "documents": d} for q, d in shapes]

    with serve_process(["--threads", "1"]) as (url, server):
        warm = asyncio.run(load(url, [bodies[i % SHAPES] for i in range(WARM_UP)], concurrency=CONCURRENCY))
        before = rss(server.pid)
        run = asyncio.run(load(url, [bodies[i % SHAPES] for i in range(REQUESTS)], concurrency=CONCURRENCY))
        after = rss(server.pid)

    assert warm.errors == 0 and run.errors == 0, sorted(set(run.statuses))
    for i, answer in enumerate(run.bodies):
        got = [(r["index"], r["relevance_score"]) for r in answer["results"]]
        want = expected[i % SHAPES]
        assert [g[0] for g in got] == [w[0] for w in want], f"request {i}: another request's answer, or a wrong one"
        assert [g[1] for g in got] == pytest.approx([w[1] for w in want], abs=1e-6), f"request {i}"
    print(
        f"\nload: {REQUESTS} requests of {CANDIDATES} candidates, {CONCURRENCY} clients: {run.per_second:.1f} "
        f"requests/s, p50 {run.quantile(0.5) * 1000:.0f} ms, p95 {run.quantile(0.95) * 1000:.0f} ms; "
        f"server RSS {before / MB:.0f} -> {after / MB:.0f} MB ({(after - before) / MB:+.1f} MB)"
    )
    assert after - before < 50 * MB
