"""Token-token cosine similarity maps, padded or cropped to the fixed geometry the network reads.

>>> import torch
>>> from verimap.simmap import similarity_maps
>>> q = torch.nn.functional.normalize(torch.randn(3, 8), dim=-1)
>>> d = torch.nn.functional.normalize(torch.randn(5, 8), dim=-1)
>>> maps, mask = similarity_maps([q], [d], size=(4, 4))
>>> tuple(maps.shape), mask[0].sum().item()          # 3 query rows kept, 4 of 5 doc columns kept (cropped)
((1, 4, 4), 12)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch


def cosine_map(query: torch.Tensor, doc: torch.Tensor) -> torch.Tensor:
    """``(m, n)`` cosine similarities of L2-normalised token vectors."""
    return query @ doc.T


def similarity_maps(
    queries: Sequence[torch.Tensor],
    docs: Sequence[torch.Tensor],
    size: tuple[int, int],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Batched maps for aligned (query, doc) token-vector pairs.

    :param queries: per pair, ``(m_i, d)`` normalised query token vectors.
    :param docs: per pair, ``(n_i, d)`` normalised document token vectors.
    :param size: ``(M, N)``: rows beyond ``M`` / columns beyond ``N`` are cropped, shorter ones zero-padded.
    :returns: ``maps`` ``(B, M, N)`` float32 and ``mask`` ``(B, M, N)`` bool, true where both tokens exist.
    """
    if len(queries) != len(docs):
        raise ValueError(f"{len(queries)} queries but {len(docs)} documents")
    M, N = size
    B = len(queries)
    if B == 0:
        return torch.zeros(0, M, N), torch.zeros(0, M, N, dtype=torch.bool)
    # Pad every pair into one (B, m, dim) and one (B, n, dim) tensor, m and n the longest sides in the batch
    # (at most M, N), so the products are a single bmm over real tokens; then zero-pad to (M, N).
    q = torch.nn.utils.rnn.pad_sequence([x[:M].float() for x in queries], batch_first=True)
    d = torch.nn.utils.rnn.pad_sequence([x[:N].float() for x in docs], batch_first=True)
    maps = torch.nn.functional.pad(torch.bmm(q, d.transpose(1, 2)), (0, N - d.shape[1], 0, M - q.shape[1]))
    dev = maps.device  # CPU at inference; the accelerator when training end to end
    q_len = torch.tensor([min(len(x), M) for x in queries], device=dev)
    d_len = torch.tensor([min(len(x), N) for x in docs], device=dev)
    rows = torch.arange(M, device=dev).unsqueeze(0) < q_len.unsqueeze(1)
    cols = torch.arange(N, device=dev).unsqueeze(0) < d_len.unsqueeze(1)
    mask = rows.unsqueeze(2) & cols.unsqueeze(1)
    return maps * mask, mask


def windows(length: int, width: int, stride: int) -> list[tuple[int, int]]:
    """Start/end offsets covering ``length`` tokens with windows of ``width`` (last one flush with the end)."""
    if length <= width:
        return [(0, length)]
    starts = list(range(0, length - width + 1, stride))
    if starts[-1] + width < length:
        starts.append(length - width)
    return [(s, s + width) for s in starts]


# -- structure channels --------------------------------------------------------------------------------------------
# Each channel is one number per (query token, document token) cell, read by the network beside the cosine. Their
# names are recorded in the weights card ("map channels"), so weights only load where the same channels are built.
CHANNELS = ("cosine", "head", "role", "polarity", "number", "confidence", "antonym")


@dataclass
class PairBatch:
    """What the network reads for a batch of (query, document) pairs.

    :param maps: ``(B, C, M, N)`` channel maps, one channel per name in ``channels`` (zero outside ``mask``).
    :param mask: ``(B, M, N)`` bool, true where both tokens exist.
    :param q_tags / d_tags: ``(B, 4, M)`` / ``(B, 4, N)`` int64 tag ids per token: POS, role, dependency label, negated.
    :param pooled: ``(B,)`` cosine of the two texts' pooled vectors (the dense retriever's evidence).
    """

    maps: torch.Tensor
    mask: torch.Tensor
    q_tags: torch.Tensor
    d_tags: torch.Tensor
    pooled: torch.Tensor
    channels: tuple[str, ...]

    def only(self, channels: Sequence[str]) -> PairBatch:
        """The same batch with just ``channels``, in that order (a network reads the channels its card names)."""
        if tuple(channels) == self.channels:
            return self
        missing = [c for c in channels if c not in self.channels]
        if missing:
            raise ValueError(f"the network reads channels {missing} that this batch lacks ({list(self.channels)})")
        idx = [self.channels.index(c) for c in channels]
        return PairBatch(self.maps[:, idx], self.mask, self.q_tags, self.d_tags, self.pooled, tuple(channels))

    def to(self, device) -> PairBatch:
        return PairBatch(
            self.maps.to(device),
            self.mask.to(device),
            self.q_tags.to(device),
            self.d_tags.to(device),
            self.pooled.to(device),
            self.channels,
        )


def _tags(parses, length: int, size: int) -> torch.Tensor:
    out = torch.zeros(len(parses), 4, size, dtype=torch.long)
    for b, p in enumerate(parses):
        if p is None:
            continue
        n = min(len(p), size)
        for k, field in enumerate(("pos", "role", "dep", "neg")):
            out[b, k, :n] = torch.from_numpy(getattr(p, field)[:n].astype(np.int64))
    return out


def _gather_heads(parses, size: int) -> torch.Tensor:
    out = torch.arange(size).repeat(len(parses), 1)
    for b, p in enumerate(parses):
        if p is not None:
            n = min(len(p), size)
            h = torch.from_numpy(p.head[:n].astype(np.int64))
            out[b, :n] = torch.where(h < n, h, torch.arange(n))
    return out


def structure_maps(
    queries: Sequence[torch.Tensor],
    docs: Sequence[torch.Tensor],
    q_parses: Sequence,
    d_parses: Sequence,
    size: tuple[int, int],
    channels: Sequence[str] = CHANNELS,
    pooled: Sequence[float] | None = None,
) -> PairBatch:
    """Channel maps for aligned (query, doc) pairs: the cosine map plus what the two parses say about each cell.

    - ``head``: cosine of the two tokens' heads (``S[head(i), head(j)]``): "red" in "red shirt" matches "red" in
      "red hat" by cosine, but not by head;
    - ``role``: +1 when both tokens have the same canonical role (subject, object, dative, or object of the same
      preposition), -1 when they have different ones, 0 when either has none;
    - ``polarity``: +1 when both are in a negated scope or neither is, -1 when one is;
    - ``number``: +1 when both are numbers of the same value, -1 when of different values, 0 otherwise;
    - ``confidence``: 1 when both tokens' two parses agreed (see :mod:`verimap.parse`), else 0;
    - ``antonym``: 1 when the two words are opposites in the lexicon (:mod:`verimap.lexicon`), else 0.

    A text with no parse (``None``) has no roles, negation or numbers, and each token is its own head.
    """
    unknown = set(channels) - set(CHANNELS)
    if unknown:
        raise ValueError(f"unknown map channels {sorted(unknown)}; known: {CHANNELS}")
    maps, mask = similarity_maps(queries, docs, size)
    M, N = size
    B = len(queries)
    if pooled is None:
        pooled = [0.0] * B
    q_tags, d_tags = _tags(q_parses, M, M), _tags(d_parses, N, N)
    planes = []
    for name in channels:
        if name == "cosine":
            planes.append(maps)
        elif name == "head":
            hq, hd = _gather_heads(q_parses, M), _gather_heads(d_parses, N)
            rows = maps.gather(1, hq.unsqueeze(2).expand(-1, -1, N))
            planes.append(rows.gather(2, hd.unsqueeze(1).expand(-1, M, -1)) * mask)
        elif name == "role":
            rq, rd = q_tags[:, 1].unsqueeze(2), d_tags[:, 1].unsqueeze(1)
            both = (rq > 0) & (rd > 0)
            planes.append(torch.where(both, torch.where(rq == rd, 1.0, -1.0), 0.0) * mask)
        elif name == "polarity":
            nq, nd = q_tags[:, 3].unsqueeze(2), d_tags[:, 3].unsqueeze(1)
            planes.append(torch.where(nq == nd, 1.0, -1.0) * mask)
        elif name == "number":
            vq, vd = _values(q_parses, M).unsqueeze(2), _values(d_parses, N).unsqueeze(1)
            both = torch.isfinite(vq) & torch.isfinite(vd)
            same = (vq - vd).abs() <= 1e-6 * torch.maximum(vq.abs(), torch.ones_like(vq))
            planes.append(torch.where(both, torch.where(same, 1.0, -1.0), 0.0) * mask)
        elif name == "antonym":
            planes.append(_antonyms(q_parses, d_parses, M, N) * mask)
        elif name == "confidence":
            cq, cd = _conf(q_parses, M).unsqueeze(2), _conf(d_parses, N).unsqueeze(1)
            planes.append(cq * cd * mask)
    return PairBatch(
        torch.stack(planes, 1), mask, q_tags, d_tags, torch.tensor(list(pooled), dtype=torch.float32), tuple(channels)
    )


def _values(parses, size: int) -> torch.Tensor:
    out = torch.full((len(parses), size), float("nan"))
    for b, p in enumerate(parses):
        if p is not None:
            n = min(len(p), size)
            out[b, :n] = torch.from_numpy(p.num[:n].astype(np.float32))
    return out


def _antonyms(q_parses, d_parses, M: int, N: int) -> torch.Tensor:
    from verimap.lexicon import lexicon

    lex = lexicon()
    out = np.zeros((len(q_parses), M, N), np.float32)
    for b, (q, d) in enumerate(zip(q_parses, d_parses)):
        if q is None or d is None:
            continue
        a, c = q.lex[:M], d.lex[:N]
        if a.any() and c.any():
            out[b, : len(a), : len(c)] = lex.opposite_ids(a[:, None], c[None, :])
    return torch.from_numpy(out)


def _conf(parses, size: int) -> torch.Tensor:
    out = torch.zeros(len(parses), size)
    for b, p in enumerate(parses):
        if p is not None:
            n = min(len(p), size)
            out[b, :n] = torch.from_numpy(p.conf[:n].astype(np.float32))
    return out
