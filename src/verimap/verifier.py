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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from verimap import weights as weights_io
from verimap.encoder import Encoded, TokenEncoder
from verimap.inputs import check_query, check_texts
from verimap.parse import POS
from verimap.policy import DEFAULT_MODE, Mode, Ranking, apply_policy, verdict
from verimap.reasons import explain_batch
from verimap.scorers import Scorer, maxsim
from verimap.simmap import cosine_map, structure_maps, windows
from verimap.tower import Tower, codec_from_state, token_mean


@dataclass(frozen=True)
class Explanation:
    """Why a candidate scored as it did.

    :param map: ``(len(query_tokens), len(doc_tokens))`` cosine map.
    :param best_match: per query token, ``(doc token index, cosine)`` of its best match (``-1`` if the doc is empty).
    :param reason: the structure channel that drove the verdict (:mod:`verimap.reasons`: ``role``, ``direction``,
        ``negation``, ``number``, ``antonym``, ``attachment``, ``unmatched``), or ``None``.
    :param reason_tokens: the (query token, document token) pairs involved.
    """

    query_tokens: list[str]
    doc_tokens: list[str]
    map: np.ndarray
    best_match: list[tuple[int, float]]
    score: float
    accepted: bool
    threshold: float
    reason: str | None = None
    reason_tokens: list[tuple[str, str]] = field(default_factory=list)

    def unmatched(self, below: float = 0.5) -> list[str]:
        """Query tokens whose best cosine in the document is under ``below``."""
        return [t for t, (_, s) in zip(self.query_tokens, self.best_match) if s < below]

    def to_text(self) -> str:
        lines = [f"score {self.score:.3f} → {'ACCEPT' if self.accepted else 'REJECT'} (threshold {self.threshold:.4g})"]
        if self.reason:
            pairs = ", ".join(f"{a} ↔ {b}" for a, b in self.reason_tokens[:6])
            lines.append(f"  why: {self.reason}" + (f" ({pairs})" if pairs else ""))
        for tok, (j, s) in zip(self.query_tokens, self.best_match):
            target = self.doc_tokens[j] if j >= 0 else "∅"
            lines.append(f"  {tok:>15} → {target:<15} {s:+.2f}{'   (no good match)' if s < 0.5 else ''}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values: what ``verimap explain --json`` prints and ``POST /explain`` returns (score to 6
        decimals, cosines to 4; ``match`` is ``None`` for an empty document)."""
        return {
            "score": round(self.score, 6),
            "accepted": self.accepted,
            "threshold": self.threshold,
            "reason": self.reason,
            "reason_tokens": [list(pair) for pair in self.reason_tokens],
            "query_tokens": self.query_tokens,
            "candidate_tokens": self.doc_tokens,
            "best_match": [
                {"token": t, "match": self.doc_tokens[j] if j >= 0 else None, "cosine": round(s, 4)}
                for t, (j, s) in zip(self.query_tokens, self.best_match)
            ],
            "unmatched": self.unmatched(),
            "map": [[round(float(v), 4) for v in row] for row in self.map],
        }


def _window(parse, start: int, end: int):
    return None if parse is None else parse.window(start, end)


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
        given = encoder if encoder is not None else TokenEncoder(device=device)
        # An encoder that is already a tower view (e.g. another Verifier's ``encoder``) is checked by its stock id.
        self.network, self.card, adapter_state = weights_io.load(weights, encoder_id=given.recall_id)
        # With a tower (or an older adapter), token vectors come from tuned encoder layers; recall keeps the stock
        # pooled vector, so every index built with the stock encoder stays valid.
        if self.card.tower:
            try:
                tower = Tower.from_state(given.model, int(self.card.tower["layers"]), adapter_state)
            except ValueError as exc:
                raise weights_io.WeightsError(f"{weights or weights_io.SHIPPED}: {exc}") from exc
            int8 = bool(self.card.tower.get("int8"))
            if given.tower is None:
                tuned = given.with_tower(tower, codec_from_state(adapter_state), int8=int8)
            elif given.encoder_id == f"{given.recall_id}+tower-{tower.digest()}{'-int8' if int8 else ''}":
                tuned = given  # these weights' own tower view: share it (its cache too)
            else:
                raise weights_io.WeightsError(
                    f"{weights or weights_io.SHIPPED}: the encoder passed reads another tower's token vectors "
                    f"({given.encoder_id}); pass the stock TokenEncoder() or the encoder of a verifier with these weights"
                )
        elif given.tower is not None:
            raise weights_io.WeightsError(
                f"{weights or weights_io.SHIPPED} has no tower, but the encoder passed reads a tower's token vectors "
                f"({given.encoder_id}); pass the stock TokenEncoder()"
            )
        elif self.card.adapter:
            tuned = given.with_adapter(self.card.adapter, adapter_state, merge=True)
        else:
            tuned = given
        if not weights_io.needs_parse(self.card.network) and tuned.parser is not None:
            tuned = tuned.with_parser(None)  # these weights read no parse: don't spend a parse per text
        super().__init__(tuned)
        self.recall = self.card.network.pooled != "tokens"  # the network reads no recall vector: skip its layers
        if weights_io.needs_parse(self.card.network) and self.encoder.parser is None:
            raise weights_io.WeightsError(
                "these weights read the dependency parse, but the encoder was built without "
                "a parser (TokenEncoder(parser=False)); pass an encoder with a parser"
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
    def score_pairs(self, pairs: Sequence[tuple[str, str]], *, symmetric: bool | None = None) -> list[float]:
        """Calibrated probability per ``(a, b)`` pair, ``a`` read as the query.

        :param symmetric: read every pair both ways and average the two logits, as weights whose card says
            ``symmetric`` always do: for two texts where neither is the query (two prompts, two answers).
            ``None``: the card's setting.
        """
        encoded = self.encode_pairs(pairs)
        return self._score_encoded(encoded, symmetric=symmetric) if encoded else []

    def _score_encoded(self, pairs: list[tuple[Encoded, Encoded]], *, symmetric: bool | None = None) -> list[float]:
        logits = self.pair_logits(pairs, symmetric=symmetric)
        cal = self.card.calibration
        z = torch.tensor([0.0 if x is None else x for x in logits], dtype=torch.float64)
        probs = torch.sigmoid(cal["scale"] * z + cal["bias"]).tolist()
        return [0.0 if x is None else p for x, p in zip(logits, probs)]  # a side with no tokens matches nothing

    def pair_logits(self, pairs: list[tuple[Encoded, Encoded]], *, symmetric: bool | None = None) -> list[float | None]:
        """Raw network logit per pair (``None`` where a side has no tokens).

        Texts longer than the map are read in windows (see :meth:`_directional`), so nothing is cut.

        :param symmetric: average with the reversed pair's logit (``None``: the card's ``symmetric``).
        """
        direct = self._directional(pairs)
        if not (self.card.symmetric if symmetric is None else symmetric):
            return direct
        reverse = self._directional([(b, a) for a, b in pairs])
        return [None if x is None else (x + y) / 2 for x, y in zip(direct, reverse)]

    def _windows(self, k: int, q: Encoded, d: Encoded) -> list[tuple[tuple[int, int, int, int], tuple]]:
        """The (query window, document window) pairs the network reads for one pair: half-overlapping windows of
        the map's size on both sides, so nothing is cut. Each item: ``((pair, query window, q start, d start),
        structure_maps arguments)``."""
        rows, cols = self.card.network.map_rows, self.card.network.map_cols
        if not len(q.vectors) or not len(d.vectors):
            return []
        if self.card.network.pooled == "tokens":
            pooled = float(token_mean(q.vectors) @ token_mean(d.vectors))
        else:
            pooled = float(q.pooled @ d.pooled)
        return [
            (
                (k, qi, qs, s),
                (q.vectors[qs:qe], d.vectors[s:e], _window(q.parse, qs, qe), _window(d.parse, s, e), pooled),
            )
            for qi, (qs, qe) in enumerate(windows(len(q.vectors), rows, max(1, rows // 2)))
            for s, e in windows(len(d.vectors), cols, max(1, cols // 2))
        ]

    def _batch(self, items: list[tuple]):
        rows, cols = self.card.network.map_rows, self.card.network.map_cols
        return structure_maps(
            *zip(*[c[:4] for c in items]), (rows, cols), self.card.network.channels, [c[4] for c in items]
        ).to(self.device)

    @torch.inference_mode()
    def _window_logits(self, pairs: list[tuple[Encoded, Encoded]]) -> list[tuple[tuple[int, int, int, int], float]]:
        """Every window pair's logit."""
        items = [w for k, (q, d) in enumerate(pairs) for w in self._windows(k, q, d)]
        # Length buckets: the network cuts each batch to its largest map, so similar sizes share a batch. The key
        # depends only on the pair itself, so a candidate's batch (and its bits) do not depend on input order.
        order = sorted(
            range(len(items)),
            key=lambda i: (
                len(items[i][1][0]),
                len(items[i][1][1]),
                float(items[i][1][1][:1].sum()),
                float(items[i][1][0][:1].sum()),
            ),
        )
        out = []
        for start in range(0, len(order), self.batch_size):
            chunk = [items[i] for i in order[start : start + self.batch_size]]
            logits = self.network(self._batch([c[1] for c in chunk])).float().cpu().tolist()
            out += [(c[0], x) for c, x in zip(chunk, logits)]
        return out

    def _directional(self, pairs: list[tuple[Encoded, Encoded]]) -> list[float | None]:
        """Logit per (query, doc) pair: each query window takes its best document window, and the pair gets its
        *worst* query window, so every part of the query must be supported somewhere in the document."""
        return [None if w is None else w[1] for w in self._decisive(pairs)]

    def _decisive(self, pairs: list[tuple[Encoded, Encoded]]) -> list[tuple[tuple[int, int, int, int], float] | None]:
        """Per pair, the window pair that decided its logit, and that logit (``None`` where a side is empty)."""
        best: dict[tuple[int, int], tuple[tuple[int, int, int, int], float]] = {}
        for key, x in self._window_logits(pairs):
            if (key[0], key[1]) not in best or x > best[key[0], key[1]][1]:
                best[key[0], key[1]] = (key, x)
        result: list = [None] * len(pairs)
        for (k, _), (key, x) in best.items():
            if result[k] is None or x < result[k][1]:
                result[k] = (key, x)
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
        reason, tokens = self._reason(q, d)
        return Explanation(
            q.tokens,
            d.tokens,
            sim,
            best,
            score,
            verdict(score, self.threshold),
            self.threshold,
            reason,
            [(q.tokens[i], d.tokens[j] if j >= 0 else "∅") for i, j in tokens],
        )

    def _reason(self, q: Encoded, d: Encoded) -> tuple[str | None, list[tuple[int, int]]]:
        """The channel that drove this pair's verdict (see :mod:`verimap.reasons`), on the window pair that decided
        it, with token indices into the whole texts."""
        decisive = self._decisive([(q, d)])[0]
        if decisive is None or len(self.card.network.channels) == 1:
            return None, []
        (_, _, qs, ds), _ = decisive
        item = next(w[1] for w in self._windows(0, q, d) if w[0][2:] == (qs, ds))
        pos = [POS[p] for p in q.parse.pos[qs:]] if q.parse is not None else []
        why = explain_batch(self.network, self._batch([item]), pos)
        return why.name, [(i + qs, j + ds if j >= 0 else -1) for i, j in why.tokens]
