"""The bundled demo knowledge base: about 50 FAQ-style passages full of near-misses (``corpus.jsonl``) and the
queries that show them (``queries.json``). ``verimap demo`` runs it; ``verimap bench`` times on it when no data
folder is given.

>>> corpus, queries = demo_data()
>>> all(q["answer"] in {p["id"] for p in corpus} for q in queries)
True
"""

from __future__ import annotations

import json
from importlib import resources


def demo_data() -> tuple[list[dict], list[dict]]:
    """``(passages, queries)`` of the bundled demo."""
    root = resources.files(__name__)
    corpus = [
        json.loads(line) for line in root.joinpath("corpus.jsonl").read_text("utf-8").splitlines() if line.strip()
    ]
    queries = json.loads(root.joinpath("queries.json").read_text("utf-8"))
    return corpus, queries
