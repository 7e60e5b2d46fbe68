"""Run by tests/test_ray_index.py inside a private network namespace (``unshare -n``, loopback only): index a small
corpus once in one process (embedded store) and once with Ray Data into a ``chroma run`` server, and write what
differs to ``<out>/result.json``. Usage: ``python ray_index_run.py OUT_DIR SHARED_DATA [N_DOCS]``."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path


def rows(path: Path) -> dict:
    with sqlite3.connect(path) as conn:
        tokens = {
            r[0]: r[1:]
            for r in conn.execute("SELECT key, format, rows, dim, truncated, vectors, pooled, parse FROM tokens")
        }
        codecs = sorted(conn.execute("SELECT id, encoder, data FROM codecs"))
    return {"tokens": tokens, "codecs": codecs}


def main(out: Path, data: Path, n_docs: int) -> None:
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    import numpy as np
    import ray

    from verimap.passages import Document
    from verimap.ray_index import index_with_ray, token_encoder
    from verimap.store import VerimapStore

    with gzip.open(data / "scifact" / "corpus.jsonl.gz", "rt", encoding="utf-8") as f:
        records = [json.loads(line) for _, line in zip(range(n_docs), f)]
    docs = [
        Document(r["_id"], f"{r['title']} {r['text']}".strip(), {"title": r["title"], "n": i})
        for i, r in enumerate(records)
    ]

    started = time.perf_counter()
    local = VerimapStore(out / "local", encoder=token_encoder(None, None, "cpu"))  # as `verimap index` encodes
    local.add_documents(docs, batch_size=16)
    single_s = time.perf_counter() - started

    chroma = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [chroma, "run", "--path", str(out / "server"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        started = time.perf_counter()
        written = index_with_ray(
            docs, host="127.0.0.1", port=port, collection="ray", token_file=out / "ray-tokens.sqlite", batch_size=16
        )
        ray_s = time.perf_counter() - started
        ray.shutdown()
        remote = VerimapStore(host="127.0.0.1", port=port, collection="ray", encoder=local.encoder, create=False)
        a = local.collection.get(include=["documents", "metadatas", "embeddings"])
        b = remote.collection.get(include=["documents", "metadatas", "embeddings"])
    finally:
        server.terminate()
        server.wait(timeout=30)
    ka = dict(zip(a["ids"], zip(a["documents"], a["metadatas"], a["embeddings"])))
    kb = dict(zip(b["ids"], zip(b["documents"], b["metadatas"], b["embeddings"])))
    same_ids = sorted(ka) == sorted(kb)
    ra, rb = rows(local.token_file), rows(out / "ray-tokens.sqlite")
    result = {
        "passages": len(ka),
        "split_documents": len({m["verimap_parent"] for _, m, _ in ka.values() if m["verimap_passages"] > 1}),
        "written": written,
        "same_ids": same_ids,
        "same_documents": same_ids and all(ka[x][0] == kb[x][0] for x in ka),
        "same_metadata": same_ids and all(ka[x][1] == kb[x][1] for x in ka),
        "max_embedding_diff": max(float(np.abs(np.array(ka[x][2]) - np.array(kb[x][2])).max()) for x in ka)
        if same_ids
        else None,
        "codecs": len(ra["codecs"]),
        "same_codec": ra["codecs"] == rb["codecs"],
        "same_token_keys": sorted(ra["tokens"]) == sorted(rb["tokens"]),
        "same_token_rows": ra["tokens"] == rb["tokens"],
        "coded_rows": sum(str(v[0]).startswith("rq:") for v in ra["tokens"].values()),
        "single_process_s": single_s,
        "ray_s": ray_s,
    }
    (out / "result.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 40)
