"""Token-embedding cache: a document's token vectors computed once, reused by every query that recalls it.

verimap encodes documents independently of the query (a cross-encoder cannot), so their token vectors can be
kept. Entries are keyed by (encoder id, max length, sha256 of the text): a changed text is a new key, never a
stale hit, and another encoder never reads this one's vectors.

- Memory: an LRU bounded by a byte budget (the stored arrays' bytes).
- Disk (optional): SQLite files, e.g. the one each embedded Chroma store fills at index time
  (``<store>/verimap-tokens.sqlite``). A memory miss falls through to every attached file; only puts that name
  a file (``persist``, what indexing does) write to it, so query texts never grow it and two stores sharing one
  encoder each keep their own passages.
- Compression (``int8`` by default): each token's unit vector is scaled so its largest component is ±127 and
  rounded; reading re-normalises, since only the direction matters for cosines: 1 byte per dimension, a quarter
  of fp32. The pooled vector (one per text, what the dense index holds) is kept in fp16 so it stays within 1e-4
  of sentence-transformers'. Per text that is ``(n + 2) x dim`` bytes for ``n`` tokens: exactly a quarter of
  ColBERT-style fp32 storage of its ``n + 2`` positions. ``fp16`` and ``fp32`` are offered too;
  ``verimap bench cache`` measures what each does to verifier scores (see docs/benchmarks.md).
- Residual codes (token files only): a file may hold a :class:`~verimap.quantize.Codec` per encoder (trained on
  the corpus by :meth:`verimap.store.VerimapStore.add`, or :meth:`TokenCache.set_codec`). Every row written to
  that file afterwards keeps 97 bytes per token (a coarse centroid id and 2-bit residuals) instead of 384, and
  its parse zlib-compressed; the memory tier then holds those codes too (a quarter of the int8 bytes). Rows
  written before the codec stay as they were, and files without one are read and written as before.

A miss returns exactly what a later hit will (the stored, compressed vectors), so scores never depend on whether
a text was cached.

>>> from verimap.cache import TokenCache
>>> from verimap.encoder import TokenEncoder
>>> enc = TokenEncoder(cache=TokenCache(max_bytes=64 * 2**20))
>>> a = enc.encode(["The man bit the dog."])[0]                 # computed, stored
>>> b = enc.encode(["The man bit the dog."])[0]                 # served from the cache
>>> bool((a.vectors == b.vectors).all()), enc.cache.stats()["hits"]
(True, 1)
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from verimap.errors import TokenFileError
from verimap.parse import Parse
from verimap.quantize import Codec

FORMATS = ("int8", "fp16", "fp32")
POOLED_FORMAT = {"int8": "fp16", "fp16": "fp16", "fp32": "fp32"}  # the pooled vector's format per cache format
DTYPES = {"int8": np.int8, "fp16": np.float16, "fp32": np.float32}
DEFAULT_FORMAT = "int8"
DEFAULT_MAX_BYTES = 256 * 2**20
BUDGET_ENV = "VERIMAP_TOKEN_CACHE_MB"  # memory budget of default caches; 0 turns them off
CODED = "rq:"  # row format of residual codes: "rq:<codec id>"


@dataclass(frozen=True)
class Entry:
    """One text's stored encoding: ``vectors`` ``(n, dim)`` and ``pooled`` ``(dim,)`` in the cache's format (with a
    ``codec``, ``vectors`` are its ``(n, code bytes)`` codes), and its word pieces' :class:`~verimap.parse.Parse`
    (``None`` when it was encoded without a parser)."""

    vectors: np.ndarray
    pooled: np.ndarray
    truncated: bool
    parse: Parse | None = None
    codec: Codec | None = None

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    def token_vectors(self) -> torch.Tensor:
        """The ``(n, dim)`` float32 unit token vectors this entry stands for."""
        return self.codec.decode(self.vectors) if self.codec is not None else decompress(self.vectors)

    @property
    def nbytes(self) -> int:
        return int(self.vectors.nbytes + self.pooled.nbytes + (self.parse.nbytes if self.parse is not None else 0))


def default_cache() -> TokenCache | None:
    """The cache a :class:`~verimap.encoder.TokenEncoder` gets unless told otherwise: in memory, with the budget
    from ``$VERIMAP_TOKEN_CACHE_MB`` (256 by default; ``0`` means no cache: encode every time, in fp32)."""
    raw = os.environ.get(BUDGET_ENV, "").strip()
    try:
        mb = float(raw) if raw else DEFAULT_MAX_BYTES / 2**20
    except ValueError:
        raise ValueError(f"${BUDGET_ENV} must be a number of megabytes, got {raw!r}") from None
    if mb < 0:
        raise ValueError(f"${BUDGET_ENV} must not be negative, got {raw!r}")
    return TokenCache(int(mb * 2**20)) if mb > 0 else None


def cache_key(encoder_id: str, max_length: int, text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{encoder_id}|{max_length}|{digest}"


def compress(x: torch.Tensor, fmt: str) -> np.ndarray:
    """Unit vectors (rows of ``x``) in the stored format."""
    a = x.detach().float().cpu().numpy()
    if fmt == "fp32":
        return a.copy()
    if fmt == "fp16":
        return a.astype(np.float16)
    peak = np.abs(a).max(axis=-1, keepdims=True)
    return np.rint(a * (127.0 / np.maximum(peak, 1e-12))).astype(np.int8)


def decompress(a: np.ndarray) -> torch.Tensor:
    """Back to float32 unit vectors (zero rows stay zero)."""
    return torch.nn.functional.normalize(torch.from_numpy(a.astype(np.float32)), dim=-1)


def _parse(blob: bytes | None, n: int, compressed: bool = False) -> Parse | None:
    """A stored parse, or ``None`` (re-parsed on read) when absent or written by another version of the tags."""
    if blob is None:
        return None
    try:
        return Parse.from_bytes(zlib.decompress(blob) if compressed else blob, n)
    except (ValueError, zlib.error):
        return None


def _encoder_of(key: str) -> str:
    return key.rsplit("|", 2)[0]  # keys are "encoder id|max length|sha256" (cache_key)


class TokenCache:
    """LRU of token encodings with a byte budget, optionally reading through SQLite files.

    :param max_bytes: memory budget for stored arrays; the least recently used entries are evicted past it
        (``0`` keeps nothing in memory, e.g. when only the disk tier is wanted).
    :param path: an SQLite file to read through (created if missing); ``None`` for memory only. More can be
        attached with :meth:`attach`.
    :param format: ``int8`` (default), ``fp16`` or ``fp32``.
    """

    def __init__(
        self, max_bytes: int = DEFAULT_MAX_BYTES, *, path: str | Path | None = None, format: str = DEFAULT_FORMAT
    ) -> None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise ValueError(f"max_bytes must be a non-negative integer, got {max_bytes!r}")
        if format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
        self.max_bytes = max_bytes
        self.format = format
        self._memory: OrderedDict[str, Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._hits = self._misses = self._evictions = self._disk_hits = 0
        self._disks: dict[Path, sqlite3.Connection] = {}
        self._codecs: dict[tuple[Path, str], Codec] = {}  # (file, codec id) -> codec, loaded on first use
        if path is not None:
            self.attach(path)

    # -- disk tier ---------------------------------------------------------------------------------------------
    @property
    def paths(self) -> list[Path]:
        """The attached SQLite files, in lookup order."""
        return list(self._disks)

    def attach(self, path: str | Path) -> Path:
        """Read through the SQLite file at ``path`` too (created if missing); returns its resolved path.

        A file that is not a token cache raises :class:`~verimap.errors.TokenFileError`."""
        path = Path(path).resolve()
        with self._lock:
            if path in self._disks:
                return path
        path.parent.mkdir(parents=True, exist_ok=True)
        # WAL: readers never block the writer, and a killed writer loses at most its open transaction.
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30.0, isolation_level=None)
        try:
            # A new file gets 1 KiB pages: a row (tens of KB) ends in a part-filled overflow page, and half a 4 KiB
            # page per row was 10% of a coded row (ignored by a file that already exists).
            conn.execute("PRAGMA page_size=1024")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS tokens (key TEXT PRIMARY KEY, format TEXT NOT NULL, rows INTEGER NOT NULL,"
                " dim INTEGER NOT NULL, truncated INTEGER NOT NULL, vectors BLOB NOT NULL, pooled BLOB NOT NULL,"
                " parse BLOB)"
            )
            # Files written before parses were stored: add the column; their rows are re-parsed when read.
            if "parse" not in {row[1] for row in conn.execute("PRAGMA table_info(tokens)")}:
                conn.execute("ALTER TABLE tokens ADD COLUMN parse BLOB")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS codecs (id TEXT PRIMARY KEY, encoder TEXT NOT NULL UNIQUE, data BLOB NOT NULL)"
            )
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise TokenFileError(f"{path} is not a verimap token cache ({exc})") from exc
        with self._lock:
            if path in self._disks:  # attached by another thread meanwhile
                conn.close()
            else:
                self._disks[path] = conn
        return path

    def detach(self, path: str | Path | None = None) -> None:
        """Stop reading ``path`` (``None``: every attached file); the files are kept."""
        with self._lock:
            for p in [Path(path).resolve()] if path is not None else list(self._disks):
                conn = self._disks.pop(p, None)
                if conn is not None:
                    conn.close()
                for key in [k for k in self._codecs if k[0] == p]:
                    del self._codecs[key]

    # -- residual codes ----------------------------------------------------------------------------------------
    def codec(self, path: str | Path, encoder_id: str) -> Codec | None:
        """The codec rows of ``encoder_id`` are written with in the token file ``path`` (attached if it is not yet),
        or ``None`` when it has none."""
        path = self.attach(path)
        with self._lock:
            return self._codec_locked(path, encoder_id=encoder_id)

    def set_codec(self, path: str | Path, encoder_id: str, codec: Codec) -> Codec:
        """Make ``codec`` the one ``encoder_id``'s rows are written with in ``path`` from now on, unless the file
        already has one (a codec is never replaced: rows coded with it must stay readable); returns the codec in
        force. Concurrent writers agree: the first one stored wins."""
        path = self.attach(path)
        with self._lock:
            conn = self._disks[path]
            conn.execute(
                "INSERT OR IGNORE INTO codecs (id, encoder, data) VALUES (?, ?, ?)",
                (codec.id, encoder_id, codec.to_bytes()),
            )
            found = self._codec_locked(path, encoder_id=encoder_id)
        assert found is not None
        return found

    def _codec_locked(self, path: Path, *, encoder_id: str | None = None, codec_id: str | None = None) -> Codec | None:
        if codec_id is not None and (path, codec_id) in self._codecs:
            return self._codecs[path, codec_id]
        column, value = ("id", codec_id) if codec_id is not None else ("encoder", encoder_id)
        row = self._disks[path].execute(f"SELECT id, data FROM codecs WHERE {column} = ?", (value,)).fetchone()
        if row is None:
            return None
        if (path, row[0]) not in self._codecs:
            self._codecs[path, row[0]] = Codec.from_bytes(row[1])
        return self._codecs[path, row[0]]

    # -- lookups -----------------------------------------------------------------------------------------------
    def get_many(self, keys: Sequence[str]) -> list[Entry | None]:
        """Entries for ``keys`` (``None`` where absent); disk hits are promoted into memory."""
        with self._lock:
            found: list[Entry | None] = []
            for k in keys:
                e = self._memory.get(k)
                if e is not None:
                    self._memory.move_to_end(k)
                found.append(e)
            for path in self._disks:
                todo = [i for i, e in enumerate(found) if e is None]
                if not todo:
                    break
                from_disk = self._read_disk(path, [keys[i] for i in todo])
                for i in todo:
                    e = from_disk.get(keys[i])
                    if e is not None:
                        found[i] = e
                        self._disk_hits += 1
                        self._remember(keys[i], e)
            hits = sum(e is not None for e in found)
            self._hits += hits
            self._misses += len(keys) - hits
            return found

    def put_many(self, items: Iterable[tuple[str, Entry]], *, persist: str | Path | None = None) -> list[Entry]:
        """Store entries in memory, and with ``persist`` also in that SQLite file (attached if it is not yet).

        Returns the entries as stored, in order: where the file has a codec for an entry's encoder, that entry's
        residual codes (:mod:`verimap.quantize`), which is what a later hit returns."""
        items = list(items)
        if not items:
            return []
        path = self.attach(persist) if persist is not None else None
        with self._lock:
            if path is not None:
                coded = []
                for k, e in items:
                    codec = self._codec_locked(path, encoder_id=_encoder_of(k)) if e.codec is None else e.codec
                    if codec is not None and e.codec is None:
                        e = Entry(
                            codec.encode(e.token_vectors()), e.pooled.astype(np.float16), e.truncated, e.parse, codec
                        )
                    coded.append((k, e))
                items = coded
            for k, e in items:
                self._remember(k, e)
            if path is not None:
                rows = [
                    (
                        k,
                        self.format if e.codec is None else CODED + e.codec.id,
                        e.vectors.shape[0],
                        e.pooled.shape[0] if e.codec is not None else e.vectors.shape[1],
                        int(e.truncated),
                        e.vectors.tobytes(),
                        e.pooled.tobytes(),
                        None if e.parse is None else _parse_blob(e.parse, e.codec is not None),
                    )
                    for k, e in items
                ]
                conn = self._disks[path]
                conn.execute("BEGIN")
                conn.executemany(
                    "INSERT OR REPLACE INTO tokens (key, format, rows, dim, truncated, vectors, pooled,"
                    " parse) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                conn.execute("COMMIT")
        return [e for _, e in items]

    def entry(self, vectors: torch.Tensor, pooled: torch.Tensor, truncated: bool, parse: Parse | None = None) -> Entry:
        """Compress one encoding into this cache's format."""
        return Entry(
            compress(vectors, self.format), compress(pooled, POOLED_FORMAT[self.format]), bool(truncated), parse
        )

    def clear(self) -> None:
        """Empty the memory tier (the disk file is kept)."""
        with self._lock:
            self._memory.clear()
            self._bytes = 0

    def stats(self) -> dict:
        with self._lock:
            return {
                "entries": len(self._memory),
                "bytes": self._bytes,
                "max_bytes": self.max_bytes,
                "hits": self._hits,
                "misses": self._misses,
                "disk_hits": self._disk_hits,
                "evictions": self._evictions,
                "format": self.format,
                "paths": [str(p) for p in self._disks],
            }

    # -- internals (lock held) -------------------------------------------------------------------------------
    def _remember(self, key: str, entry: Entry) -> None:
        old = self._memory.pop(key, None)
        if old is not None:
            self._bytes -= old.nbytes
        if entry.nbytes > self.max_bytes:
            return  # bigger than the whole budget: the disk tier (if any) still has it
        self._memory[key] = entry
        self._bytes += entry.nbytes
        while self._bytes > self.max_bytes:
            _, gone = self._memory.popitem(last=False)
            self._bytes -= gone.nbytes
            self._evictions += 1

    def _read_disk(self, path: Path, keys: list[str]) -> dict[str, Entry]:
        conn = self._disks[path]
        out: dict[str, Entry] = {}
        for start in range(0, len(keys), 500):  # SQLite caps bound parameters per statement
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                f"SELECT key, format, rows, dim, truncated, vectors, pooled, parse FROM tokens WHERE key IN ({marks})",
                chunk,
            ).fetchall()
            for key, fmt, n, dim, truncated, vec, pooled, parse in rows:
                if fmt.startswith(CODED):  # residual codes: read in any cache format (the file chose the precision)
                    codec = self._codec_locked(path, codec_id=fmt[len(CODED) :])
                    if codec is None:
                        continue  # its codec is gone: recompute
                    out[key] = Entry(
                        np.frombuffer(vec, np.uint8).reshape(n, codec.code_bytes),
                        np.frombuffer(pooled, DTYPES[POOLED_FORMAT["int8"]]),
                        bool(truncated),
                        _parse(parse, n, compressed=True),
                        codec,
                    )
                    continue
                if fmt != self.format:
                    continue  # written in another format: recompute rather than mix precisions
                out[key] = Entry(
                    np.frombuffer(vec, DTYPES[fmt]).reshape(n, dim),
                    np.frombuffer(pooled, DTYPES[POOLED_FORMAT[fmt]]),
                    bool(truncated),
                    _parse(parse, n),
                )
        return out


def _parse_blob(parse: Parse, compressed: bool) -> bytes:
    return zlib.compress(parse.to_bytes(), 6) if compressed else parse.to_bytes()


# -- token files, as the adapters take them ----------------------------------------------------------------------
logger = logging.getLogger("verimap")


def check_token_file(value: Any) -> str | None:
    """A ``token_file`` setting as stored and serialised: ``None``, or a non-empty path string (an ``os.PathLike``
    or ``bytes`` path becomes its string). Anything else raises ``TypeError``; an empty string,
    :class:`~verimap.errors.TokenFileError`."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = os.fsdecode(value)
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise TypeError(f"token_file must be a path string or None, got {type(value).__name__}")
    if not value.strip():
        raise TokenFileError("token_file must be a non-empty path (or None for no token file)")
    return value


def attach_token_file(cache: TokenCache | None, token_file: str | os.PathLike | None, owner: str) -> Path | None:
    """Make ``cache`` (an encoder's) read through ``token_file`` too; returns the file's resolved path, or ``None``
    when nothing was attached. The one way every adapter opens a token file (docs/token-files.md).

    - No ``token_file``: nothing happens.
    - No cache (``$VERIMAP_TOKEN_CACHE_MB=0``): the file is ignored, with one warning on the ``verimap`` logger
      naming ``owner``.
    - A path that is not a token file (a text file, a directory, an unwritable place): a
      :class:`~verimap.errors.TokenFileError` naming ``owner`` and the path.

    Attaching is process-wide (every user of the encoder reads through the file afterwards) and attaching an
    attached file again is a no-op.
    """
    if token_file is None:
        return None
    if cache is None:
        logger.warning(
            "%s: token_file %r is ignored: the encoder has no token cache ($%s=0), so token vectors are "
            "computed every time and nothing is read from or written to the file",
            owner,
            os.fspath(token_file),
            BUDGET_ENV,
        )
        return None
    try:
        return cache.attach(token_file)
    except (TokenFileError, sqlite3.Error, OSError) as exc:
        raise TokenFileError(
            f"{owner}: token_file {os.fspath(token_file)!r} cannot be used as a verimap token file: {exc}"
        ) from exc
