"""Every route of the service against the core call it translates: the same results as in process."""

from __future__ import annotations

import asyncio
import base64
import threading

import httpx
import pytest

from verimap import __version__

QUERY = "Did the dog bite the man?"
DOCS = ["The man bit the dog.", "The dog bit the man.", "Dogs are loyal pets.", "A dog bit a man."]


def pairs_of(results, score="relevance_score"):
    return [(r["index"], r[score]) for r in results]


def test_cohere_shape_with_verimap_fields(http, verifier):
    body = http.post(
        "/v2/rerank", json={"model": "rerank-v3.5", "query": QUERY, "documents": DOCS, "return_documents": True}
    ).json()
    want = verifier.rank(QUERY, DOCS)
    assert body["model"] == "rerank-v3.5" and body["id"] and body["meta"]["api_version"]["version"] == "2"
    assert body["results"] == [
        {
            "index": r.index,
            "relevance_score": r.score,
            "verifier_score": r.verifier_score,
            "verifier_accepted": r.accepted,
            "document": {"text": DOCS[r.index]},
        }
        for r in want
    ]
    assert http.post("/v1/rerank", json={"query": QUERY, "documents": DOCS}).json()["model"] == "verimap"


@pytest.mark.parametrize("mode", ["fuse", "rerank", "filter"])
@pytest.mark.parametrize("threshold", [None, 0.3])
def test_verimaps_own_mode_and_threshold_pass_through(http, verifier, mode, threshold):
    body = {"query": QUERY, "documents": DOCS, "mode": mode, "threshold": threshold, "top_n": 3}
    got = pairs_of(http.post("/v2/rerank", json=body).json()["results"])
    assert got == [(r.index, r.score) for r in verifier.rank(QUERY, DOCS, 3, threshold, mode=mode)]


def test_the_servers_default_mode(serve, verifier):
    from verimap.serve import create_app

    with serve(create_app(verifier, mode="rerank")) as url:
        got = pairs_of(httpx.post(f"{url}/v2/rerank", json={"query": QUERY, "documents": DOCS}).json()["results"])
    assert got == [(r.index, r.score) for r in verifier.rank(QUERY, DOCS, mode="rerank")]


def test_tei_rerank(http, verifier):
    body = http.post(
        "/rerank", json={"query": QUERY, "texts": DOCS, "raw_scores": True, "return_text": True, "truncate": True}
    ).json()
    assert body == [
        {
            "index": r.index,
            "score": r.score,
            "verifier_score": r.verifier_score,
            "verifier_accepted": r.accepted,
            "text": DOCS[r.index],
        }
        for r in verifier.rank(QUERY, DOCS)
    ]
    assert "text" not in http.post("/rerank", json={"query": QUERY, "texts": DOCS}).json()[0]


def test_verify(http, verifier):
    pairs = [[QUERY, DOCS[0]], {"a": QUERY, "b": DOCS[1]}, ["How do I enable 2FA?", "How do I disable 2FA?"]]
    as_tuples = [(QUERY, DOCS[0]), (QUERY, DOCS[1]), ("How do I enable 2FA?", "How do I disable 2FA?")]
    body = http.post("/verify", json={"pairs": pairs}).json()
    scores = verifier.score_pairs(as_tuples)
    assert body == {
        "threshold": verifier.threshold,
        "symmetric": False,
        "results": [{"score": s, "accepted": s >= verifier.threshold} for s in scores],
    }
    both = http.post("/verify", json={"pairs": pairs, "symmetric": True, "threshold": 0.5}).json()
    symmetric = verifier.score_pairs(as_tuples, symmetric=True)
    assert both["results"] == [{"score": s, "accepted": s >= 0.5} for s in symmetric]
    reverse = verifier.score_pairs([(b, a) for a, b in as_tuples], symmetric=True)
    assert symmetric == pytest.approx(reverse, abs=1e-6)  # both ways, whichever comes first
    assert http.post("/verify", json={"pairs": []}).json()["results"] == []


def test_explain(http, verifier):
    body = http.post("/explain", json={"query": QUERY, "document": DOCS[0]}).json()
    ex = verifier.explain(QUERY, DOCS[0])
    assert body == {"query": QUERY, "document": DOCS[0], **ex.to_dict(), "text": ex.to_text()}
    assert body["best_match"][2] == {"token": "dog", "match": "dog", "cosine": pytest.approx(0.94, abs=0.05)}
    assert "png" not in body


def test_explain_png(http):
    pytest.importorskip("matplotlib")
    png = base64.b64decode(http.post("/explain", json={"query": QUERY, "document": DOCS[0], "png": True}).json()["png"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


def test_health_info_metrics(http, verifier):
    assert http.get("/health").json() == {"status": "ready", "version": __version__}
    info = http.get("/info").json()
    assert info["version"] == __version__ and info["threshold"] == verifier.threshold
    assert info["encoder"]["id"] == verifier.encoder.encoder_id and info["encoder"]["max_length"] == 256
    assert (
        info["weights"]["sha256"] == verifier.card.sha256
        and info["weights"]["fuse_weight"] == verifier.card.fuse_weight
    )
    assert info["limits"]["max_documents"] == 1000 and info["auth"] is False
    before = http.get("/metrics").text
    http.post("/v2/rerank", json={"query": QUERY, "documents": DOCS})
    http.post("/v2/rerank", json={"query": "", "documents": DOCS})
    after = http.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text

    def value(text: str, line: str) -> float:
        found = [row for row in text.splitlines() if row.startswith(line + " ")]
        return float(found[0].split()[-1]) if found else 0.0

    ok = 'verimap_requests_total{endpoint="/v2/rerank",status="200"}'
    bad = 'verimap_requests_total{endpoint="/v2/rerank",status="422"}'
    assert value(text, ok) == value(before, ok) + 1 and value(text, bad) == value(before, bad) + 1
    assert value(text, 'verimap_documents_total{endpoint="/v2/rerank"}') >= len(DOCS)
    assert 'verimap_request_seconds_bucket{endpoint="/v2/rerank",le="+Inf"}' in text
    assert 0.0 < value(text, "verimap_token_cache_hit_ratio") <= 1.0
    assert value(text, "verimap_model_ready") == 1.0
    http.get("/no/such/path")
    assert 'endpoint="other",status="404"' in http.get("/metrics").text  # unknown paths share one label


def test_health_is_503_until_the_model_has_loaded(serve, verifier):
    from verimap.serve import create_app

    loaded = threading.Event()

    def loader():
        loaded.wait(60)
        return verifier

    with serve(create_app(loader)) as url, httpx.Client(base_url=url, timeout=60) as http:
        assert http.get("/health").status_code == 503 and http.get("/health").json()["status"] == "loading"
        response = http.post("/v2/rerank", json={"query": QUERY, "documents": DOCS})
        assert response.status_code == 503 and response.headers["retry-after"] == "5"
        loaded.set()
        for _ in range(100):
            if http.get("/health").status_code == 200:
                break
            threading.Event().wait(0.05)
        assert http.get("/health").json()["status"] == "ready"
        assert http.post("/v2/rerank", json={"query": QUERY, "documents": DOCS}).status_code == 200


def test_a_model_that_fails_to_load_is_reported_not_a_dead_worker(serve):
    from verimap import Verifier
    from verimap.serve import create_app

    with serve(create_app(lambda: Verifier("no-such.safetensors"))) as url, httpx.Client(base_url=url) as http:
        for _ in range(100):
            if http.get("/health").json()["status"] != "loading":
                break
            threading.Event().wait(0.05)
        health = http.get("/health")
        assert health.status_code == 503 and health.json()["status"] == "failed"
        assert "no-such.safetensors" in health.json()["error"]
        response = http.post("/v2/rerank", json={"query": QUERY, "documents": DOCS})
        assert response.status_code == 503 and "failed to load" in response.json()["message"]


async def test_concurrent_requests_get_their_own_answers(base_url, verifier):
    work = [
        (f"Did the {a} bite the {b}?", DOCS[i % 4 :] + DOCS[: i % 4])
        for i, (a, b) in enumerate([("dog", "man"), ("man", "dog"), ("cat", "dog"), ("dog", "cat")] * 8)
    ]
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        answers = await asyncio.gather(*(client.post("/v2/rerank", json={"query": q, "documents": d}) for q, d in work))
    for (q, d), a in zip(work, answers):
        assert pairs_of(a.json()["results"]) == [(r.index, r.score) for r in verifier.rank(q, d)]


@pytest.mark.parametrize(
    "kwargs", [{"api_key": ""}, {"max_documents": 0}, {"max_body_bytes": -1}, {"concurrency": 0}, {"mode": "x"}]
)
def test_create_app_refuses_bad_settings(kwargs, verifier):
    from verimap.serve import create_app

    with pytest.raises(ValueError):
        create_app(verifier, **kwargs)
