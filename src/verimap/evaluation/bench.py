"""Speed, cache, indexing and service benchmarks (``verimap bench speed|cache|index|serve``): every figure from one run.

Speed compares, on the same query and candidates, a cross-encoder-shaped forward of the same MiniLM backbone over
(query, doc) pairs (the latency reference; an untrained head, since only its cost matters), pooled cosine, MaxSim
and the verifier, each cold (empty token cache) and warm (candidates' token vectors cached, as after indexing;
the query is always new). Machines are noisy, so ratios to the cross-encoder measured in the same run are what
to compare, not absolute times.

Cache measures what storing token vectors compressed does to scores: every format's verifier and MaxSim scores
on dev pairs and on SciFact (query, recalled passage) pairs against fp32, dev ROC-AUCs, and the bytes each stores
per passage (vectors, pooled vector and parse, as the token file holds them).

Index measures ``verimap index`` end to end on a BEIR corpus (SciFact by default): splitting into passages,
encoding, parsing, the codec, upserts and the token file, with each part's share of the time.

Serve measures what HTTP adds: one warm rerank in process, through ``verimap serve`` (a child process), and as a
``verimap search`` process per query; then a load of concurrent clients (:func:`load`, also what the slow load test
drives).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import resource
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from verimap.cache import FORMATS, POOLED_FORMAT, TokenCache, compress, decompress
from verimap.encoder import Encoded, TokenEncoder, TruncationWarning
from verimap.metrics import roc_auc
from verimap.parse import POS, Parse
from verimap.quantize import TRAIN_TOKENS, Codec
from verimap.scorers import MaxSim, PooledCosine, maxsim
from verimap.verifier import Verifier

SIZES = (10, 50, 100)


@dataclass
class SpeedReport:
    threads: int
    doc_tokens: float
    texts: str = ""
    medians: dict[str, dict[int, float]] = field(default_factory=dict)  # row → candidates → seconds
    network_share: dict[int, float] = field(default_factory=dict)
    index_docs_per_s: float = 0.0
    index_docs: int = 0
    cache_bytes_per_doc: float = 0.0
    fp32_colbert_bytes_per_doc: float = 0.0
    fp32_kept_bytes_per_doc: float = 0.0
    peak_rss_mb: float = 0.0


def bench_texts(
    data_dir: Path | None,
    n_docs: int,
    n_queries: int,
    encoder: TokenEncoder,
    min_tokens: int = 40,
    max_tokens: int = 72,
) -> tuple[list[str], list[str]]:
    """Passages of ``min_tokens``–``max_tokens`` word pieces (SciFact abstract sentences) and short
    claims as queries; the demo corpus when the shared data is absent."""
    if data_dir is not None and (data_dir / "sentences.txt.gz").exists():
        from verimap.training.data import read_jsonl

        docs = []
        with gzip.open(data_dir / "sentences.txt.gz", "rt", encoding="utf-8") as f:
            for line in f:
                if min_tokens <= len(encoder.tokenize(line.strip())) <= max_tokens:
                    docs.append(line.strip())
                    if len(docs) == n_docs:
                        break
        queries = [r["text"] for r in read_jsonl(data_dir / "scifact" / "queries.jsonl")]
    else:  # no shared data: pairs of demo passages, and demo queries made distinct so none is ever cached
        from verimap.demo import demo_data

        corpus, demo_queries = demo_data()
        texts = [p["text"] for p in corpus]
        pairs = [f"{a} {b}" for a in texts for b in texts if a != b]
        docs = [f"{pairs[i % len(pairs)]} ({i})" for i in range(n_docs)]
        queries = [f"{q['query']} ({i})" for i in range(n_queries) for q in demo_queries[:1]]
    if len(docs) < n_docs or len(queries) < n_queries:
        raise ValueError(f"need {n_docs} passages and {n_queries} queries, found {len(docs)} and {len(queries)}")
    return docs, queries[:n_queries]


def _median(fn: Callable[[], object], repeats: int, before: Callable[[], object] | None = None) -> float:
    times = []
    for _ in range(repeats):
        if before is not None:
            before()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class CrossEncoderShape:
    """MiniLM over ``[CLS] query [SEP] doc [SEP]`` pairs with a linear head on [CLS]: what a cross-encoder
    reranker of the same backbone computes per request (the head is untrained; only its cost is measured)."""

    def __init__(self, encoder: TokenEncoder) -> None:
        self.encoder = encoder
        self.head = torch.nn.Linear(encoder.dim, 1)

    @torch.inference_mode()
    def score(self, query: str, docs: list[str]) -> list[float]:
        tok, enc = self.encoder.tokenizer, self.encoder
        order = sorted(range(len(docs)), key=lambda i: len(docs[i]))
        out = [0.0] * len(docs)
        for start in range(0, len(order), enc.batch_size):
            chunk = order[start : start + enc.batch_size]
            batch = tok(
                [query] * len(chunk),
                [docs[i] for i in chunk],
                padding=True,
                truncation="only_second",
                max_length=enc.max_length,
                return_tensors="pt",
            )
            cls = enc.model(**batch.to(enc.device)).last_hidden_state[:, 0]
            for i, s in zip(chunk, self.head(cls).squeeze(-1).tolist()):
                out[i] = s
        return out


def bench_speed(
    encoder: TokenEncoder,
    verifier: Verifier,
    data_dir: Path | None,
    sizes: tuple[int, ...] = SIZES,
    repeats: int = 7,
    index_docs: int = 500,
    log: Callable[[str], None] = print,
) -> SpeedReport:
    """Time everything on ``encoder`` (the stock one, with its own token cache) and ``verifier`` (built on it)."""
    # With an adapter the verifier reads a tuned copy of the encoder; its cache is the one to clear and fill.
    cache = verifier.encoder.cache
    if cache is None:
        raise ValueError("bench_speed needs an encoder with a token cache (cold vs warm is what it measures)")
    # Queries needed: per size, the cross-encoder plus 3 scorers cold and warm, `repeats` each, one for the network
    # share; two for the warm-up.
    docs, queries = bench_texts(data_dir, max(sizes) + index_docs, len(sizes) * (7 * repeats + 1) + 2, encoder)
    fresh = iter(queries)  # every timed call gets a query never seen, so only the candidates can be warm
    cross = CrossEncoderShape(encoder)
    scorers = {"pooled cosine": PooledCosine(encoder), "MaxSim": MaxSim(encoder), "verifier": verifier}
    report = SpeedReport(
        threads=torch.get_num_threads(),
        doc_tokens=float(np.mean([len(encoder.tokenize(d)) for d in docs[: max(sizes)]])),
        texts="demo passage pairs (no shared data found)"
        if data_dir is None
        else "SciFact abstract sentences of 40–72 word pieces",
    )

    # Warm-up: first calls pay one-off allocation and kernel selection costs.
    cross.score(next(fresh), docs[:8])
    verifier.rank(next(fresh), docs[:8])

    for n in sizes:
        cand = docs[:n]
        log(f"  {n} candidates …")
        report.medians.setdefault("cross-encoder forward", {})[n] = _median(
            lambda c=cand: cross.score(next(fresh), c), repeats
        )
        for name, scorer in scorers.items():
            run = (
                (lambda s=scorer, c=cand: s.rank(next(fresh), c))
                if name == "verifier"
                else (lambda s=scorer, c=cand: s.score(next(fresh), c))
            )
            report.medians.setdefault(f"{name} cold", {})[n] = _median(run, repeats, before=cache.clear)
            verifier.encoder.encode(cand)  # as after indexing: candidates cached, the query is new
            report.medians.setdefault(f"{name} warm", {})[n] = _median(run, repeats)
        # The verifier network's share of cold time: maps + network on already-encoded pairs.
        q = verifier.encoder.encode([next(fresh)])[0]
        pairs = [(q, d) for d in verifier.encoder.encode(cand)]
        network = _median(lambda p=pairs: verifier._score_encoded(p), repeats)
        report.network_share[n] = network / report.medians["verifier cold"][n]

    # Bytes per passage: what the cache holds vs fp32 ColBERT-style storage of every position ([CLS], tokens,
    # [SEP]) and vs fp32 of exactly what the cache keeps (tokens + pooled).
    entries = [cache.entry(e.vectors, e.pooled, e.truncated) for e in encoder.encode(docs[: max(sizes)])]
    dim = encoder.dim
    report.cache_bytes_per_doc = float(np.mean([e.nbytes for e in entries]))
    report.fp32_colbert_bytes_per_doc = float(np.mean([(len(e.vectors) + 2) * dim * 4 for e in entries]))
    report.fp32_kept_bytes_per_doc = float(np.mean([(len(e.vectors) + 1) * dim * 4 for e in entries]))

    report.index_docs, report.index_docs_per_s = bench_index(encoder.with_cache(TokenCache()), docs[-index_docs:], log)
    report.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return report


def bench_index(encoder: TokenEncoder, docs: list[str], log: Callable[[str], None]) -> tuple[int, float]:
    """End-to-end indexing into a fresh embedded Chroma store (embedding, upsert and the token file)."""
    from verimap.store import VerimapStore

    log(f"  indexing {len(docs)} passages …")
    with tempfile.TemporaryDirectory() as tmp:
        store = VerimapStore(Path(tmp) / "index", encoder=encoder)
        start = time.perf_counter()
        written = store.add(docs)
        seconds = time.perf_counter() - start
        assert store.count() == written == len(set(docs))
        encoder.cache.detach()  # type: ignore[union-attr]
    return written, written / seconds


def speed_markdown(r: SpeedReport) -> str:
    sizes = sorted(next(iter(r.medians.values())))
    ref = r.medians["cross-encoder forward"]
    head = "| per request | " + " | ".join(f"{n} cand. (ms) | × cross-enc." for n in sizes) + " |"
    lines = [head, "|---|" + "---:|---:|" * len(sizes)]
    for name, row in r.medians.items():
        cells = " | ".join(f"{row[n] * 1000:.1f} | {row[n] / ref[n]:.3f}" for n in sizes)
        lines.append(f"| {name} | {cells} |")
    share = ", ".join(f"{r.network_share[n]:.0%} at {n}" for n in sizes)
    lines += [
        "",
        f"- Torch threads: {r.threads}; candidates: {r.texts} (mean {r.doc_tokens:.0f} word pieces); each timed "
        "call has a query never seen before; medians of repeated calls.",
        f"- Verifier network (maps + Transformer) share of verifier cold time: {share}.",
        f"- Indexing into the embedded Chroma store, end to end (encode, upsert, token file): "
        f"{r.index_docs_per_s:.0f} passages/s ({r.index_docs} passages).",
        f"- Token cache per passage: {r.cache_bytes_per_doc:.0f} bytes = "
        f"{r.cache_bytes_per_doc / r.fp32_colbert_bytes_per_doc:.3f} × fp32 ColBERT-style storage "
        f"({r.fp32_colbert_bytes_per_doc:.0f} bytes: every position incl. [CLS]/[SEP]); "
        f"{r.cache_bytes_per_doc / r.fp32_kept_bytes_per_doc:.3f} × fp32 of exactly what is kept "
        f"(tokens + pooled vector).",
        f"- Peak RSS of the bench process: {r.peak_rss_mb:.0f} MB.",
    ]
    return "\n".join(lines)


def speed_plot(r: SpeedReport, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(next(iter(r.medians.values())))
    fig, ax = plt.subplots(figsize=(8, 5))
    width = 0.8 / len(r.medians)
    for k, (name, row) in enumerate(r.medians.items()):
        xs = [i + k * width for i in range(len(sizes))]
        ax.bar(xs, [row[n] * 1000 for n in sizes], width, label=name)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(sizes))], [f"{n} candidates" for n in sizes])
    ax.set_yscale("log")
    ax.set_ylabel("median latency per request (ms, log)")
    ax.set_title(f"Rerank latency, {r.threads} CPU thread(s): cold = empty token cache, warm = candidates cached")
    ax.legend(fontsize=8, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- compression -------------------------------------------------------------------------------------------------
def as_stored(e: Encoded, fmt: str) -> Encoded:
    """What a cache in ``fmt`` returns for an encoding made without one."""
    return Encoded(
        e.tokens,
        decompress(compress(e.vectors, fmt)),
        decompress(compress(e.pooled, POOLED_FORMAT[fmt])[None])[0],
        e.truncated,
        e.parse,
    )


def as_coded(e: Encoded, codec: Codec) -> Encoded:
    """What a token file with ``codec`` returns for a passage (codes of its int8 vectors, pooled in fp16)."""
    stored = as_stored(e, "int8")
    return Encoded(e.tokens, codec.decode(codec.encode(stored.vectors)), stored.pooled, e.truncated, e.parse)


def without_punctuation(e: Encoded) -> Encoded:
    """The passage with its punctuation tokens (parse POS ``PUNCT``) left out: heads that pointed at one point back
    to the token itself."""
    if e.parse is None:
        return e
    keep = np.flatnonzero(e.parse.pos != POS.index("PUNCT"))
    if len(keep) == len(e.parse):
        return e
    new = np.full(len(e.parse), -1, np.int64)
    new[keep] = np.arange(len(keep))
    head = new[e.parse.head.astype(np.int64)[keep]]
    head = np.where(head >= 0, head, np.arange(len(keep))).astype(np.int16)
    parse = Parse(head, *(getattr(e.parse, f)[keep] for f in Parse.FIELDS[1:]))
    tokens = e.tokens
    return Encoded([tokens[i] for i in keep], e.vectors[torch.from_numpy(keep)], e.pooled, e.truncated, parse)


def stored_bytes(e: Encoded, option: str, codec: Codec | None) -> tuple[int, int]:
    """``(bytes a token file row holds for it, fp32 ColBERT-style bytes of the original passage)``: vectors, pooled
    vector and parse, as :mod:`verimap.cache` writes them."""
    import zlib

    n, dim = len(e.vectors), e.vectors.shape[1] if len(e.vectors) else 384
    parse = e.parse.to_bytes() if e.parse is not None else b""
    if option in FORMATS:
        size = n * dim * np.dtype(DTYPES_BY_FORMAT[option]).itemsize + dim * (4 if option == "fp32" else 2) + len(parse)
    else:
        kept = without_punctuation(e) if option.endswith("no punctuation") else e
        kp = kept.parse.to_bytes() if kept.parse is not None else b""
        size = len(kept.vectors) * codec.code_bytes + dim * 2 + len(zlib.compress(kp, 6) if kp else b"")
    return size, (n + 2) * dim * 4


DTYPES_BY_FORMAT = {"int8": np.int8, "fp16": np.float16, "fp32": np.float32}
CODEC = "codec (2-bit residuals)"
CODEC_NO_PUNCT = "codec, no punctuation"
OPTIONS = ("none", *FORMATS, CODEC, CODEC_NO_PUNCT)


def _doc_side(option: str, e: Encoded, codec: Codec | None) -> Encoded:
    if option == "none":
        return e
    if option in FORMATS:
        return as_stored(e, option)
    coded = as_coded(e, codec)  # type: ignore[arg-type]
    return without_punctuation(coded) if option == CODEC_NO_PUNCT else coded


def _query_side(option: str, e: Encoded) -> Encoded:
    # Queries live in the memory tier (int8) whatever the token file holds; the formats apply to both sides.
    return e if option == "none" else as_stored(e, option if option in FORMATS else "int8")


def bench_cache(
    verifier: Verifier,
    data_dir: Path,
    n_pairs: int = 1000,
    log: Callable[[str], None] = print,
    *,
    auc_limit: int = 300,
    scifact_docs: int = 300,
    scifact_queries: int = 50,
) -> dict[str, dict[str, float]]:
    """Per storage option: mean/max absolute change of verifier and MaxSim scores against fp32 on dev pairs and on
    SciFact (query, passage) pairs, dev ROC-AUCs, and token-file bytes per passage. ``verifier`` should read an
    encoder without a token cache (exact fp32 vectors).

    The first side of a pair is the query (kept in the memory tier: int8 under the codec options), the second the
    stored passage. The codec is trained on the passages being scored (as ``verimap index`` trains it on the corpus
    it indexes)."""
    from verimap.evaluation.retrieval import load_scifact
    from verimap.evaluation.suite import build_sets, dev_rows

    enc = verifier.encoder
    rows = dev_rows(data_dir, "paws_dev")[: n_pairs // 2] + dev_rows(data_dir, "mrpc_train")[: n_pairs // 2]
    sets = build_sets(data_dir, limit=auc_limit)
    aucs = {"PAWS": sets["paws"], "Banking77": sets["banking"], "prompts": sets["prompts"]}
    log(f"  encoding {len(rows)} dev pairs and {sum(map(len, aucs.values()))} AUC pairs once in fp32 …")
    pairs_all = [(r.a, r.b) for r in rows] + [(r.a, r.b) for v in aucs.values() for r in v]
    texts = list(dict.fromkeys(t for p in pairs_all for t in p))
    exact = dict(zip(texts, enc.encode(texts, warn=False)))

    log(f"  SciFact: {scifact_docs} abstracts as passages, {scifact_queries} queries × their 10 nearest …")
    from verimap.passages import Document, split_documents

    corpus, queries, _ = load_scifact(data_dir, scifact_queries)
    docs = [Document(i, t) for i, t in list(corpus.items())[:scifact_docs]]
    passages = [p.text for p in split_documents(docs, enc.tokenizer, enc.max_length - 2)]
    p_enc = enc.encode(passages, warn=False)
    q_enc = enc.encode([q for _, q in queries], warn=False)
    pv = torch.stack([e.pooled for e in p_enc])
    sci = [(q, p_enc[j]) for q in q_enc for j in torch.topk(pv @ q.pooled, 10).indices.tolist()]

    def codec_on(encoded: list[Encoded]) -> Codec:
        vectors = torch.cat([as_stored(e, "int8").vectors for e in encoded])
        pick = torch.randperm(len(vectors), generator=torch.Generator().manual_seed(0))[:TRAIN_TOKENS]
        return Codec.train(vectors[pick])

    log("  training the codecs …")
    dev_codec = codec_on([exact[b] for _, b in pairs_all])
    sci_codec = codec_on(p_enc)

    def score(pairs: list[tuple[Encoded, Encoded]]) -> tuple[np.ndarray, np.ndarray]:
        return (
            np.array(verifier._score_encoded(pairs)),
            np.array([maxsim(a.vectors, b.vectors) for a, b in pairs]),
        )

    out: dict[str, dict[str, float]] = {}
    base: dict[str, np.ndarray] = {}
    for option in OPTIONS:
        log(f"  {option} …")
        dev = [(_query_side(option, exact[a]), _doc_side(option, exact[b], dev_codec)) for a, b in pairs_all]
        sci_pairs = [(_query_side(option, q), _doc_side(option, d, sci_codec)) for q, d in sci]
        v_dev, m_dev = score(dev)
        v_sci, m_sci = score(sci_pairs)
        if option == "none":
            base = {"v_dev": v_dev, "m_dev": m_dev, "v_sci": v_sci, "m_sci": m_sci}
        sizes = [stored_bytes(e, option if option != "none" else "fp32", sci_codec) for e in p_enc]
        row: dict[str, float] = {"bytes per passage": float(np.mean([b for b, _ in sizes]))}
        row["× fp32"] = float(np.sum([b for b, _ in sizes]) / np.sum([f for _, f in sizes]))
        for name, got, ref in (
            ("verifier Δ dev", v_dev, base["v_dev"]),
            ("MaxSim Δ dev", m_dev, base["m_dev"]),
            ("verifier Δ SciFact", v_sci, base["v_sci"]),
            ("MaxSim Δ SciFact", m_sci, base["m_sci"]),
        ):
            row[f"{name} mean"] = float(np.abs(got - ref).mean())
            row[f"{name} max"] = float(np.abs(got - ref).max())
        offset = len(rows)
        for set_name, set_rows in aucs.items():
            part = v_dev[offset : offset + len(set_rows)]
            row[f"{set_name} AUC"] = roc_auc([r.label for r in set_rows], part.tolist())
            offset += len(set_rows)
        out[option] = row
    return out


def cache_markdown(table: dict[str, dict[str, float]], n_pairs: int) -> str:
    cols = list(next(iter(table.values())))
    lines = ["| stored as | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for fmt, row in table.items():
        name = "fp32, no cache (reference)" if fmt == "none" else fmt
        cells = [
            f"{row[c]:.4f}"
            if "AUC" in c
            else f"{row[c]:.0f}"
            if c == "bytes per passage"
            else f"{row[c]:.3f}"
            if c == "× fp32"
            else f"{row[c]:.1e}"
            for c in cols
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append(
        f"\nDev pairs: {n_pairs} (half from the carved PAWS dev part, half from the carved MRPC part; the shipped "
        "weights never saw either) plus the AUC sets; SciFact: (query, passage) pairs of the dense top 10. Δ is "
        "against scores from uncompressed fp32 vectors; the first side of a pair is the query (int8 in memory under "
        "the codec rows), the second the stored passage. Bytes: vectors, pooled vector and parse of a SciFact "
        "passage as the token file stores them; × fp32: against fp32 ColBERT-style storage of every position "
        "([CLS] and [SEP] included)."
    )
    return "\n".join(lines)


# -- indexing a corpus -------------------------------------------------------------------------------------------
@dataclass
class IndexReport:
    corpus: str
    documents: int
    passages: int
    split_documents: int
    threads: int
    load: float
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    split_seconds: float = 0.0
    forward_seconds: float = 0.0
    parse_seconds: float = 0.0
    codec_seconds: float = 0.0
    upsert_seconds: float = 0.0
    tower_seconds: float = 0.0
    bare_forward_seconds: float = 0.0  # a bare stock MiniLM forward over the same passages (the reference)
    peak_rss_mb: float = 0.0
    truncated: int = 0
    warnings: int = 0
    word_pieces: int = 0
    file_bytes: int = 0
    row_bytes: int = 0
    fp32_bytes: int = 0
    rows: int = 0


class _Clock:
    """Seconds spent inside wrapped calls."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, fn):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        return timed


def bench_index_corpus(
    encoder: TokenEncoder,
    corpus: Path,
    n_docs: int | None = None,
    *,
    max_tokens: int | None = None,
    overlap: int | None = None,
    keep: Path | None = None,
    log: Callable[[str], None] = print,
) -> IndexReport:
    """Index a BEIR corpus (``corpus.jsonl(.gz)`` in the folder ``corpus``) into a fresh embedded store, as ``verimap
    index`` does, timing each part. ``encoder`` should be a fresh one (its parser and model get timers). ``keep``:
    index into this new directory (kept, e.g. for ``verimap eval-ir --store``) instead of a temporary one."""
    import warnings

    from verimap.evaluation.ir import Beir
    from verimap.passages import DEFAULT_OVERLAP
    from verimap.store import VerimapStore

    file = next(corpus / n for n in ("corpus.jsonl", "corpus.jsonl.gz") if (corpus / n).is_file())
    documents = list(Beir(file, [], {}, file).documents())[:n_docs]
    from verimap import quantize

    clocks = {k: _Clock() for k in ("forward", "parse", "codec", "upsert", "tower")}
    if encoder.parser is not None:
        encoder.parser.parse = clocks["parse"].wrap(encoder.parser.parse)  # type: ignore[method-assign]
    model_forward = encoder.model.forward
    encoder.model.forward = clocks["forward"].wrap(model_forward)  # type: ignore[method-assign]
    if encoder.tower is not None:
        encoder.tower.forward = clocks["tower"].wrap(encoder.tower.forward)  # type: ignore[method-assign]
    report = IndexReport(str(file), len(documents), 0, 0, torch.get_num_threads(), os.getloadavg()[0])
    train = quantize.Codec.train
    quantize.Codec.train = clocks["codec"].wrap(train)  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as tmp:
        if keep is not None and keep.exists() and any(keep.iterdir()):
            raise ValueError(f"{keep} is not empty: the bench indexes into a new store")
        store = VerimapStore(keep if keep is not None else Path(tmp) / "index", encoder=encoder)
        store.collection.upsert = clocks["upsert"].wrap(store.collection.upsert)  # type: ignore[method-assign]
        log(f"  {len(documents)} documents from {file} …")
        cpu, start = time.process_time(), time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", TruncationWarning)
            split_start = time.perf_counter()
            passages = store.passages(
                documents, max_tokens=max_tokens, overlap=DEFAULT_OVERLAP if overlap is None else overlap
            )
            report.split_seconds = time.perf_counter() - split_start
            store.add_documents(documents, passages=passages)
        report.seconds = time.perf_counter() - start
        report.cpu_seconds = time.process_time() - cpu
        report.warnings = sum(isinstance(w.message, TruncationWarning) for w in caught)
        report.passages = len(passages)
        report.split_documents = len({p.parent_id for p in passages if p.count > 1})
        for name, clock in clocks.items():
            setattr(report, f"{name}_seconds", clock.seconds)
        assert store.count() == len(passages)
        token_file = store.token_file
        encoder.cache.detach()  # type: ignore[union-attr]
        with sqlite3.connect(token_file) as conn:  # type: ignore[arg-type]
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            n, row_bytes, pieces, truncated = conn.execute(
                "SELECT count(*), sum(length(vectors) + length(pooled) + coalesce(length(parse), 0)), sum(rows),"
                " sum(truncated) FROM tokens"
            ).fetchone()
        report.rows, report.row_bytes, report.word_pieces, report.truncated = n, row_bytes, pieces, truncated
        report.fp32_bytes = (pieces + 2 * n) * encoder.dim * 4
        report.file_bytes = sum(f.stat().st_size for f in Path(token_file).parent.glob(Path(token_file).name + "*"))
    quantize.Codec.train = train  # type: ignore[method-assign]
    encoder.model.forward = model_forward  # type: ignore[method-assign]
    report.bare_forward_seconds = bare_forward(encoder, [p.text for p in passages])
    report.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return report


@torch.inference_mode()
def bare_forward(encoder: TokenEncoder, texts: list[str], batch_size: int = 128) -> float:
    """Seconds of a bare stock forward over ``texts`` (tokenized, sorted by length, padded per batch, nothing else):
    the encoder's own pace, the reference indexing is measured against."""
    ids = encoder.tokenizer(texts, add_special_tokens=True, truncation=True, max_length=encoder.max_length)["input_ids"]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    start = time.perf_counter()
    for s in range(0, len(order), batch_size):
        encoder.model(**encoder._pad([ids[i] for i in order[s : s + batch_size]]))
    return time.perf_counter() - start


def index_markdown(r: IndexReport) -> str:
    other = (
        r.seconds
        - r.forward_seconds
        - r.tower_seconds
        - r.parse_seconds
        - r.codec_seconds
        - r.upsert_seconds
        - r.split_seconds
    )
    parts = [
        ("encoder forward (stock layers)", r.forward_seconds),
        ("verifier tower (its own top layers)", r.tower_seconds),
        ("spaCy parse", r.parse_seconds),
        ("splitting into passages", r.split_seconds),
        ("codec training (k-means)", r.codec_seconds),
        ("Chroma upserts", r.upsert_seconds),
        ("the rest (tokenizing, codes, token file, Python)", other),
    ]
    lines = [
        "| documents | passages | wall time | documents/s | passages/s | CPU s per document |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {r.documents} | {r.passages} | {r.seconds:.0f} s | {r.documents / r.seconds:.1f} | "
        f"{r.passages / r.seconds:.1f} | {r.cpu_seconds / r.documents:.3f} |",
        "",
        "| part | seconds | share |",
        "|---|---:|---:|",
        *[f"| {name} | {sec:.1f} | {sec / r.seconds:.0%} |" for name, sec in parts],
        "",
        f"- Against a bare stock MiniLM forward over the same passages ({r.bare_forward_seconds:.0f} s): indexing "
        f"runs at {r.bare_forward_seconds / r.seconds:.2f} × its throughput (everything but the stock forward: "
        f"{(r.seconds - r.forward_seconds) / max(r.forward_seconds, 1e-9):.2f} × the encoder's time). Peak RSS "
        f"{r.peak_rss_mb:.0f} MB.",
        f"- Corpus: `{r.corpus}`; {r.split_documents} documents longer than one passage were split "
        f"({r.word_pieces} word pieces stored); truncated passages: {r.truncated}; truncation warnings: {r.warnings}.",
        f"- Torch threads: {r.threads}; 1-minute load average when the run started: {r.load:.1f} (other processes "
        f"on the machine slow every figure here). At {r.cpu_seconds / r.documents:.3f} CPU seconds per document, "
        f"{r.threads} otherwise idle cores would index about {r.threads * r.documents / r.cpu_seconds:.0f} "
        "documents/s.",
        f"- Token file: {r.row_bytes / r.rows:.0f} bytes per passage in its rows (vectors, pooled vector, parse) = "
        f"{r.row_bytes / r.fp32_bytes:.3f} × fp32 ColBERT-style storage; {r.file_bytes / r.rows:.0f} bytes per "
        f"passage on disk with SQLite's keys and pages ({r.file_bytes / r.fp32_bytes:.3f} ×).",
    ]
    return "\n".join(lines)


# -- the service -------------------------------------------------------------------------------------------------
def free_port() -> int:
    """A loopback port nobody listens on (bound and released: a server started right after gets it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_process(
    args: Sequence[str] = (), *, env: dict[str, str] | None = None, timeout: float = 300.0
) -> Iterator[tuple[str, subprocess.Popen]]:
    """``verimap serve`` in a child process on a free loopback port, until the block ends; yields its base URL (once
    ``/health`` says ready) and the process. ``args`` are more flags (``--threads 1``, ``--api-key-env K``, ...)."""
    import httpx

    port = free_port()
    cmd = [sys.executable, "-m", "verimap", "serve", "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    log = tempfile.TemporaryFile("w+")  # a file, not a pipe: a pipe nobody reads would stall a chatty server
    proc = subprocess.Popen(
        [*cmd, "--log-level", "warning", *args], env={**os.environ, **(env or {})}, stdout=log, stderr=log, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"verimap serve exited with {proc.returncode}: {log.read()[-2000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"verimap serve was not ready after {timeout:.0f} s")
            time.sleep(0.25)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@dataclass
class Load:
    """What :func:`load` saw: per request, in the order given, the status, the seconds and the JSON body."""

    statuses: list[int]
    seconds: list[float]
    bodies: list[Any]
    wall: float
    concurrency: int

    @property
    def errors(self) -> int:
        return sum(s != 200 for s in self.statuses)

    def quantile(self, q: float) -> float:
        return float(np.quantile(self.seconds, q))

    @property
    def per_second(self) -> float:
        return len(self.seconds) / self.wall


async def load(
    url: str, bodies: Sequence[dict], *, concurrency: int = 8, path: str = "/v2/rerank", headers: dict | None = None
) -> Load:
    """POST each of ``bodies`` once to ``url + path`` from ``concurrency`` clients at once (each waits for its answer
    before sending the next), over keep-alive connections; bounded by the count and a 60 s timeout per request."""
    import httpx

    n = len(bodies)
    statuses, seconds, answers = [0] * n, [0.0] * n, [None] * n
    todo = iter(range(n))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits, headers=headers) as client:

        async def worker() -> None:
            for i in todo:  # one shared iterator: each request is taken by exactly one client
                start = time.perf_counter()
                try:
                    response = await client.post(path, json=bodies[i])
                    statuses[i], answers[i] = response.status_code, response.json()
                except (httpx.HTTPError, ValueError) as exc:
                    statuses[i], answers[i] = -1, repr(exc)
                seconds[i] = time.perf_counter() - start

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - start
    return Load(statuses, seconds, answers, wall, concurrency)


@dataclass
class ServeReport:
    threads: int
    candidates: int
    texts: str
    in_process: float  # median seconds of a warm Verifier.rank
    http: float  # median seconds of a warm POST /v2/rerank
    search: float | None  # median seconds of a `verimap search` process
    search_repeats: int
    load: Load | None
    requests: int
    mismatches: int  # HTTP answers (timed and load) that differed from the in-process ranking


def bench_serve(
    verifier: Verifier,
    data_dir: Path | None,
    *,
    candidates: int = 50,
    repeats: int = 21,
    requests: int = 2000,
    concurrency: int = 8,
    search_repeats: int = 3,
    encoder: str | None = None,
    weights: str | None = None,
    device: str | None = None,
    log: Callable[[str], None] = print,
) -> ServeReport:
    """A warm rerank of ``candidates`` cached passages: in process, through ``verimap serve`` over HTTP, and as a
    ``verimap search`` process per query over an index of the same passages; then ``requests`` requests from
    ``concurrency`` clients at once. The server runs in a child process with this process's torch threads;
    ``encoder``, ``weights`` and ``device`` are the flags it and the CLI processes get (those of ``verifier``)."""
    import httpx

    flags = {"--encoder": encoder, "--device": device}
    index_flags = [x for k, v in flags.items() if v for x in (k, v)]
    model_flags = [*index_flags, *(["--weights", weights] if weights else [])]
    threads = torch.get_num_threads()
    n_queries = 2 * repeats + 2 + search_repeats
    docs, base = bench_texts(data_dir, candidates, min(n_queries + requests, 800), verifier.encoder)
    # Every timed request has a query never seen: variants once the data's queries run out.
    queries = [
        base[i % len(base)] + (f" ({i // len(base)})" if i >= len(base) else "") for i in range(n_queries + requests)
    ]
    fresh = iter(queries)

    def body(q: str) -> dict:
        return {"model": "verimap", "query": q, "documents": docs}

    def same(q: str, answer: Any) -> bool:
        got = [(r["index"], r["relevance_score"]) for r in answer["results"]]
        return got == [(r.index, r.score) for r in verifier.rank(q, docs)]

    report = ServeReport(
        threads=threads,
        candidates=candidates,
        texts="demo passage pairs" if data_dir is None else "SciFact abstract sentences of 40–72 word pieces",
        in_process=0.0,
        http=0.0,
        search=None,
        search_repeats=search_repeats,
        load=None,
        requests=requests,
        mismatches=0,
    )

    log(f"  in process: {candidates} cached candidates …")
    verifier.encoder.encode(docs)
    verifier.rank(next(fresh), docs)  # warm-up
    report.in_process = _median(lambda: verifier.rank(next(fresh), docs), repeats)

    log("  starting `verimap serve` …")
    with (
        serve_process(["--threads", str(threads), *model_flags]) as (url, _),
        httpx.Client(base_url=url, timeout=60) as http,
    ):
        first = next(fresh)
        report.mismatches += not same(first, http.post("/v2/rerank", json=body(first)).json())  # warms its cache
        timed: list[tuple[str, Any]] = []

        def call() -> None:
            q = next(fresh)
            timed.append((q, http.post("/v2/rerank", json=body(q)).json()))

        report.http = _median(call, repeats)
        report.mismatches += sum(not same(q, a) for q, a in timed)
        if requests:
            log(f"  {requests} requests from {concurrency} clients …")
            bodies = [body(next(fresh)) for _ in range(requests)]
            report.load = asyncio.run(load(url, bodies, concurrency=concurrency))
            # Spot-check the answers under load (all of them are checked by the slow test).
            report.mismatches += sum(
                not same(b["query"], a) for b, a in list(zip(bodies, report.load.bodies))[:: max(1, requests // 50)]
            )

    if search_repeats:
        log(f"  `verimap search` processes over an index of the {candidates} passages …")
        with tempfile.TemporaryDirectory() as tmp:
            corpus = Path(tmp) / "passages.jsonl"
            corpus.write_text("".join(json.dumps({"text": d}) + "\n" for d in docs))
            store = ["--store", str(Path(tmp) / "index")]
            verimap = [sys.executable, "-m", "verimap"]
            subprocess.run(
                [*verimap, "index", str(corpus), *store, "--quiet", *index_flags], check=True, capture_output=True
            )

            def search() -> None:
                argv = [*verimap, "search", next(fresh), *store, "--recall-k", str(candidates), "--json", *model_flags]
                subprocess.run(argv, check=True, capture_output=True)

            report.search = _median(search, search_repeats)
    return report


def serve_markdown(r: ServeReport) -> str:
    rows = [
        ("in process: `Verifier.rank`, warm", r.in_process),
        ("HTTP: `POST /v2/rerank` to `verimap serve`, warm", r.http),
    ]
    if r.search is not None:
        rows.append((f"a `verimap search` process per query (median of {r.search_repeats})", r.search))
    lines = [
        f"| one request, {r.candidates} cached candidates | ms | × in process |",
        "|---|---:|---:|",
        *(f"| {name} | {s * 1000:.1f} | {s / r.in_process:.2f} |" for name, s in rows),
        "",
        f"- HTTP / in process: {r.http / r.in_process:.2f} ×"
        + (f"; a `verimap search` process / HTTP: {r.search / r.http:.0f} ×." if r.search is not None else "."),
    ]
    if r.load is not None:
        ld = r.load
        lines.append(
            f"- Load: {r.requests} requests of {r.candidates} candidates from {ld.concurrency} concurrent clients "
            f"(keep-alive, each waits for its answer): {ld.per_second:.1f} requests/s, latency p50 "
            f"{ld.quantile(0.5) * 1000:.0f} ms, p95 {ld.quantile(0.95) * 1000:.0f} ms, {ld.errors} errors."
        )
    lines += [
        f"- Answers checked against the in-process ranking: {r.mismatches} differed.",
        f"- Torch threads: {r.threads} in process and in the server (one worker); candidates: {r.texts}; every "
        "request has a query never seen before (its MiniLM forward is part of each figure); medians.",
    ]
    return "\n".join(lines)
