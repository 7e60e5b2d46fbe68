"""Bad input, limits and auth on a real server: a JSON error naming the field (422; 413 past the body limit; 401
without the key), never a 500 or a dead worker; after every refused request, a good one is still answered right."""

from __future__ import annotations

import json

import httpx
import pytest

from verimap.testing import HUGE

QUERY = "Did the dog bite the man?"
DOCS = ["The man bit the dog.", "The dog bit the man.", "Dogs are loyal pets."]
GOOD = {"query": QUERY, "documents": DOCS}


def still_good(http: httpx.Client, verifier) -> None:
    response = http.post("/v2/rerank", json=GOOD)
    assert response.status_code == 200
    got = [(r["index"], r["relevance_score"]) for r in response.json()["results"]]
    assert got == [(r.index, r.score) for r in verifier.rank(QUERY, DOCS)]


def refused(response: httpx.Response, status: int, field: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["message"].startswith(field), body["message"]
    assert body["detail"] and all({"loc", "msg", "type"} <= set(d) for d in body["detail"])
    return body


# (name, path, raw body, content type, the field the error must name)
BAD = [
    ("malformed JSON", "/v2/rerank", b'{"query": "x", "documents": [', "application/json", "body"),
    ("not UTF-8", "/v2/rerank", b'{"query": "\xff"}', "application/json", "body"),
    ("NaN", "/v2/rerank", b'{"query": "x", "documents": ["a"], "threshold": NaN}', "application/json", "body"),
    ("nested too deep", "/v2/rerank", b"[" * 100_000, "application/json", "body"),
    ("a list, not an object", "/v2/rerank", b'["x"]', "application/json", "body"),
    ("no query", "/v2/rerank", json.dumps({"documents": DOCS}).encode(), "application/json", "query"),
    ("empty query", "/v2/rerank", json.dumps({"query": "", "documents": DOCS}).encode(), "application/json", "query"),
    (
        "invisible query",
        "/rerank",
        json.dumps({"query": "\u200b\u200d", "texts": DOCS}).encode(),
        "application/json",
        "query",
    ),
    ("number query", "/v2/rerank", json.dumps({"query": 7, "documents": DOCS}).encode(), "application/json", "query"),
    (
        "None document",
        "/v2/rerank",
        json.dumps({"query": QUERY, "documents": ["a", None]}).encode(),
        "application/json",
        "documents[1]",
    ),
    (
        "number document",
        "/v1/rerank",
        json.dumps({"query": QUERY, "documents": [3.5]}).encode(),
        "application/json",
        "documents[0]",
    ),
    (
        "object without text",
        "/v2/rerank",
        json.dumps({"query": QUERY, "documents": [{"body": "a"}]}).encode(),
        "application/json",
        "documents[0]",
    ),
    (
        "documents not a list",
        "/v2/rerank",
        json.dumps({"query": QUERY, "documents": "abc"}).encode(),
        "application/json",
        "documents",
    ),
    (
        "TEI object text",
        "/rerank",
        json.dumps({"query": QUERY, "texts": [{"text": "a"}]}).encode(),
        "application/json",
        "texts[0]",
    ),
    (
        "lone surrogate query",
        "/v2/rerank",
        b'{"query": "\\ud800 dog", "documents": ["a"]}',
        "application/json",
        "query",
    ),
    (
        "lone surrogate document",
        "/rerank",
        b'{"query": "dog", "texts": ["a", "b \\udfff"]}',
        "application/json",
        "texts[1]",
    ),
    ("top_n 0", "/v2/rerank", json.dumps({**GOOD, "top_n": 0}).encode(), "application/json", "top_n"),
    ("threshold 2", "/v2/rerank", json.dumps({**GOOD, "threshold": 2}).encode(), "application/json", "threshold"),
    (
        "unknown mode",
        "/rerank",
        json.dumps({"query": QUERY, "texts": DOCS, "mode": "x"}).encode(),
        "application/json",
        "mode",
    ),
    (
        "10,000 documents",
        "/v2/rerank",
        json.dumps({"query": QUERY, "documents": ["a"] * 10_000}).encode(),
        "application/json",
        "documents",
    ),
    ("10,000 pairs", "/verify", json.dumps({"pairs": [["a", "b"]] * 10_000}).encode(), "application/json", "pairs"),
    ("a pair of three", "/verify", json.dumps({"pairs": [["a", "b", "c"]]}).encode(), "application/json", "pairs[0]"),
    ("explain without document", "/explain", json.dumps({"query": QUERY}).encode(), "application/json", "document"),
    ("wrong content type", "/v2/rerank", json.dumps(GOOD).encode(), "text/plain", "content-type"),
    ("form content type", "/v2/rerank", b"query=x&documents=a", "application/x-www-form-urlencoded", "content-type"),
    ("no content type", "/v2/rerank", json.dumps(GOOD).encode(), None, "content-type"),
]


@pytest.mark.parametrize("name, path, body, ctype, field", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_a_422_naming_the_field(http, verifier, name, path, body, ctype, field):
    headers = {"content-type": ctype} if ctype else {}
    refused(http.post(path, content=body, headers=headers), 422, field)
    still_good(http, verifier)


def test_unknown_routes_and_methods_are_json_errors(http, verifier):
    assert http.get("/v3/rerank").status_code == 404
    assert http.get("/v3/rerank").json()["message"] == "Not Found"
    assert http.get("/v2/rerank").status_code == 405
    still_good(http, verifier)


def test_odd_unicode_and_long_texts_are_read_as_the_library_reads_them(http, verifier):
    docs = ["🐶 bit 👨‍👩‍👧", "الكلب عض الرجل", "狗咬了人", "e\u0301\x00\u202e", "", HUGE, "The dog bit the man."]
    query = "Did the 🐶 bite?"
    response = http.post("/v2/rerank", json={"query": query, "documents": docs})
    assert response.status_code == 200, response.text
    got = [(r["index"], r["relevance_score"]) for r in response.json()["results"]]
    assert got == [(r.index, r.score) for r in verifier.rank(query, docs)]
    tei = http.post("/rerank", json={"query": HUGE, "texts": docs, "return_text": True})
    assert tei.status_code == 200
    assert [(r["index"], r["score"]) for r in tei.json()] == [(r.index, r.score) for r in verifier.rank(HUGE, docs)]
    assert {r["index"]: r["text"] for r in tei.json()}[5] == HUGE  # returned whole, not the part the encoder read
    still_good(http, verifier)


def test_an_empty_document_list_is_an_empty_result(http):
    response = http.post("/v2/rerank", json={"query": QUERY, "documents": []})
    assert response.status_code == 200 and response.json()["results"] == []


def test_a_body_over_the_limit_is_a_413_and_the_server_goes_on(serve, verifier):
    from verimap.serve import create_app

    with serve(create_app(verifier, max_body_bytes=4096)) as url, httpx.Client(base_url=url, timeout=60) as http:
        big = json.dumps({"query": QUERY, "documents": ["The dog bit the man."] * 400}).encode()
        json_type = {"content-type": "application/json"}
        refused(http.post("/v2/rerank", content=big, headers=json_type), 413, "body")
        still_good(http, verifier)
        # Chunked, so no Content-Length says it in advance: counted as it arrives.
        chunks = (big[i : i + 1000] for i in range(0, len(big), 1000))
        refused(http.post("/v2/rerank", content=chunks, headers=json_type), 413, "body")
        still_good(http, verifier)
        # Far over the limit: the client still gets to read the refusal.
        refused(http.post("/rerank", content=b" " * (16 * 2**20), headers=json_type), 413, "body")
        still_good(http, verifier)


def test_the_document_cap_is_the_servers(serve, verifier):
    from verimap.serve import create_app

    with serve(create_app(verifier, max_documents=3)) as url, httpx.Client(base_url=url, timeout=60) as http:
        still_good(http, verifier)  # exactly 3
        body = http.post("/v2/rerank", json={"query": QUERY, "documents": [*DOCS, "one more"]})
        assert refused(body, 422, "documents")["message"] == "documents: at most 3 per request, got 4"


def test_auth(keyed_url, api_key, verifier):
    with httpx.Client(base_url=keyed_url, timeout=60) as http:
        refused(http.post("/v2/rerank", json=GOOD), 401, "authorization")
        assert http.post("/v2/rerank", json=GOOD).headers["www-authenticate"] == "Bearer"
        for header in (f"Bearer {api_key}x", f"Basic {api_key}", api_key, "Bearer", f"bearer  {api_key[:-1]}"):
            refused(http.post("/v2/rerank", json=GOOD, headers={"Authorization": header}), 401, "authorization")
        for path in ("/info", "/metrics", "/docs", "/openapi.json"):
            assert http.get(path).status_code == 401, path
        # Without the key, nothing of the request is looked at: not even malformed JSON.
        refused(
            http.post("/v2/rerank", content=b"{", headers={"content-type": "application/json"}), 401, "authorization"
        )
        assert http.get("/health").json()["status"] == "ready"  # open: what a load balancer probes
        keyed = {"Authorization": f"Bearer {api_key}"}
        response = http.post("/v2/rerank", json=GOOD, headers=keyed)
        assert response.status_code == 200
        assert [(r["index"], r["relevance_score"]) for r in response.json()["results"]] == [
            (r.index, r.score) for r in verifier.rank(QUERY, DOCS)
        ]
        assert http.get("/info", headers={"Authorization": f"bearer {api_key}"}).json()["auth"] is True
