"""The token-embedding cache: hits equal misses, the byte budget holds, changed text is never served stale,
the disk tier survives a new process-like cache, and the store and CLI go through it (the adapters: their suites)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from verimap.cache import BUDGET_ENV, TokenCache, cache_key, default_cache
from verimap.verifier import Verifier

QUERY = "Did the dog bite the man?"
DOCS = ["The dog bit the man.", "The man bit the dog.", "A dog and a man walked in the park all afternoon."]


@pytest.fixture(scope="module")
def fresh(encoder):
    """A verifier over the shared encoder's model but with its own cache (so counts start at zero)."""
    return Verifier(encoder=encoder.with_cache(TokenCache(max_bytes=8 * 2**20)))


def test_hit_returns_the_same_scores_as_miss(fresh):
    fresh.encoder.cache.clear()
    cold = fresh.score(QUERY, DOCS)
    misses = fresh.encoder.cache.stats()["misses"]
    warm = fresh.score(QUERY, DOCS)
    stats = fresh.encoder.cache.stats()
    assert warm == cold
    assert stats["misses"] == misses and stats["hits"] >= len(DOCS) + 1
    a, b = fresh.encoder.encode(DOCS[:1])[0], fresh.encoder.encode(DOCS[:1])[0]
    assert torch.equal(a.vectors, b.vectors) and torch.equal(a.pooled, b.pooled) and a.tokens == b.tokens


def test_hit_tokens_match_the_tokenizer(fresh):
    fresh.encoder.encode(DOCS)
    hit = fresh.encoder.encode([DOCS[2]])[0]
    assert hit.tokens == fresh.encoder.tokenize(DOCS[2])
    assert len(hit.tokens) == len(hit.vectors)


def test_int8_cache_moves_scores_by_less_than_a_hundredth(fresh, encoder):
    exact = Verifier(encoder=encoder.with_cache(None))
    a, b = np.array(fresh.score(QUERY, DOCS)), np.array(exact.score(QUERY, DOCS))
    assert np.abs(a - b).max() < 0.01
    assert not np.array_equal(a, b)  # the int8 path really is taken


def test_changed_document_is_not_served_stale(fresh):
    enc = fresh.encoder
    before = enc.encode(["The dog bit the man."])[0]
    after = enc.encode(["The dog bit the mailman."])[0]
    assert after.tokens != before.tokens
    recomputed = enc.encode(["The dog bit the mailman."])[0]
    assert torch.equal(after.vectors, recomputed.vectors)
    assert cache_key(enc.encoder_id, enc.max_length, "a") != cache_key(enc.encoder_id, enc.max_length, "a ")


def test_key_includes_encoder_and_max_length():
    keys = {cache_key("m1", 256, "x"), cache_key("m2", 256, "x"), cache_key("m1", 128, "x")}
    assert len(keys) == 3


def _entry(cache: TokenCache, n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    v = torch.nn.functional.normalize(torch.randn(n, 384, generator=g), dim=-1)
    return cache.entry(v, v[0], False)


def test_eviction_respects_the_byte_budget():
    one = _entry(TokenCache(), 20, 0).nbytes
    cache = TokenCache(max_bytes=5 * one)
    for k in range(20):
        cache.put_many([(f"k{k}", _entry(cache, 20, k))])
        if k == 2:
            cache.get_many(["k0"])  # recently used: must outlive k1, k2
        assert cache.stats()["bytes"] <= cache.max_bytes
    stats = cache.stats()
    assert stats["entries"] == 5 and stats["evictions"] == 15
    present = [e is not None for e in cache.get_many([f"k{k}" for k in range(20)])]
    assert present == [False] * 15 + [True] * 5
    big = TokenCache(max_bytes=one - 1)
    big.put_many([("huge", _entry(big, 20, 0))])
    assert big.stats()["bytes"] == 0  # larger than the whole budget: not kept in memory


def test_formats_and_bad_settings():
    for fmt, dtype in (("int8", np.int8), ("fp16", np.float16), ("fp32", np.float32)):
        cache = TokenCache(format=fmt)
        e = _entry(cache, 3, 1)
        assert e.vectors.dtype == dtype
    with pytest.raises(ValueError, match="format"):
        TokenCache(format="int4")
    with pytest.raises(ValueError, match="max_bytes"):
        TokenCache(max_bytes=-1)


def test_budget_from_environment(monkeypatch):
    monkeypatch.setenv(BUDGET_ENV, "0")
    assert default_cache() is None
    monkeypatch.setenv(BUDGET_ENV, "1.5")
    assert default_cache().max_bytes == int(1.5 * 2**20)
    monkeypatch.setenv(BUDGET_ENV, "lots")
    with pytest.raises(ValueError, match=BUDGET_ENV):
        default_cache()


def test_disk_tier_persists_indexed_text_only(tmp_path, fresh):
    path = tmp_path / "tokens.sqlite"
    writer = fresh.encoder.with_cache(TokenCache(path=path))
    indexed = writer.encode(DOCS, persist=path)
    writer.encode([QUERY])  # a query: memory only
    reader = fresh.encoder.with_cache(TokenCache(path=path))  # as a new process would open it
    again = reader.encode(DOCS)
    assert reader.cache.stats()["disk_hits"] == len(DOCS)
    assert all(torch.equal(a.vectors, b.vectors) for a, b in zip(indexed, again))
    reader.encode([QUERY])
    assert reader.cache.stats()["disk_hits"] == len(DOCS)  # the query was not on disk
    writer.cache.detach(), reader.cache.detach()


def test_corrupt_disk_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "tokens.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ValueError, match="tokens.sqlite"):
        TokenCache(path=bad)


def test_store_fills_the_token_file_at_index_time(tmp_path, fresh):
    pytest.importorskip("chromadb")
    from verimap.store import TOKEN_FILE, VerimapStore

    enc = fresh.encoder.with_cache(TokenCache())
    store = VerimapStore(tmp_path / "index", encoder=enc)
    assert store.add(DOCS) == len(DOCS)
    assert enc.cache.paths == [(tmp_path / "index" / TOKEN_FILE).resolve()]
    reader = fresh.encoder.with_cache(TokenCache(path=tmp_path / "index" / TOKEN_FILE))
    reader.encode(DOCS)
    assert reader.cache.stats()["disk_hits"] == len(DOCS)
    enc.cache.detach(), reader.cache.detach()


def test_cli_search_reads_what_index_stored(tmp_path, capsys, encoder):
    pytest.importorskip("chromadb")
    from verimap.cli import main

    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(f'{{"text": "{d}"}}\n' for d in DOCS), encoding="utf-8")
    assert main(["index", str(docs), "--store", str(tmp_path / "index"), "--quiet"]) == 0
    encoder.cache.clear()  # as if `verimap search` ran in a new process: only the token file has the passages
    before = encoder.cache.stats()["disk_hits"]
    assert main(["search", QUERY, "--store", str(tmp_path / "index"), "--json"]) == 0
    capsys.readouterr()
    assert encoder.cache.stats()["disk_hits"] - before == len(DOCS)
    encoder.cache.detach()
