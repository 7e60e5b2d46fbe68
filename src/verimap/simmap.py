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
