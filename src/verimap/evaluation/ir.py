"""``verimap eval-ir``: dense recall, dense → MaxSim and dense → the default policy on a BEIR-layout corpus.

A BEIR folder holds ``corpus.jsonl`` (or ``.jsonl.gz``; rows ``{_id, title, text}``), ``queries.jsonl`` (rows
``{_id, text}``) and ``qrels/<split>.tsv`` (header ``query-id corpus-id score``); a single ``qrels.tsv`` at the top
level is read when ``qrels/<split>.tsv`` is absent (the shared SciFact folder is laid out so). Only queries with a
relevant document in the qrels are evaluated, as BEIR does.

The corpus is indexed as ``verimap index`` would (passages that fit the encoder, the token file and its codec), each
query recalls ``recall_k`` passages, and every ranking is turned into a document ranking by the best passage of each
document (:func:`verimap.store.best_per_document`), as ``verimap search`` shows it:

- ``dense``: the recall order (pooled cosine);
- ``maxsim``: the recalled passages reordered by MaxSim;
- ``verifier``: reordered by the verifier's probability alone (printed, not in the JSON);
- ``default``: the default policy of :meth:`verimap.Verifier.rank` (``fuse``: verifier fused with MaxSim, nothing
  dropped), what ``verimap search`` returns.

The JSON report has a fixed shape others script against: ``{"ndcg@10": {"dense", "maxsim", "verifier", "default"}, "recall@k":
{...}, "queries": N, "per_query": {query id: {"ndcg@10": {...}, "recall@k": {...}}}}``, recall@k at ``k`` (the results
a search shows, 10 by default).
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from statistics import mean

from verimap.errors import ConfigError
from verimap.metrics import ndcg, recall_at
from verimap.passages import Document
from verimap.scorers import MaxSim
from verimap.store import VerimapStore, best_per_document

RANKINGS = ("dense", "maxsim", "verifier", "default")
LABELS = {
    "dense": "dense (pooled cosine)",
    "maxsim": "dense → MaxSim",
    "verifier": "dense → verifier alone",
    "default": "dense → default policy",
}


@dataclass
class Beir:
    corpus: Path
    queries: list[tuple[str, str]]
    qrels: dict[str, dict[str, float]]
    qrels_path: Path

    def documents(self) -> Iterator[Document]:
        """The corpus as ``verimap index`` reads it: ``title + " " + text``, the rest of the row as metadata."""
        for row in _jsonl(self.corpus):
            title = row.get("title") or ""
            body = " ".join(part for part in (title.strip(), (row.get("text") or "").strip()) if part)
            if body:
                meta = {k: v for k, v in row.items() if k not in ("_id", "id", "text", "title")}
                yield Document(
                    str(row.get("_id", row.get("id"))), body, {**meta, **({"title": title} if title else {})}
                )


def _jsonl(path: Path) -> Iterator[dict]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ConfigError(f"{path}:{n}: not valid JSON ({exc.msg})") from exc


def load_beir(folder: Path, split: str = "test") -> Beir:
    """The corpus file, the queries that have qrels in ``split``, and those qrels; a clear error for a folder that is
    not in the BEIR layout."""
    folder = Path(folder)
    corpus = next((folder / n for n in ("corpus.jsonl", "corpus.jsonl.gz") if (folder / n).is_file()), None)
    if corpus is None:
        raise ConfigError(f"{folder} is not a BEIR folder: no corpus.jsonl or corpus.jsonl.gz in it")
    qrels_path = next((p for p in (folder / "qrels" / f"{split}.tsv", folder / "qrels.tsv") if p.is_file()), None)
    if qrels_path is None:
        raise ConfigError(f"no qrels for split {split!r} in {folder} (looked for qrels/{split}.tsv and qrels.tsv)")
    queries_path = next((folder / n for n in ("queries.jsonl", "queries.jsonl.gz") if (folder / n).is_file()), None)
    if queries_path is None:
        raise ConfigError(f"no queries.jsonl in {folder}")
    qrels: dict[str, dict[str, float]] = {}
    with open(qrels_path, encoding="utf-8", newline="") as f:
        for n, row in enumerate(csv.reader(f, delimiter="\t"), 1):
            if not row or (n == 1 and not row[-1].strip().lstrip("-").isdigit()):
                continue  # the header line
            if len(row) < 3:
                raise ConfigError(f"{qrels_path}:{n}: expected query-id, corpus-id, score")
            qrels.setdefault(row[0], {})[row[1]] = float(row[-1])
    qrels = {q: g for q, g in qrels.items() if any(v > 0 for v in g.values())}
    queries = [(str(r["_id"]), r["text"]) for r in _jsonl(queries_path) if str(r.get("_id")) in qrels]
    if not queries:
        raise ConfigError(f"no query of {queries_path} has a relevant document in {qrels_path}")
    return Beir(corpus, queries, qrels, qrels_path)


def rankings(query: str, store: VerimapStore, verifier, maxsim: MaxSim, recall_k: int) -> dict[str, list[str]]:
    """Per ranking, the document ids in order (each document at its best recalled passage)."""
    hits = store.query(query, recall_k)
    if not hits:
        return {name: [] for name in RANKINGS}
    texts = [h.text for h in hits]
    ranking = verifier.rank(query, texts)  # the default policy: what `verimap search` returns
    by_verifier = {r.index: r.verifier_score for r in list(ranking.kept) + list(ranking.rejected)}
    m = maxsim.score(query, texts)
    orders = {
        "dense": list(range(len(hits))),
        "maxsim": sorted(range(len(hits)), key=lambda i: -m[i]),
        "verifier": sorted(range(len(hits)), key=lambda i: -by_verifier[i]),
        "default": [r.index for r in list(ranking.kept) + list(ranking.rejected)],
    }
    return {name: [hits[i].parent_id for i in best_per_document(hits, order)] for name, order in orders.items()}


def evaluate(
    beir: Beir,
    store: VerimapStore,
    verifier,
    *,
    recall_k: int = 30,
    k: int = 10,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[dict, dict[str, dict[str, float]]]:
    """``(the JSON report, every ranking's means)`` over the queries (the first ``limit`` of them, if given)."""
    maxsim = MaxSim(store.encoder)  # the baseline: MaxSim on the stock encoder, over the stored token vectors
    queries = beir.queries[:limit] if limit else beir.queries
    per_query: dict[str, dict[str, dict[str, float]]] = {}
    every: dict[str, dict[str, list[float]]] = {"ndcg@10": {}, "recall@k": {}}
    for qid, text in queries:
        gains = beir.qrels[qid]
        ranked = rankings(text, store, verifier, maxsim, recall_k)
        row = {
            "ndcg@10": {name: ndcg(ranked[name], gains, 10) for name in RANKINGS},
            "recall@k": {name: recall_at(ranked[name], gains, k) for name in RANKINGS},
        }
        for metric, values in row.items():
            for name, v in values.items():
                every[metric].setdefault(name, []).append(v)
        per_query[qid] = {metric: {n: values[n] for n in RANKINGS} for metric, values in row.items()}
        if progress is not None:
            progress(1)
    means = {metric: {name: mean(v) for name, v in values.items()} for metric, values in every.items()}
    report = {
        "ndcg@10": {n: means["ndcg@10"][n] for n in RANKINGS},
        "recall@k": {n: means["recall@k"][n] for n in RANKINGS},
        "queries": len(queries),
        "per_query": per_query,
    }
    return report, means


def to_markdown(means: dict[str, dict[str, float]], k: int) -> str:
    lines = [f"| ranking | nDCG@10 | recall@{k} |", "|---|---:|---:|"]
    for name in RANKINGS:
        lines.append(f"| {LABELS[name]} | {means['ndcg@10'][name]:.3f} | {means['recall@k'][name]:.3f} |")
    return "\n".join(lines)
