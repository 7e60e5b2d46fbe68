"""The public verifier: encoder + similarity maps + network → calibrated P(match).

>>> from verimap import Verifier
>>> v = Verifier()                                    # bundled encoder + shipped weights, CPU
>>> scores = v.score("Did the dog bite the man?", ["The dog bit the man.", "The man bit the dog."])
>>> all(0.0 <= s <= 1.0 for s in scores)
True
>>> [r.index for r in v.rank("Did the dog bite the man?", ["The man bit the dog.", "The dog bit the man."])][:1]
[1]
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from verimap import weights as weights_io
from verimap.encoder import Encoded, TokenEncoder
from verimap.inputs import check_query, check_texts
from verimap.policy import DEFAULT_MODE, Mode, Ranking, apply_policy, verdict
from verimap.scorers import Scorer, maxsim
from verimap.simmap import cosine_map, similarity_maps, windows


@dataclass(frozen=True)
class Explanation:
    """Why a candidate scored as it did.

    :param map: ``(len(query_tokens), len(doc_tokens))`` cosine map.
    :param best_match: per query token, ``(doc token index, cosine)`` of its best match (``-1`` if the doc is empty).
    """

    query_tokens: list[str]
    doc_tokens: list[str]
    map: np.ndarray
    best_match: list[tuple[int, float]]
    score: float
    accepted: bool
    threshold: float

    def unmatched(self, below: float = 0.5) -> list[str]:
        """Query tokens whose best cosine in the document is under ``below``."""
        return [t for t, (_, s) in zip(self.query_tokens, self.best_match) if s < below]

    def to_text(self) -> str:
        lines = [f"score {self.score:.3f} → {'ACCEPT' if self.accepted else 'REJECT'} (threshold {self.threshold:.4g})"]
        for tok, (j, s) in zip(self.query_tokens, self.best_match):
            target = self.doc_tokens[j] if j >= 0 else "∅"
            lines.append(f"  {tok:>15} → {target:<15} {s:+.2f}{'   (no good match)' if s < 0.5 else ''}")
        return "\n".join(lines)


class Verifier(Scorer):
    """Structural verifier.

    :param weights: a ``.safetensors`` file with its ``.json`` card beside it; ``None`` for the shipped weights.
    :param encoder: a :class:`TokenEncoder` to share (e.g. with a store); by default the bundled MiniLM.
    :param device: torch device for the encoder and the network (``"cpu"`` by default).
    :param batch_size: similarity maps per network forward.
    :param threshold: accept threshold on the calibrated probability; ``None`` uses the card's default.
    """

    name = "verifier"

    def __init__(
        self,
        weights: str | Path | None = None,
        *,
        encoder: TokenEncoder | None = None,
        device: str | torch.device = "cpu",
        batch_size: int = 64,
        threshold: float | None = None,
    ) -> None:
        stock = encoder if encoder is not None else TokenEncoder(device=device)
        self.network, self.card, adapter_state = weights_io.load(weights, encoder_id=stock.encoder_id)
        # With an adapter, token vectors come from a tuned copy of the encoder; recall keeps the stock one.
        super().__init__(
            stock.with_adapter(self.card.adapter, adapter_state, merge=True) if self.card.adapter else stock
        )
        self.device = torch.device(device)
        self.network.to(self.device)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1 (got {batch_size})")
        self.batch_size = batch_size
        self.threshold = self.card.threshold if threshold is None else float(threshold)
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")

    # -- scoring -----------------------------------------------------------------------------------------------
    def _score_encoded(self, pairs: list[tuple[Encoded, Encoded]]) -> list[float]:
        logits = self.pair_logits(pairs)
        cal = self.card.calibration
        z = torch.tensor([0.0 if x is None else x for x in logits], dtype=torch.float64)
        probs = torch.sigmoid(cal["scale"] * z + cal["bias"]).tolist()
        return [0.0 if x is None else p for x, p in zip(logits, probs)]  # a side with no tokens matches nothing

    def pair_logits(self, pairs: list[tuple[Encoded, Encoded]]) -> list[float | None]:
        """Raw network logit per pair (``None`` where a side has no tokens).

        Texts longer than the map are read in windows (see :meth:`_directional`), so nothing is cut.
        """
        direct = self._directional([(a.vectors, b.vectors) for a, b in pairs])
        if not self.card.symmetric:
            return direct
        reverse = self._directional([(b.vectors, a.vectors) for a, b in pairs])
        return [None if x is None else (x + y) / 2 for x, y in zip(direct, reverse)]

    @torch.inference_mode()
    def _directional(self, pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> list[float | None]:
        """Logit per (query, doc) pair. Both sides are read in half-overlapping windows of the map's size:
        each query window takes its best document window, and the pair gets its *worst* query window, so
        every part of the query must be supported somewhere in the document."""
        rows, cols = self.card.network.map_rows, self.card.network.map_cols
        owners, qs, ds = [], [], []
        for k, (q, d) in enumerate(pairs):
            if not len(q) or not len(d):
                continue
            for qi, (qs_, qe) in enumerate(windows(len(q), rows, max(1, rows // 2))):
                for s, e in windows(len(d), cols, max(1, cols // 2)):
                    owners.append((k, qi))
                    qs.append(q[qs_:qe])
                    ds.append(d[s:e])
        # Length buckets: the network cuts each batch to its largest map, so similar sizes share a batch.
        order = sorted(range(len(owners)), key=lambda i: (len(qs[i]), len(ds[i])))
        best: dict[tuple[int, int], float] = {}
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            maps, mask = similarity_maps([qs[i] for i in chunk], [ds[i] for i in chunk], (rows, cols))
            out = self.network(maps.to(self.device), mask.to(self.device)).float().cpu().tolist()
            for i, x in zip(chunk, out):
                best[owners[i]] = max(best.get(owners[i], x), x)
        result: list[float | None] = [None] * len(pairs)
        for (k, _), x in best.items():
            result[k] = x if result[k] is None else min(result[k], x)  # type: ignore[type-var]
        return result

    # -- ranking -----------------------------------------------------------------------------------------------
    def rank(
        self,
        query: str,
        documents: Sequence[str],
        top_k: int | None = None,
        threshold: float | None = None,
        *,
        mode: Mode = DEFAULT_MODE,
        prior_scores: Sequence[float] | None = None,
    ) -> Ranking:
        """Verify ``documents`` against ``query`` and order them by the policy (:mod:`verimap.policy`).

        :param top_k: keep at most this many documents (applied after the threshold).
        :param threshold: a threshold for this call: documents under it are set aside, in every mode. ``None``:
            this verifier's threshold gives the verdicts, and drops only in ``rerank`` / ``filter`` mode.
        :param mode: ``fuse`` (default) | ``rerank`` | ``filter``. ``fuse`` orders by
            ``fuse_weight * verifier + (1 - fuse_weight) * prior`` (``fuse_weight`` from the weights card), the
            prior being MaxSim over the same token vectors unless ``prior_scores`` are given (e.g. the retriever's,
            see :func:`verimap.policy.prior_from_incoming`). Why it is the default: docs/benchmarks.md.
        :returns: a :class:`~verimap.policy.Ranking`: iterate it for the kept results (``index``, ``score``,
            ``verifier_score``, ``accepted``); ``.rejected`` holds the ones set aside.
        """
        query = check_query(query)
        documents = check_texts(documents, "documents")
        enc = self.encode_unique([query, *documents])
        pairs = [(enc[query], enc[d]) for d in documents]
        scores = self._score_encoded(pairs)
        if mode == "fuse" and prior_scores is None:
            prior_scores = [maxsim(q.vectors, d.vectors) for q, d in pairs]
        return apply_policy(
            scores,
            mode=mode,
            threshold=threshold,
            default_threshold=self.threshold,
            top_k=top_k,
            prior_scores=prior_scores,
            fuse_weight=self.card.fuse_weight,
        )

    async def rank_async(
        self, query: str, documents: Sequence[str], top_k: int | None = None, threshold: float | None = None, **kwargs
    ) -> Ranking:
        """:meth:`rank` in a worker thread, so an event loop keeps serving while torch computes."""
        return await asyncio.to_thread(self.rank, query, documents, top_k, threshold, **kwargs)

    async def score_async(self, query: str, documents: Sequence[str]) -> list[float]:
        return await asyncio.to_thread(self.score, query, documents)

    # -- explaining --------------------------------------------------------------------------------------------
    def explain(self, query: str, document: str) -> Explanation:
        """The full token map of one pair, each query token's best match, and the verifier's verdict."""
        query = check_query(query)
        document = check_texts([document], "document")[0]
        enc = self.encode_unique([query, document])
        q, d = enc[query], enc[document]
        score = self._score_encoded([(q, d)])[0]
        sim = cosine_map(q.vectors, d.vectors).numpy() if len(d.tokens) else np.zeros((len(q.tokens), 0), np.float32)
        best = [(int(r.argmax()), float(r.max())) if r.size else (-1, 0.0) for r in sim]
        return Explanation(q.tokens, d.tokens, sim, best, score, verdict(score, self.threshold), self.threshold)
