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
- Indexing also keeps each passage's token vectors (int8, see :mod:`verimap.cache`) in
  ``<path>/verimap-tokens.sqlite``, attached to the encoder's cache: a verifier sharing the encoder reads them
  instead of re-encoding recalled passages at query time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verimap.encoder import TokenEncoder
from verimap.errors import StoreError
from verimap.inputs import check_query, check_texts
from verimap.optional import require

DEFAULT_PATH = "./verimap-index"
DEFAULT_COLLECTION = "verimap"
ENCODER_KEY = "verimap_encoder"  # collection metadata: the encoder that produced the vectors
SPACE = "cosine"
TOKEN_FILE = "verimap-tokens.sqlite"  # token vectors of indexed passages, beside Chroma's own files


@dataclass(frozen=True)
class Hit:
    """One recalled passage.

    :param score: cosine similarity of the pooled query and passage vectors (``1 - cosine distance``).
    """

    id: str
    text: str
    meta: dict[str, Any] = field(default_factory=dict)
    score: float = 0.0


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
    :param encoder: the encoder to embed with (share it with a :class:`~verimap.Verifier`); by default the
        bundled MiniLM, loaded on first use.
    :param create: create the store and collection if missing; ``False`` raises :class:`StoreError` instead
        (what a search wants: a typo in the path should not silently search an empty new index).
    :param ssl: use https to reach ``host``.
    :param headers: extra HTTP headers for ``host`` (e.g. an auth token).
    :param token_file: where indexed passages' token vectors are kept for the verifier: ``True`` (default) for
        ``<path>/verimap-tokens.sqlite`` of a local store (none for a server, unless a path is given), a path, or
        ``False`` for none. Attached to the encoder's cache (if it has one; other stores' files stay attached) when
        the encoder is first used; :meth:`add` writes this store's passages to this file only.
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
        if self._encoder is None:
            self._use(TokenEncoder())
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
        mine = self.encoder.encoder_id
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
        on_batch: Callable[[int], None] | None = None,
    ) -> int:
        """Embed and upsert passages; returns how many records were written.

        :param ids: one id per text; by default :func:`stable_id` of the text. Repeated ids within one call keep
            the last occurrence (and count once).
        :param metas: one metadata mapping (or ``None``) per text; see :func:`clean_meta`.
        :param batch_size: texts embedded and upserted per step. Each batch is upserted (and, for the local store,
            on disk) before ``on_batch(len(batch))`` is called, so progress never runs ahead of what is stored.
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
        if not texts:
            return 0
        self._check_encoder(claim=True)

        last = {x: k for k, x in enumerate(ids)}  # repeated id: the last one wins, and is written once
        rows = [k for k in range(len(texts)) if last[ids[k]] == k]
        written = 0
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            persist = self.token_file if self.encoder.cache is not None else None
            vectors = self.encoder.pooled([texts[k] for k in chunk], persist=persist)
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
            written += len(chunk)
            if on_batch is not None:
                on_batch(len(chunk))
        return written

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

    def query(self, text: str, k: int = 10) -> list[Hit]:
        """The ``k`` passages nearest ``text`` by pooled cosine, best first (fewer if the store holds fewer)."""
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
                query_embeddings=[vector], n_results=n, include=["documents", "metadatas", "distances"]
            )
        except Exception as exc:  # chromadb's own errors: the local client does not see other processes' writes
            raise StoreError(
                f"querying {self.where} failed ({type(exc).__name__}: {exc}). A local index is read by one process: "
                "if another process wrote to it since it was opened here, open it again, or serve it with "
                "`chroma run` and pass host/port (see docs/cli.md, 'Scaling out')"
            ) from exc
        metas = (res.get("metadatas") or [[None] * n])[0]
        return [
            Hit(id=i, text=doc or "", meta=_user_meta(m), score=1.0 - float(dist))
            for i, doc, m, dist in zip(res["ids"][0], res["documents"][0], metas, res["distances"][0])
        ]

    def __repr__(self) -> str:
        return f"VerimapStore({self.where!r}, collection={self.collection_name!r})"


def _user_meta(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (meta or {}).items() if k != "_"}
