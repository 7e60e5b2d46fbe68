"""Indexing with Ray Data, for corpora that outgrow one machine's cores: ``pip install 'verimap[ray]'``.

The same index as :meth:`verimap.store.VerimapStore.add_documents` (same passages, ids, metadata, vectors and token
rows), with the encoding spread over a Ray cluster:

1. the driver splits the documents into passages (cheap) and, when there is a token file, trains its codec on the
   same sample a single process would (:func:`verimap.store.codec_sample`), so every worker codes alike;
2. ``Dataset.map_batches`` runs :class:`EncodeAndWrite` on a pool of actors: each loads the encoder once, embeds
   its batches (vectors, parse, token rows) and upserts them into a Chroma **server** (``chroma run``) that every
   worker reaches;
3. the driver drops the passages that re-indexed documents no longer have.

The token file is SQLite: workers on one machine share it (WAL); across machines give each node the same path on
its own disk and copy the rows where the verifier runs, or pass ``token_file=None`` (the verifier then encodes
recalled passages at query time). It holds the token vectors of the verifier of ``weights`` (its tower's, when the
weights have one), so index with the weights you rerank with. See docs/cli.md, "Scaling out".

>>> from verimap.ray_index import index_with_ray                     # doctest: +SKIP
>>> ray.init()                                                      # doctest: +SKIP
>>> index_with_ray(docs, host="chroma.internal", port=8000, token_file="/data/verimap-tokens.sqlite")  # doctest: +SKIP
9631
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from verimap import passages as P
from verimap.optional import require
from verimap.store import DEFAULT_COLLECTION, VerimapStore, plan_batches

if TYPE_CHECKING:
    from verimap.encoder import TokenEncoder


def token_encoder(weights: str | None, model: str | None, device: str) -> TokenEncoder:
    """A new encoder of ``model`` seen as the verifier of ``weights`` sees it (``Verifier.encoder``): the stock recall
    vectors, the verifier's token vectors. Not the process-wide one, so detaching its token file touches nothing
    else."""
    from verimap.encoder import TokenEncoder
    from verimap.verifier import Verifier

    return Verifier(weights, encoder=TokenEncoder(model, device=device), device=device).encoder


class EncodeAndWrite:
    """A Ray Data actor: one encoder and one store client per worker; each batch of passages is embedded and
    upserted (``VerimapStore.add``), and the batch comes back as ``{"written": [n]}``."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        collection: str,
        token_file: str | None,
        model: str | None = None,
        device: str = "cpu",
        weights: str | None = None,
    ) -> None:
        from verimap.encoder import TokenEncoder

        # With a token file, the verifier's token vectors go to it; without one, only recall vectors are written.
        encoder = token_encoder(weights, model, device) if token_file else TokenEncoder(model, device=device)
        self.store = VerimapStore(
            host=host,
            port=port,
            collection=collection,
            encoder=encoder,
            token_file=token_file or False,
            codec=False,  # the driver trained it: workers only read it from the token file
        )

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [str(t) for t in batch["text"]]
        written = self.store.add(
            texts,
            ids=[str(x) for x in batch["id"]],
            metas=[json.loads(m) for m in batch["meta"]],
            batch_size=len(texts),
        )
        return {"written": np.array([written])}


def index_with_ray(
    documents: Sequence[P.Document],
    *,
    host: str,
    port: int = 8000,
    collection: str = DEFAULT_COLLECTION,
    token_file: str | Path | None = None,
    model: str | None = None,
    weights: str | Path | None = None,
    device: str = "cpu",
    max_tokens: int | None = None,
    overlap: int = P.DEFAULT_OVERLAP,
    batch_size: int = 64,
    workers: int = 2,
) -> int:
    """Index ``documents`` into the Chroma server at ``host:port`` with Ray Data; returns the passages written.

    Call ``ray.init(...)`` first (or run inside a Ray job). ``workers`` encoder actors each take one CPU (with
    ``device="cuda"``, give Ray GPUs and pass ``num_gpus`` through your own ``map_batches`` instead);
    ``batch_size`` passages go to an actor at a time, shortest first as :func:`verimap.store.plan_batches` orders
    them. ``weights``: the verifier weights (``None``: shipped) whose token vectors go to ``token_file``, those of the
    verifier that will read it (``verimap search`` with the same ``--weights``).
    """
    require("ray", install="'verimap[ray]'", who="verimap.ray_index")
    import ray.data  # the Data library: `ray[data]`

    from verimap.encoder import TokenEncoder

    driver = VerimapStore(
        host=host,
        port=port,
        collection=collection,
        encoder=TokenEncoder(model, device=device, parser=False),  # splitting and the codec sample only
        token_file=str(token_file) if token_file else False,
    )
    passages = driver.passages(documents, max_tokens=max_tokens, overlap=overlap)
    if not passages:
        return 0
    driver._check_encoder(claim=True)
    lengths = driver.lengths([p.text for p in passages])
    weights = str(weights) if weights is not None else None
    if token_file:
        # The codec sample must be encoded exactly as the workers encode (the verifier's view, with its parser and
        # any codec shipped with its tower), so their encoder here.
        driver._use(token_encoder(weights, model, device))
        driver._train_codec([p.text for p in passages], lengths)
    order = [k for batch in plan_batches(lengths, batch_size) for k in batch]
    rows: list[dict[str, Any]] = [
        {"id": passages[k].id, "text": passages[k].text, "meta": json.dumps(passages[k].store_meta)} for k in order
    ]
    written = (
        ray.data.from_items(rows)
        .map_batches(
            EncodeAndWrite,
            batch_size=batch_size,
            compute=ray.data.ActorPoolStrategy(size=workers),
            fn_constructor_kwargs={
                "host": host,
                "port": port,
                "collection": collection,
                "token_file": str(token_file) if token_file else None,
                "model": model,
                "device": device,
                "weights": weights,
            },
            batch_format="numpy",
        )
        .sum("written")
    )
    driver._drop_stale(passages)
    if driver.encoder.cache is not None:
        driver.encoder.cache.detach()
    return int(written or 0)
