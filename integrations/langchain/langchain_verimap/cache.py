"""LangChain LLM caches that serve a cached answer only when verimap's guard says the new prompt means the same.

- :class:`VerifiedSemanticCache`: a semantic cache on a LangChain ``VectorStore`` (by default an embedded Chroma
  with verimap's own embeddings, in memory or persisted); every recalled prompt is verified by
  :class:`verimap.guard.CacheGuard` before its answer is served.
- :class:`GuardedLookupCache`: the guard in front of a prompt-similarity lookup you already have (Redis, a SQL
  table, a service): you return candidate cached prompts and their values, the guard picks the one to serve.

Both work with ``set_llm_cache(cache)`` and with a model's ``cache=cache``. What the guard reads of a prompt
(:func:`read_prompt`): a chat model's prompt is its message list serialised by ``langchain_core.load.dumps``; the
guard reads the **last message's text**, and everything else (the earlier messages, the last message's type and
non-text content) must be **identical** for a cached entry to be a candidate at all. So a cached answer is never
served into another conversation or after another system prompt, whatever the words. A plain LLM's prompt is read
as it is.

Nothing here scores or thresholds: the verdicts are the core's (:mod:`verimap.guard`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.caches import RETURN_VAL_TYPE, BaseCache
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.load import dumps, load, loads
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, Generation, GenerationChunk
from langchain_core.vectorstores import InMemoryVectorStore, VectorStore

from verimap.errors import StoreError
from verimap.guard import CacheGuard
from verimap.inputs import check_top_k, has_visible_text
from verimap.optional import require

__all__ = ["GuardedLookupCache", "Prompt", "VerifiedSemanticCache", "read_prompt"]

logger = logging.getLogger(__name__)

ENTRY_KEY = "verimap_cache_key"
"""Metadata key of a cached entry: sha256 of its ``llm_string`` and the prompt's context (see :func:`read_prompt`)."""
GENERATIONS = "verimap_generations"
"""Metadata key holding the cached generations, serialised with ``langchain_core.load.dumps``."""
ENCODER = "verimap_encoder"
"""Collection metadata of the default Chroma store: the encoder its vectors come from."""
DEFAULT_COLLECTION = "verimap_cache"

# What a cached value may revive into (never arbitrary classes: the store may hold anything).
_REVIVABLE = [Generation, GenerationChunk, ChatGeneration, ChatGenerationChunk, AIMessage, AIMessageChunk]


@dataclass(frozen=True)
class Prompt:
    """A cache prompt as the guard sees it.

    :param text: what the guard reads and the store embeds (a chat prompt's last message text).
    :param context: what must be identical between two prompts for one to be served for the other.
    """

    text: str
    context: str


def read_prompt(prompt: str) -> Prompt:
    """Split a LangChain cache ``prompt`` into the text the guard reads and the context that must match exactly.

    A chat model's prompt (``dumps`` of its messages): the text is the last message's text; the context is every
    earlier message and the last message without its text (its type, name, non-text content blocks). A prompt
    whose messages cannot be revived safely (``allowed_objects="messages"``) is cached exactly: its context is the
    whole prompt. Any other string is an LLM prompt, read as it is, with no context.

    >>> read_prompt("How do I switch on dark mode?")
    Prompt(text='How do I switch on dark mode?', context='')
    """
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be a string, got {type(prompt).__name__}")
    data = _serialised_messages(prompt)
    if data is None:
        return Prompt(prompt, "")
    try:
        messages = load(data, allowed_objects="messages")
    except Exception:  # a message type outside the safe list (e.g. a legacy ChatMessage): exact matches only
        return Prompt(prompt, prompt)
    if not all(isinstance(m, BaseMessage) for m in messages):  # e.g. escaped plain dicts: not a conversation
        return Prompt(prompt, prompt)
    last = messages[-1]
    if isinstance(last.content, str):
        rest: list = []
    else:
        rest = [
            b for b in last.content if not (isinstance(b, str) or (isinstance(b, dict) and b.get("type") == "text"))
        ]
    context = dumps([*messages[:-1], last.model_copy(update={"content": rest})])
    return Prompt(str(last.text), context)  # a plain str: `.text` is a str subclass, which spaCy refuses


def _serialised_messages(prompt: str) -> list | None:
    """The JSON list of serialised LangChain objects ``prompt`` is, or ``None`` when it is plain text."""
    if not prompt.startswith("["):
        return None
    try:
        data = json.loads(prompt)
    except ValueError:
        return None
    if not data or not isinstance(data, list) or not all(isinstance(d, dict) and d.get("lc") == 1 for d in data):
        return None
    return data


def entry_key(llm_string: str, context: str) -> str:
    """The key a cached entry is filed under: one model configuration, one conversation context."""
    if not isinstance(llm_string, str):
        raise TypeError(f"llm_string must be a string, got {type(llm_string).__name__}")
    return hashlib.sha256(json.dumps([llm_string, context]).encode("utf-8")).hexdigest()


def revive(value: str) -> list[Generation]:
    """Cached generations from their ``dumps`` text (only generation and AI-message classes are revived)."""
    generations = loads(value, allowed_objects=_REVIVABLE)
    if not isinstance(generations, list) or not all(isinstance(g, Generation) for g in generations):
        raise ValueError(f"not a list of generations: {type(generations).__name__}")
    return generations


class _ThreadedCache(BaseCache):
    """The async twins: the sync method in a worker thread (the work is torch and a store, not awaitable I/O)."""

    async def alookup(self, prompt: str, llm_string: str) -> Any | None:
        return await asyncio.to_thread(self.lookup, prompt, llm_string)

    async def aupdate(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        await asyncio.to_thread(self.update, prompt, llm_string, return_val)

    async def aclear(self, **kwargs: Any) -> None:
        await asyncio.to_thread(self.clear, **kwargs)


class VerifiedSemanticCache(_ThreadedCache):
    """A semantic LLM cache whose hits are verified: the answer cached for "How do I switch on dark mode?" is served
    for "How can I enable the dark theme?" but not for "How do I switch off dark mode?".

    >>> from langchain_core.globals import set_llm_cache
    >>> set_llm_cache(VerifiedSemanticCache(persist_directory="./llm-cache"))   # doctest: +SKIP
    >>> model = ChatOpenAI(cache=VerifiedSemanticCache())                        # doctest: +SKIP

    ``update`` stores each prompt's text (see :func:`read_prompt`) with its model configuration and generations
    (``langchain_core.load.dumps``, no pickle). ``lookup`` recalls the ``k`` cached prompts nearest the new one for
    the same ``llm_string`` and context (a metadata filter on :data:`ENTRY_KEY`, checked again on what comes back),
    has the guard verify each (:meth:`verimap.guard.CacheGuard.best`) and returns the best verified hit's
    generations, or ``None``. A prompt with no visible text is never stored and never a hit. Safe to share between
    threads; the async methods run the same work in a worker thread.

    :param persist_directory: where the default Chroma store keeps the cache (reopened by the next process);
        ``None``: in memory, for this instance only.
    :param vectorstore: any LangChain ``VectorStore`` instead of the default one (give it a collection of its own:
        :meth:`clear` empties it). Not with ``persist_directory``.
    :param k: cached prompts recalled and verified per lookup.
    :param threshold: the guard's hit threshold; ``None``: the weights card's guard threshold (see
        :class:`~verimap.guard.CacheGuard`). Not with ``guard``.
    :param guard: a ready :class:`~verimap.guard.CacheGuard` (default: one on the process-wide shipped verifier).
    :param embeddings: the default store's embeddings (default: :class:`~langchain_verimap.VerimapEmbeddings` on the
        guard's encoder, so a prompt is encoded once for recall and verification).
    :param collection_name: the default store's Chroma collection.
    :param metadata_filter: turns ``{ENTRY_KEY: key}`` into the filter ``vectorstore.similarity_search`` takes
        (default: the dict itself, as Chroma, FAISS, PGVector and most stores read it; a function of the document
        for ``InMemoryVectorStore``). Entries of another key that a store returns anyway are dropped.
    """

    def __init__(
        self,
        persist_directory: str | Path | None = None,
        vectorstore: VectorStore | None = None,
        k: int = 4,
        threshold: float | None = None,
        *,
        guard: CacheGuard | None = None,
        embeddings: Embeddings | None = None,
        collection_name: str = DEFAULT_COLLECTION,
        metadata_filter: Callable[[dict[str, str]], Any] | None = None,
    ) -> None:
        if vectorstore is not None and (persist_directory is not None or embeddings is not None):
            raise ValueError("pass either `vectorstore` or `persist_directory`/`embeddings` (for the default store)")
        if vectorstore is not None and not isinstance(vectorstore, VectorStore):
            raise TypeError(f"vectorstore must be a LangChain VectorStore, got {type(vectorstore).__name__}")
        if guard is not None and threshold is not None:
            raise ValueError("pass either `guard` or `threshold`, not both (a guard already has its threshold)")
        self.k = check_top_k(k)
        if self.k is None:
            raise ValueError("k must be a positive integer")
        self.guard = guard if guard is not None else CacheGuard(threshold=threshold)
        self.persist_directory = None if persist_directory is None else Path(persist_directory)
        self.where = str(self.persist_directory) if self.persist_directory is not None else "memory"
        # The default store embeds with the guard's encoder, which warns about a cut prompt then: the guard need not.
        self._guard_warns = vectorstore is not None or embeddings is not None
        if vectorstore is None:
            vectorstore = self._default_store(embeddings, collection_name)
        else:
            self.where = type(vectorstore).__name__
        self.vectorstore = vectorstore
        if metadata_filter is None:
            metadata_filter = _in_memory_filter if isinstance(vectorstore, InMemoryVectorStore) else dict
        self.metadata_filter = metadata_filter
        self._lock = threading.RLock()  # store calls only: verification runs outside it
        self._written: set[str] = set()  # ids this instance wrote, for clear() on stores without a collection reset

    def __repr__(self) -> str:
        return f"VerifiedSemanticCache({self.where!r}, k={self.k}, {self.guard!r})"

    def _default_store(self, embeddings: Embeddings | None, collection_name: str) -> VectorStore:
        who, install = "VerifiedSemanticCache's default store", "'langchain-verimap[chroma]'"
        chromadb = require("chromadb", install=install, who=who)
        chroma = require("langchain_chroma", install=install, who=who)
        from chromadb.config import Settings

        from langchain_verimap.embeddings import VerimapEmbeddings

        if embeddings is None:
            embeddings = VerimapEmbeddings(encoder=self.guard.verifier.encoder)
        encoder_id = getattr(getattr(embeddings, "active_encoder", None), "encoder_id", type(embeddings).__name__)
        settings = Settings(anonymized_telemetry=False)
        path = self.persist_directory
        try:
            if path is None:
                # In-memory Chroma clients share one store per process: a collection of its own per cache.
                client = chromadb.EphemeralClient(settings=settings)
                collection_name = f"{collection_name}-{uuid.uuid4().hex[:12]}"
            else:
                if path.exists() and not path.is_dir():
                    raise StoreError(f"cache directory {path} is not a directory")
                client = chromadb.PersistentClient(path=str(path), settings=settings)
            store = chroma.Chroma(
                collection_name=collection_name,
                embedding_function=embeddings,
                client=client,
                collection_metadata={ENCODER: encoder_id},
                collection_configuration={"hnsw": {"space": "cosine"}},
            )
            theirs = (client.get_collection(collection_name).metadata or {}).get(ENCODER)
        except StoreError:
            raise
        except Exception as exc:  # chromadb: a damaged sqlite file, a bad collection name, a locked directory, ...
            raise StoreError(f"cannot open the cache at {self.where}: {type(exc).__name__}: {exc}") from exc
        if theirs is not None and theirs != encoder_id:
            raise StoreError(
                f"the cache at {self.where} (collection {collection_name!r}) holds vectors from encoder {theirs!r}, "
                f"not {encoder_id!r}: use the same encoder, or another directory or collection"
            )
        return store

    # -- the store, under the lock, its failures named -------------------------------------------------------------
    def _store_call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                raise StoreError(f"the cache at {self.where} failed to {what}: {type(exc).__name__}: {exc}") from exc

    # -- BaseCache ------------------------------------------------------------------------------------------------
    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        """The generations cached for a prompt meaning the same as ``prompt`` under ``llm_string``, or ``None``."""
        new = read_prompt(prompt)
        key = entry_key(llm_string, new.context)
        if not has_visible_text(new.text):
            return None
        found = self._store_call(
            "search",
            self.vectorstore.similarity_search,
            new.text,
            k=self.k,
            filter=self.metadata_filter({ENTRY_KEY: key}),
        )
        candidates = [
            d
            for d in found
            if (d.metadata or {}).get(ENTRY_KEY) == key and isinstance(d.metadata.get(GENERATIONS), str)
        ]
        best = self.guard.best(new.text, [d.page_content for d in candidates], warn=self._guard_warns)
        if best is None:
            return None
        entry = candidates[best[0]]
        try:
            return revive(entry.metadata[GENERATIONS])
        except Exception as exc:  # a damaged entry costs a model call, not an outage; the next update replaces it
            logger.warning(
                "verimap cache at %s: entry %r is unreadable (%s); treated as a miss", self.where, entry.id, exc
            )
            return None

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        """Cache ``return_val`` for ``prompt`` under ``llm_string`` (a prompt with no visible text is not stored)."""
        new = read_prompt(prompt)
        key = entry_key(llm_string, new.context)
        generations = list(return_val)
        if not all(isinstance(g, Generation) for g in generations):
            raise TypeError("return_val must be a list of langchain_core Generation objects")
        if not has_visible_text(new.text):
            return
        entry_id = hashlib.sha256(f"{key}\n{new.text}".encode()).hexdigest()  # the same prompt again: replaced
        doc = Document(page_content=new.text, metadata={ENTRY_KEY: key, GENERATIONS: dumps(generations)})
        with self._lock:
            self._store_call("write", self.vectorstore.add_documents, [doc], ids=[entry_id])
            self._written.add(entry_id)

    def clear(self, **kwargs: Any) -> None:
        """Empty the cache: the store's collection is reset where it can be (Chroma), else the entries this instance
        wrote are deleted."""
        with self._lock:
            if hasattr(self.vectorstore, "reset_collection"):
                self._store_call("clear", self.vectorstore.reset_collection)
            elif self._written:
                self._store_call("clear", self.vectorstore.delete, ids=sorted(self._written), **kwargs)
            self._written.clear()


def _in_memory_filter(equal: dict[str, str]) -> Callable[[Document], bool]:
    return lambda doc: all((doc.metadata or {}).get(k) == v for k, v in equal.items())


Candidates = Callable[[str, str], Iterable[tuple[str, Any]]]
"""``candidates(prompt, llm_string)`` → ``(cached prompt, cached value)`` pairs, for that ``llm_string``."""


class GuardedLookupCache(_ThreadedCache):
    """The guard in front of a prompt-similarity lookup you already have, so a team on Redis keeps Redis.

    >>> def nearest(prompt, llm_string):                      # your lookup: similar cached prompts and their values
    ...     return [(hit.prompt, hit.generations) for hit in my_index.search(prompt, llm_string, k=4)]
    >>> cache = GuardedLookupCache(nearest, update=my_index.add)                  # doctest: +SKIP
    >>> set_llm_cache(cache)                                                        # doctest: +SKIP

    ``lookup`` calls ``candidates(prompt, llm_string)`` for the prompts your lookup finds similar (each the
    ``prompt`` string LangChain gave your cache's ``update``, with the value stored for it), keeps those of the same
    context (:func:`read_prompt`: the same earlier messages), and returns the value of the one the guard verifies
    best (:meth:`verimap.guard.CacheGuard.best`), or ``None``. ``update`` and ``clear`` call yours, if given.

    :param candidates: ``(prompt, llm_string)`` → ``(cached prompt, value)`` pairs; return only entries of that
        ``llm_string`` (the model configuration).
    :param update: ``(prompt, llm_string, return_val)``, called by :meth:`update` (``None``: nothing is written here).
    :param clear: called by :meth:`clear` with its keyword arguments (``None``: nothing is cleared here).
    :param threshold: the guard's hit threshold (``None``: the card's guard threshold). Not with ``guard``.
    :param guard: a ready :class:`~verimap.guard.CacheGuard`.
    """

    def __init__(
        self,
        candidates: Candidates,
        *,
        update: Callable[[str, str, RETURN_VAL_TYPE], None] | None = None,
        clear: Callable[..., None] | None = None,
        threshold: float | None = None,
        guard: CacheGuard | None = None,
    ) -> None:
        for name, fn in (("candidates", candidates), ("update", update), ("clear", clear)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be callable, got {type(fn).__name__}")
        if candidates is None:
            raise TypeError("candidates must be callable, got NoneType")
        if guard is not None and threshold is not None:
            raise ValueError("pass either `guard` or `threshold`, not both (a guard already has its threshold)")
        self.candidates = candidates
        self._update = update
        self._clear = clear
        self.guard = guard if guard is not None else CacheGuard(threshold=threshold)

    def lookup(self, prompt: str, llm_string: str) -> Any | None:
        new = read_prompt(prompt)
        if not has_visible_text(new.text):
            return None
        same_context: list[tuple[str, Any]] = []
        for i, item in enumerate(self.candidates(prompt, llm_string) or ()):
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise TypeError(f"candidates must give (cached prompt, value) pairs; item {i} is {type(item).__name__}")
            cached = read_prompt(item[0])
            if cached.context == new.context:
                same_context.append((cached.text, item[1]))
        best = self.guard.best(new.text, [text for text, _ in same_context])
        return None if best is None else same_context[best[0]][1]

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        if self._update is not None:
            self._update(prompt, llm_string, return_val)

    def clear(self, **kwargs: Any) -> None:
        if self._clear is not None:
            self._clear(**kwargs)
