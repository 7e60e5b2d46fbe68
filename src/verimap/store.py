"""A thin embedded store: Chroma holding the pooled vectors of verimap's own encoder (the recall stage).

>>> from verimap.store import VerimapStore
>>> store = VerimapStore("./verimap-index")                     # doctest: +SKIP
>>> store.add(["Flights from Paris to Rome leave hourly."])      # doctest: +SKIP
1
>>> [h.id for h in store.query("flights to Rome", k=5)]          # doctest: +SKIP
['5c1d...']

- Local by default: a :func:`chromadb.PersistentClient` at ``path`` (``./verimap-index``), telemetry off.
- Scale-out: pass ``host``/``port`` to talk to a Chroma server (``chroma run --path /data --port 8000``) through
  :func:`chromadb.HttpClient` instead; the API is the same.
- The collection uses cosine space, so a hit's ``score`` is the cosine of pooled vectors (what a dense retriever
  ranks by), and records the encoder's id: opening it with another encoder is an error, not silent garbage.
- Writes are upserts keyed by a stable id (given, or the sha256 of the text), so re-indexing is idempotent.
  Embeddings are always computed here and passed explicitly: Chroma's own embedding function is never used.
- Indexing also keeps each passage's token vectors in ``<path>/verimap-tokens.sqlite``, attached to the
  encoder's cache: a verifier sharing the encoder reads them instead of re-encoding recalled passages at query
  time. The first :meth:`VerimapStore.add` with enough text trains a residual codec on it (:mod:`verimap.quantize`)
  and keeps it in that file: from then on a token costs 97 bytes there instead of int8's 384.
- :meth:`VerimapStore.add` writes in one pass sorted by length, in batches bounded by a budget of padded tokens (so
  short and long passages alike fill the encoder's batches); :meth:`VerimapStore.add_documents` first splits
  documents into passages that fit the encoder (:mod:`verimap.passages`), each stored with its document's id and
  offsets, and removes the passages a re-indexed document no longer has.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from verimap import passages as P
from verimap.encoder import TokenEncoder
from verimap.errors import StoreError
from verimap.inputs import check_query, check_texts
from verimap.optional import require
from verimap.quantize import MIN_TRAIN_TOKENS, TRAIN_TOKENS, Codec

DEFAULT_PATH = "./verimap-index"
DEFAULT_COLLECTION = "verimap"
ENCODER_KEY = "verimap_encoder"  # collection metadata: the encoder that produced the vectors
SPACE = "cosine"
TOKEN_FILE = "verimap-tokens.sqlite"  # token vectors of indexed passages, beside Chroma's own files
TOKEN_BUDGET = 16_384  # padded word pieces per write batch (64 passages of 256, 1,024 of 16)


@dataclass(frozen=True)
class Hit:
    """One recalled passage.

    :param score: cosine similarity of the pooled query and passage vectors (``1 - cosine distance``).
    :param parent_id: the id of the document it is a passage of (its own id for a record stored whole).
    :param passage: its number in that document (from 0), of ``passages``.
    :param start: its character offsets in the document's text (``end`` is exclusive).
    """

    id: str
    text: str
    meta: dict[str, Any] = field(default_factory=dict)
    score: float = 0.0
    parent_id: str = ""
    passage: int = 0
    passages: int = 1
    start: int = 0
    end: int = 0


def plan_batches(lengths: Sequence[int], batch_size: int, token_budget: int = TOKEN_BUDGET) -> list[list[int]]:
    """The order :meth:`VerimapStore.add` writes rows in: by length (word pieces; ties in input order), cut into
    batches of at most ``batch_size`` rows whose padded size (rows × longest) stays within ``token_budget``.

    >>> plan_batches([5, 1, 9, 1], batch_size=8, token_budget=15)
    [[1, 3, 0], [2]]
    """
    order = sorted(range(len(lengths)), key=lambda k: (lengths[k], k))
    batches: list[list[int]] = []
    current: list[int] = []
    for k in order:
        if current and (len(current) >= batch_size or (len(current) + 1) * max(lengths[k], 1) > token_budget):
            batches.append(current)
            current = []
        current.append(k)
    if current:
        batches.append(current)
    return batches


def codec_sample(lengths: Sequence[int], tokens: int = TRAIN_TOKENS) -> list[int]:
    """Rows whose token vectors train a store's codec: spread evenly over the rows sorted by length, about
    ``tokens`` word pieces in all (every row if they hold fewer). Deterministic, so any indexer that sees the same
    rows (one process, or Ray workers' driver) trains the same codec."""
    order = sorted(range(len(lengths)), key=lambda k: (lengths[k], k))
    total = sum(lengths)
    if total <= tokens:
        return order
    step = total / tokens
    picked, acc, goal = [], 0.0, 0.0
    for k in order:
        if acc >= goal:
            picked.append(k)
            goal += step * lengths[k]
        acc += lengths[k]
    return sorted(picked)


def stable_id(text: str) -> str:
    """The default id of a passage: sha256 of its UTF-8 text (same text, same id, so upserts are idempotent)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def clean_meta(meta: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Metadata as Chroma accepts it: str/int/float/bool values kept, ``None`` dropped, anything else JSON-encoded.

    Returns ``None`` for empty metadata (Chroma refuses an empty dict).
    """
    if meta is None:
        return None
    if not isinstance(meta, Mapping):
        raise StoreError(f"metadata must be a mapping, got {type(meta).__name__}")
    out: dict[str, Any] = {}
    for key, value in meta.items():
        if value is None:
            continue
        if isinstance(value, (str, int, float, bool)):
            out[str(key)] = value
        else:
            out[str(key)] = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return out or None


class VerimapStore:
    """Chroma collection of pooled embeddings from a :class:`~verimap.TokenEncoder`.

    :param path: directory of the local persistent store (default ``./verimap-index``); ignored with ``host``.
    :param collection: collection name (3-512 characters of ``[a-zA-Z0-9._-]``).
    :param host: a Chroma server's host: use :func:`chromadb.HttpClient` instead of a local directory.
    :param port: the server's port (default 8000).
    :param encoder: the encoder to embed with (share it with a :class:`~verimap.Verifier`: ``verifier.encoder``); by
        default the shipped verifier's view of the bundled MiniLM (:func:`verimap.shared.shared_token_encoder`:
        stock pooled vectors into Chroma, the verifier's token vectors into the token file), loaded on first use.
    :param create: create the store and collection if missing; ``False`` raises :class:`StoreError` instead
        (what a search wants: a typo in the path should not silently search an empty new index).
    :param ssl: use https to reach ``host``.
    :param headers: extra HTTP headers for ``host`` (e.g. an auth token).
    :param token_file: where indexed passages' token vectors are kept for the verifier: ``True`` (default) for
        ``<path>/verimap-tokens.sqlite`` of a local store (none for a server, unless a path is given), a path, or
        ``False`` for none. Attached to the encoder's cache (if it has one; other stores' files stay attached) when
        the encoder is first used; :meth:`add` writes this store's passages to this file only.
    :param codec: let the first :meth:`add` of at least 8,192 word pieces train a residual codec for the token file
        (kept in it; a file that has one keeps it). ``False``: rows stay in the cache's format (int8).
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        collection: str = DEFAULT_COLLECTION,
        host: str | None = None,
        port: int | None = None,
        encoder: TokenEncoder | None = None,
        create: bool = True,
        ssl: bool = False,
        headers: Mapping[str, str] | None = None,
        token_file: str | Path | bool = True,
        codec: bool = True,
    ) -> None:
        chromadb = require("chromadb", install="'verimap[chroma]'", who="verimap.store")
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False)
        self.collection_name = collection
        self.host = host
        self.port = port
        self.path: Path | None = None
        if host:
            self.client = chromadb.HttpClient(
                host=host, port=port or 8000, ssl=ssl, headers=dict(headers or {}), settings=settings
            )
            where = f"{'https' if ssl else 'http'}://{host}:{port or 8000}"
        else:
            self.path = Path(path if path is not None else DEFAULT_PATH)
            if not create and not self.path.is_dir():
                raise StoreError(f"no index at {self.path} (run `verimap index` first, or pass the right store path)")
            self.client = chromadb.PersistentClient(path=str(self.path), settings=settings)
            where = str(self.path)
        self.where = where
        if token_file is True:
            token_file = self.path / TOKEN_FILE if self.path is not None else False
        self.token_file: Path | None = Path(token_file).resolve() if token_file else None
        self.codec = codec
        self._encoder: TokenEncoder | None = None
        if encoder is not None:
            self._use(encoder)
        if create:
            self.collection = self.client.get_or_create_collection(
                collection,
                configuration={"hnsw": {"space": SPACE}},
                embedding_function=None,
            )
        else:
            try:
                self.collection = self.client.get_collection(collection, embedding_function=None)
            except Exception as exc:  # chromadb raises NotFoundError (1.x) or ValueError (older)
                raise StoreError(f"no collection {collection!r} in {where} (run `verimap index` first)") from exc
        space = self._space()
        if space is not None and space != SPACE:
            raise StoreError(f"collection {collection!r} in {where} uses {space!r} distance; verimap needs {SPACE!r}")

    # -- encoder -------------------------------------------------------------------------------------------------
    @property
    def encoder(self) -> TokenEncoder:
        if self._encoder is None:  # the shipped verifier's view: stock recall vectors, its own token vectors
            from verimap.shared import shared_token_encoder

            self._use(shared_token_encoder())
        return self._encoder  # type: ignore[return-value]

    def _use(self, encoder: TokenEncoder) -> None:
        self._encoder = encoder
        if self.token_file is not None and encoder.cache is not None:
            encoder.cache.attach(self.token_file)  # read through it; another store's file stays attached too

    @property
    def encoder_id(self) -> str | None:
        """The encoder that wrote this collection's vectors (``None`` while it is empty and unclaimed)."""
        return (self.collection.metadata or {}).get(ENCODER_KEY)

    def _space(self) -> str | None:
        config = getattr(self.collection, "configuration", None) or {}
        hnsw = config.get("hnsw") if isinstance(config, Mapping) else None
        if isinstance(hnsw, Mapping) and hnsw.get("space"):
            return str(hnsw["space"])
        return (self.collection.metadata or {}).get("hnsw:space")

    def _check_encoder(self, claim: bool) -> None:
        mine = self.encoder.recall_id  # a verifier tower's view of the stock encoder writes the stock vectors
        theirs = self.encoder_id
        if theirs is None:
            if claim:
                meta = {**(self.collection.metadata or {}), ENCODER_KEY: mine}
                self.collection.modify(metadata=meta)
            return
        if theirs != mine:
            raise StoreError(
                f"collection {self.collection_name!r} in {self.where} holds vectors from encoder {theirs!r}, "
                f"not {mine!r}: use the same encoder, or index into another collection/path"
            )

    # -- writing -------------------------------------------------------------------------------------------------
    def add(
        self,
        texts: Sequence[str],
        ids: Sequence[str] | None = None,
        metas: Sequence[Mapping[str, Any] | None] | None = None,
        *,
        batch_size: int = 128,
        token_budget: int = TOKEN_BUDGET,
        on_batch: Callable[[int], None] | None = None,
    ) -> int:
        """Embed and upsert passages; returns how many records were written.

        :param ids: one id per text; by default :func:`stable_id` of the text. Repeated ids within one call keep
            the last occurrence (and count once).
        :param metas: one metadata mapping (or ``None``) per text; see :func:`clean_meta`.
        :param batch_size: most texts embedded and upserted per step; ``token_budget``: most padded word pieces per
            step. Texts are written shortest first (:func:`plan_batches`). Each batch is upserted (and, for the local
            store, on disk) before ``on_batch(len(batch))`` is called, so progress never runs ahead of what is
            stored.
        """
        texts = check_texts(texts, "texts")
        for i, t in enumerate(texts):
            if not t.strip():
                raise StoreError(f"texts[{i}] is empty: nothing to embed")
        if ids is None:
            ids = [stable_id(t) for t in texts]
        else:
            ids = list(ids)
            if len(ids) != len(texts):
                raise StoreError(f"got {len(ids)} ids for {len(texts)} texts")
            for i, x in enumerate(ids):
                if not isinstance(x, str) or not x:
                    raise StoreError(f"ids[{i}] must be a non-empty string, got {x!r}")
        if metas is None:
            metas = [None] * len(texts)
        else:
            metas = list(metas)
            if len(metas) != len(texts):
                raise StoreError(f"got {len(metas)} metadata entries for {len(texts)} texts")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1 (got {batch_size})")
        if token_budget < 1:
            raise ValueError(f"token_budget must be at least 1 (got {token_budget})")
        if not texts:
            return 0
        self._check_encoder(claim=True)

        last = {x: k for k, x in enumerate(ids)}  # repeated id: the last one wins, and is written once
        rows = [k for k in range(len(texts)) if last[ids[k]] == k]
        lengths = self.lengths([texts[k] for k in rows])
        self._train_codec([texts[k] for k in rows], lengths)
        persist = self.token_file if self.encoder.cache is not None else None
        written = 0

        def upsert(chunk: list[int], vectors: torch.Tensor) -> int:
            cleaned = [clean_meta(metas[k]) for k in chunk]
            kwargs: dict[str, Any] = {}
            if any(m is not None for m in cleaned):
                # Chroma wants a metadata dict per record; mark the bare ones so none is empty.
                kwargs["metadatas"] = [m if m is not None else {"_": ""} for m in cleaned]
            self.collection.upsert(
                ids=[ids[k] for k in chunk],
                embeddings=vectors.numpy().tolist(),
                documents=[texts[k] for k in chunk],
                **kwargs,
            )
            return len(chunk)

        # The encoder never waits for the store: batch n is upserted by a writer thread while batch n + 1 is
        # encoded (torch releases the GIL in its kernels). Progress is reported once a batch is stored.
        with ThreadPoolExecutor(1, thread_name_prefix="verimap-upsert") as writer:
            pending: Future[int] | None = None
            for batch in plan_batches(lengths, batch_size, token_budget):
                chunk = [rows[b] for b in batch]
                vectors = self.encoder.pooled([texts[k] for k in chunk], persist=persist)
                if pending is not None:
                    written += self._stored(pending, on_batch)
                pending = writer.submit(upsert, chunk, vectors)
            if pending is not None:
                written += self._stored(pending, on_batch)
        return written

    @staticmethod
    def _stored(pending: Future[int], on_batch: Callable[[int], None] | None) -> int:
        n = pending.result()  # re-raises the writer's error here
        if on_batch is not None:
            on_batch(n)
        return n

    def lengths(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text as the encoder reads it (with [CLS]/[SEP], at most its ``max_length``)."""
        if not texts:
            return []
        got = self.encoder.tokenizer(list(texts), add_special_tokens=True, return_length=True)["length"]
        return [min(int(n), self.encoder.max_length) for n in got]

    def _train_codec(self, texts: Sequence[str], lengths: Sequence[int]) -> Codec | None:
        """The token file's codec: trained now on a sample of ``texts`` if the file has none and they are enough
        (see :func:`codec_sample`). Encoding the sample fills the memory cache, so nothing is encoded twice."""
        cache = self.encoder.cache
        if not self.codec or self.token_file is None or cache is None:
            return None
        found = cache.codec(self.token_file, self.encoder.encoder_id)
        if found is None and self.encoder.codec is not None:  # the codec shipped with the verifier's tower
            return cache.set_codec(self.token_file, self.encoder.encoder_id, self.encoder.codec)
        if found is not None or sum(lengths) - 2 * len(lengths) < MIN_TRAIN_TOKENS:
            return found
        sample = codec_sample([n - 2 for n in lengths])
        encoded = self.encoder.encode([texts[k] for k in sample], warn=False)
        vectors = torch.cat([e.vectors for e in encoded])[:TRAIN_TOKENS]
        return cache.set_codec(self.token_file, self.encoder.encoder_id, Codec.train(vectors))

    def add_documents(
        self,
        documents: Sequence[P.Document],
        *,
        max_tokens: int | None = None,
        overlap: int = P.DEFAULT_OVERLAP,
        batch_size: int = 128,
        token_budget: int = TOKEN_BUDGET,
        on_batch: Callable[[int], None] | None = None,
        passages: Sequence[P.Passage] | None = None,
    ) -> int:
        """Split documents into passages (:func:`verimap.passages.split_documents`) and :meth:`add` them; returns
        the passages written. Afterwards, passages of these documents left from an earlier, longer version (and a
        record stored under a document's own id by an older verimap, before it was split) are deleted.

        :param max_tokens: longest passage in word pieces (default: what the encoder reads, ``max_length - 2``).
        :param passages: the split already made (by :meth:`passages`), to report progress against it.
        """
        if passages is None:
            passages = self.passages(documents, max_tokens=max_tokens, overlap=overlap)
        written = self.add(
            [p.text for p in passages],
            ids=[p.id for p in passages],
            metas=[p.store_meta for p in passages],
            batch_size=batch_size,
            token_budget=token_budget,
            on_batch=on_batch,
        )
        self._drop_stale(passages)
        return written

    def passages(
        self, documents: Sequence[P.Document], *, max_tokens: int | None = None, overlap: int = P.DEFAULT_OVERLAP
    ) -> list[P.Passage]:
        """The passages :meth:`add_documents` writes for ``documents`` (a repeated document id: the last one)."""
        limit = self.encoder.max_length - 2
        max_tokens = limit if max_tokens is None else max_tokens
        if not 8 <= max_tokens <= limit:
            raise StoreError(f"passages must be 8..{limit} word pieces (what the encoder reads), got {max_tokens}")
        last = {d.id: d for d in documents}
        return P.split_documents(list(last.values()), self.encoder.tokenizer, max_tokens, overlap)

    def _drop_stale(self, passages: Sequence[P.Passage]) -> None:
        expected: dict[str, set[str]] = {}
        for p in passages:
            expected.setdefault(p.parent_id, set()).add(p.id)
        parents = list(expected)
        stale: list[str] = []
        for start in range(0, len(parents), 500):
            chunk = parents[start : start + 500]
            got = self.collection.get(where={P.PARENT_KEY: {"$in": chunk}}, include=["metadatas"])
            for x, m in zip(got["ids"], got["metadatas"] or []):
                if x not in expected[(m or {}).get(P.PARENT_KEY)]:
                    stale.append(x)
            split = [x for x in chunk if x not in expected[x]]  # documents now stored as several passages
            if split:
                stale += self.collection.get(ids=split, include=[])["ids"]
        self.delete(stale)

    def delete(self, ids: Sequence[str]) -> None:
        """Remove records by id (missing ids are ignored)."""
        ids = list(ids)
        if ids:
            self.collection.delete(ids=ids)

    def reset(self) -> None:
        """Drop every record of this collection (the collection itself is recreated empty)."""
        self.client.delete_collection(self.collection_name)
        self.collection = self.client.get_or_create_collection(
            self.collection_name, configuration={"hnsw": {"space": SPACE}}, embedding_function=None
        )

    # -- reading -------------------------------------------------------------------------------------------------
    def count(self) -> int:
        return int(self.collection.count())

    def query(self, text: str, k: int = 10, *, where: Mapping[str, Any] | None = None) -> list[Hit]:
        """The ``k`` passages nearest ``text`` by pooled cosine, best first (fewer if the store holds fewer).

        :param where: a Chroma metadata filter (e.g. ``{"year": 2020}``, ``{"$and": [...]}``): only passages whose
            metadata match are searched.
        """
        text = check_query(text)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        n = min(k, self.count())
        if n == 0:
            return []
        self._check_encoder(claim=False)
        vector = self.encoder.pooled([text])[0].numpy().tolist()
        try:
            res = self.collection.query(
                query_embeddings=[vector],
                n_results=n,
                where=dict(where) if where else None,
                include=["documents", "metadatas", "distances"],
            )
        except Exception as exc:  # chromadb's own errors: the local client does not see other processes' writes
            if where:
                raise StoreError(f"querying {self.where} with where={dict(where)!r} failed: {exc}") from exc
            raise StoreError(
                f"querying {self.where} failed ({type(exc).__name__}: {exc}). A local index is read by one process: "
                "if another process wrote to it since it was opened here, open it again, or serve it with "
                "`chroma run` and pass host/port (see docs/cli.md, 'Scaling out')"
            ) from exc
        found = len(res["ids"][0])
        metas = (res.get("metadatas") or [[None] * found])[0]
        return [
            _hit(i, doc or "", m, 1.0 - float(dist))
            for i, doc, m, dist in zip(res["ids"][0], res["documents"][0], metas, res["distances"][0])
        ]

    def __repr__(self) -> str:
        return f"VerimapStore({self.where!r}, collection={self.collection_name!r})"


def _hit(id: str, text: str, meta: Mapping[str, Any] | None, score: float) -> Hit:
    meta = dict(meta or {})
    return Hit(
        id=id,
        text=text,
        meta={k: v for k, v in meta.items() if k != "_" and k not in P.RESERVED},
        score=score,
        parent_id=str(meta.get(P.PARENT_KEY, id)),
        passage=int(meta.get(P.INDEX_KEY, 0)),
        passages=int(meta.get(P.COUNT_KEY, 1)),
        start=int(meta.get(P.START_KEY, 0)),
        end=int(meta.get(P.END_KEY, len(text))),
    )


def best_per_document(hits: Sequence[Hit], order: Sequence[int]) -> list[int]:
    """Of passages visited in ``order`` (indices into ``hits``, best first), the first of each document: the
    document ranking, each document shown by its best passage.

    >>> hits = [Hit("a#0", "x", parent_id="a"), Hit("b", "y", parent_id="b"), Hit("a#1", "z", parent_id="a")]
    >>> best_per_document(hits, [2, 0, 1])
    [2, 1]
    """
    seen: set[str] = set()
    out = []
    for i in order:
        parent = hits[i].parent_id or hits[i].id
        if parent not in seen:
            seen.add(parent)
            out.append(i)
    return out
