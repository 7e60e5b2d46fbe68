"""Residual-coded token files: a codec trained on the corpus lives in the file, rows written after it are codes,
a hit returns exactly what the miss returned, old int8 rows stay readable, and a codec is never replaced."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
import torch

from verimap.cache import TokenCache
from verimap.quantize import Codec, kmeans
from verimap.scorers import maxsim

TEXTS = [
    f"Record {i}: the {a} {v} the {b} near the station on day {i}, and nobody saw it."
    for i, (a, v, b) in enumerate(
        [
            (a, v, b)
            for a in ("dog", "cat", "pilot", "doctor")
            for v in ("bit", "helped", "met")
            for b in ("man", "child")
        ]
    )
]


def unit(n: int, dim: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.randn(n, dim, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_codec_round_trip_bytes_and_determinism():
    x = unit(3000)
    a, b = Codec.train(x, coarse=32, iters=5), Codec.train(x, coarse=32, iters=5)
    assert a == b and a.id == b.id  # same data, same codec
    assert Codec.from_bytes(a.to_bytes()).id == a.id
    codes = a.encode(x[:100])
    assert codes.shape == (100, a.code_bytes) == (100, 1 + 32 // 4) and codes.dtype == np.uint8
    back = a.decode(codes)
    assert torch.allclose(back.norm(dim=-1), torch.ones(100), atol=1e-5)
    assert float((back * x[:100]).sum(-1).mean()) > 0.85
    assert np.array_equal(a.encode(back), a.encode(back))
    with pytest.raises(ValueError):
        Codec.train(x, coarse=300)


def test_kmeans_lowers_the_error_deterministically():
    x = torch.cat([c + 0.3 * unit(300, 8, i) for i, c in enumerate(unit(6, 8, 9) * 3)])

    def error(c: torch.Tensor) -> float:
        return float(torch.cdist(x, c).min(1).values.pow(2).mean())

    start, found = kmeans(x, 6, iters=0), kmeans(x, 6, iters=10)
    assert error(found) < 0.8 * error(start)
    assert torch.equal(found, kmeans(x, 6, iters=10)) and not torch.equal(found, kmeans(x, 6, iters=10, seed=1))
    batched = kmeans(torch.stack([x, x.flip(0)]), 6, iters=10)
    assert batched.shape == (2, 6, 8) and torch.equal(batched[0], found)


@pytest.fixture()
def coded(tmp_path, encoder):
    """An encoder behind its own cache, a token file with a codec trained on TEXTS' vectors."""
    enc = encoder.with_cache(TokenCache(max_bytes=64 * 2**20))
    path = tmp_path / "tokens.sqlite"
    vectors = torch.cat([e.vectors for e in enc.encode(TEXTS)])
    codec = enc.cache.set_codec(path, enc.encoder_id, Codec.train(vectors, coarse=16, iters=5))
    enc.cache.clear()
    return enc, path, codec


def test_rows_written_after_a_codec_are_codes_and_a_hit_equals_the_miss(coded, encoder):
    enc, path, codec = coded
    written = enc.encode(TEXTS[:6], persist=path)
    with sqlite3.connect(path) as conn:
        formats = {r[0] for r in conn.execute("SELECT format FROM tokens")}
        sizes = conn.execute("SELECT rows, length(vectors) FROM tokens").fetchall()
    assert formats == {f"rq:{codec.id}"} and all(b == n * codec.code_bytes for n, b in sizes)
    fresh = encoder.with_cache(TokenCache(path=path))  # another process, reading the file
    read = fresh.encode(TEXTS[:6])
    assert fresh.cache.stats()["disk_hits"] == 6
    for a, b in zip(written, read):
        assert torch.equal(a.vectors, b.vectors) and torch.equal(a.pooled, b.pooled)
        assert b.parse is not None and np.array_equal(a.parse.role, b.parse.role)
    exact = encoder.with_cache(None).encode(TEXTS[:6])
    assert (
        np.mean([abs(maxsim(e.vectors, e.vectors) - maxsim(e.vectors, r.vectors)) for e, r in zip(exact, read)]) < 0.02
    )


def test_a_codec_is_never_replaced_and_old_rows_stay_readable(tmp_path, encoder):
    enc = encoder.with_cache(TokenCache())
    path = tmp_path / "tokens.sqlite"
    int8 = enc.encode(TEXTS[:2], persist=path)  # before any codec: int8 rows
    first = enc.cache.set_codec(path, enc.encoder_id, Codec.train(unit(2000, 384, 1), coarse=8, iters=3))
    second = enc.cache.set_codec(path, enc.encoder_id, Codec.train(unit(2000, 384, 2), coarse=8, iters=3))
    assert second == first and enc.cache.codec(path, enc.encoder_id) == first
    assert enc.cache.codec(path, "another-encoder") is None
    fresh = encoder.with_cache(TokenCache(path=path))
    again = fresh.encode(TEXTS[:2])
    assert fresh.cache.stats()["disk_hits"] == 2
    assert all(torch.equal(a.vectors, b.vectors) for a, b in zip(int8, again))
