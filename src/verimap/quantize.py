"""Residual quantisation of token vectors: how a token file stores a corpus in a small fraction of fp32.

A :class:`Codec` is trained once on the token vectors of the corpus being indexed (k-means, in torch) and kept in
the token file beside the rows it encodes (:mod:`verimap.cache`). Each unit token vector ``v`` is stored as

- the id of its nearest coarse centroid ``c`` (1 byte: up to 256 centroids), and
- its residual ``v - c`` product-quantised: cut into ``subspaces`` slices (2 dimensions each by default), each
  slice replaced by the id of its nearest of 16 code vectors trained for that slice (4 bits; two ids per byte).

That is 2 bits per dimension, as in ColBERTv2's residual compression, but with levels learned per pair of
dimensions rather than fixed per dimension (measured: mean cosine to the original 0.960 vs 0.943 for per-dimension
2-bit levels; 16 codes of 2 dimensions encode 6× faster than 256 codes of 4 for the same bytes and MaxSim error).
Decoding adds the centroid and the code vectors back and re-normalises (only directions matter for cosines).
``verimap bench cache`` measures what it does to verifier and MaxSim scores (docs/benchmarks.md).

>>> import torch
>>> x = torch.nn.functional.normalize(torch.randn(4000, 32, generator=torch.Generator().manual_seed(0)), dim=-1)
>>> codec = Codec.train(x, coarse=16, iters=4)
>>> codes = codec.encode(x[:3])
>>> codes.shape, codes.dtype                 # 1 byte of centroid id + 16 slices x 4 bits per vector
((3, 9), dtype('uint8'))
>>> bool((codec.decode(codes) * x[:3]).sum(-1).min() > 0.8)
True
>>> Codec.from_bytes(codec.to_bytes()) == codec
True
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np
import torch

CODES = 16  # code vectors per residual slice: 4 bits, two slice ids per byte
DEFAULT_COARSE = 256
SLICE = 2  # dimensions per residual slice by default
TRAIN_TOKENS = 65_536  # token vectors sampled to train a codec
PQ_TRAIN_TOKENS = 16_384  # of which the residual codes are trained on this many
MIN_TRAIN_TOKENS = 8_192  # fewer than this and no codec is trained (rows stay in the cache's own format)


def kmeans(x: torch.Tensor, k: int, iters: int = 10, seed: int = 0) -> torch.Tensor:
    """``(k, d)`` centroids of the rows of ``x`` (Lloyd's algorithm from ``k`` distinct random rows; a centroid that
    loses all its rows keeps its place). Deterministic for a given ``x`` and ``seed``.

    ``x`` may also be ``(M, n, d)``: ``M`` independent problems solved at once, giving ``(M, k, d)``."""
    batched = x.dim() == 3
    x = (x if batched else x.unsqueeze(0)).float()
    n = x.shape[1]
    k = min(k, n)
    g = torch.Generator().manual_seed(seed)
    centroids = x[:, torch.randperm(n, generator=g)[:k]].clone()
    for _ in range(iters):
        assign = _nearest_batched(x, centroids)  # (M, n)
        sums = torch.zeros_like(centroids).scatter_add_(1, assign.unsqueeze(-1).expand_as(x), x)
        counts = torch.zeros(centroids.shape[:2]).scatter_add_(1, assign, torch.ones(assign.shape)).unsqueeze(-1)
        centroids = torch.where(counts > 0, sums / counts.clamp(min=1), centroids)
    return centroids if batched else centroids[0]


def _nearest_batched(x: torch.Tensor, centroids: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    """``x`` ``(M, n, d)``, ``centroids`` ``(M, k, d)`` → ``(M, n)`` index of the nearest centroid per problem."""
    half_norms = 0.5 * (centroids * centroids).sum(-1).unsqueeze(1)  # (M, 1, k)
    out = [
        torch.argmax(torch.baddbmm(-half_norms, x[:, s : s + chunk], centroids.transpose(1, 2)), dim=-1)
        for s in range(0, x.shape[1], chunk)
    ]
    return torch.cat(out, dim=1) if out else torch.zeros(x.shape[0], 0, dtype=torch.long)


def nearest(x: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Index of the nearest centroid (Euclidean) of every row of ``x``."""
    return _nearest_batched(x.float().unsqueeze(0), centroids.unsqueeze(0))[0]


@dataclass(frozen=True, eq=False)
class Codec:
    """A trained coarse codebook and residual product quantiser.

    :param centroids: ``(coarse, dim)`` coarse centroids (at most 256; ``(0, dim)``: slices of the vector itself).
    :param books: ``(subspaces, 16, dim / subspaces)`` residual code vectors.
    """

    centroids: torch.Tensor
    books: torch.Tensor
    id: str = field(default="")

    def __post_init__(self) -> None:
        if len(self.centroids) > 256:
            raise ValueError(f"at most 256 coarse centroids (one byte), got {len(self.centroids)}")
        if self.books.shape[0] % 2 or self.books.shape[1] != CODES:
            raise ValueError(f"books must be (even subspaces, {CODES}, slice), got {tuple(self.books.shape)}")
        if not self.id:
            object.__setattr__(self, "id", hashlib.sha256(self.to_bytes()).hexdigest()[:16])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Codec) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def dim(self) -> int:
        return int(self.books.shape[0] * self.books.shape[2])

    @property
    def subspaces(self) -> int:
        return int(self.books.shape[0])

    @property
    def coarse_bytes(self) -> int:
        return 1 if len(self.centroids) else 0

    @property
    def code_bytes(self) -> int:
        """Bytes stored per token vector."""
        return self.coarse_bytes + self.subspaces // 2

    @classmethod
    def train(
        cls,
        vectors: torch.Tensor,
        *,
        coarse: int = DEFAULT_COARSE,
        slice_dim: int = SLICE,
        iters: int = 10,
        seed: int = 0,
    ) -> Codec:
        """Fit a codec to ``(n, dim)`` unit token vectors (:data:`TRAIN_TOKENS` or so of the corpus)."""
        x = vectors.float()
        dim = x.shape[1]
        if dim % (2 * slice_dim):
            raise ValueError(f"the vector size ({dim}) must be a multiple of twice the slice ({slice_dim})")
        if not 0 <= coarse <= 256:
            raise ValueError(f"coarse must be in 0..256, got {coarse}")
        centroids = kmeans(x, coarse, iters, seed) if coarse else torch.zeros(0, dim)
        residual = x - centroids[nearest(x, centroids)] if coarse else x
        # 16 codes of two dimensions need far fewer rows than the coarse centroids.
        rows = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[: max(PQ_TRAIN_TOKENS, CODES)]
        r = residual[rows].reshape(-1, dim // slice_dim, slice_dim).transpose(0, 1).contiguous()  # (M, n, slice)
        books = kmeans(r, CODES, iters, seed + 1)
        if books.shape[1] < CODES:  # fewer training rows than codes: pad with copies (never nearest-unique)
            books = torch.cat([books, books[:, :1].expand(-1, CODES - books.shape[1], -1)], 1)
        return cls(centroids.contiguous(), books.contiguous())

    def encode(self, vectors: torch.Tensor) -> np.ndarray:
        """``(n, code_bytes)`` uint8 codes of ``(n, dim)`` vectors."""
        x = vectors.float()
        n = len(x)
        parts = []
        if self.coarse_bytes:
            ids = nearest(x, self.centroids)
            x = x - self.centroids[ids]
            parts.append(ids.numpy().astype(np.uint8).reshape(n, 1))
        r = x.reshape(n, self.subspaces, -1).transpose(0, 1).contiguous()
        sub = _nearest_batched(r, self.books).T.numpy().astype(np.uint8)  # (n, M), values < 16
        parts.append(sub[:, 0::2] | (sub[:, 1::2] << 4))
        return np.ascontiguousarray(np.concatenate(parts, axis=1))

    def decode(self, codes: np.ndarray) -> torch.Tensor:
        """Normalised float32 vectors back from :meth:`encode`'s codes."""
        n = len(codes)
        codes = np.ascontiguousarray(codes, np.uint8)
        cb = self.coarse_bytes
        packed = codes[:, cb:]
        sub = np.empty((n, self.subspaces), np.int64)
        sub[:, 0::2], sub[:, 1::2] = packed & 15, packed >> 4
        x = self.books[torch.arange(self.subspaces).unsqueeze(0), torch.from_numpy(sub)].reshape(n, self.dim)
        if cb:
            x = x + self.centroids[torch.from_numpy(codes[:, 0].astype(np.int64))]
        return torch.nn.functional.normalize(x, dim=-1)

    # -- storage: the token file keeps the codec it encodes with -------------------------------------------------
    def to_bytes(self) -> bytes:
        head = json.dumps({"centroids": list(self.centroids.shape), "books": list(self.books.shape)}).encode()
        return b"".join(
            [
                len(head).to_bytes(4, "little"),
                head,
                self.centroids.numpy().astype(np.float32).tobytes(),
                self.books.numpy().astype(np.float32).tobytes(),
            ]
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Codec:
        size = int.from_bytes(data[:4], "little")
        head = json.loads(data[4 : 4 + size])
        offset = 4 + size
        arrays = []
        for key in ("centroids", "books"):
            shape = head[key]
            count = int(np.prod(shape))
            arrays.append(torch.from_numpy(np.frombuffer(data, np.float32, count, offset).reshape(shape).copy()))
            offset += 4 * count
        if offset != len(data):
            raise ValueError(f"codec blob of {len(data)} bytes does not match its header {head}")
        return cls(arrays[0], arrays[1])
