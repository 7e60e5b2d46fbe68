"""Issue 8, the store: ``verimap index`` killed with SIGKILL mid-run keeps every passage it reported as written, and
re-running completes the index with no duplicates; readers querying while an index is written (from another process
or from threads of the writing one) get consistent results: no error, no partial passage, never a passage that was
not written.

Progress is read from the CLI's own progress bar on stderr (tqdm's ``N/TOTAL``): ``store.add`` moves it only after
a batch is upserted, so whatever it printed is a lower bound of what is stored.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("chromadb")

from verimap.cli import main  # noqa: E402
from verimap.store import StoreError, VerimapStore, plan_batches, stable_id  # noqa: E402

SUBJECTS = "dog cat man woman pilot doctor teacher child farmer robot".split()
VERBS = "bit chased helped called paid met saw thanked visited followed".split()
PROGRESS = re.compile(rb"(\d+)/(\d+) \[")


def write_corpus(path: Path, n: int, encoder=None, batch_size: int = 8) -> tuple[list[str], dict[str, str]]:
    """A JSONL corpus: one record in three without an id (its id is the sha256 of its text), and repeated records
    (the same id twice, as re-exported data often has). Returns the ids in the order ``store.add`` writes them
    (each id at its last occurrence, shortest first in batches of ``batch_size``: documented in VerimapStore.add
    and plan_batches; input order without an ``encoder``) and each id's text."""
    records = []
    for i in range(n):
        text = f"Record {i}: the {SUBJECTS[i % 10]} {VERBS[(i // 10) % 10]} the {SUBJECTS[(i + 3) % 10]} on day {i}."
        rec = {"text": text} if i % 3 == 0 else {"id": f"r{i:04d}", "text": text, "meta": {"n": i}}
        records.append(rec)
        if i % 40 == 7:
            records.append(dict(rec))
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    ids = [r.get("id") or stable_id(r["text"]) for r in records]
    last = {x: k for k, x in enumerate(ids)}
    order = [x for k, x in enumerate(ids) if last[x] == k]
    texts = {x: r["text"] for x, r in zip(ids, records)}
    if encoder is not None:
        lengths = [min(len(encoder.tokenizer(texts[x])["input_ids"]), encoder.max_length) for x in order]
        order = [order[k] for batch in plan_batches(lengths, batch_size) for k in batch]
    return order, texts


def index_process(src: Path, store: Path, *extra: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "ANONYMIZED_TELEMETRY": "False",
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "verimap", "index", str(src), "--store", str(store), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=src.parent,
    )


def stored(store: VerimapStore, ids: list[str] | None = None) -> dict[str, str]:
    got = store.collection.get(ids=ids, include=["documents"])
    assert len(got["ids"]) == len(set(got["ids"]))
    return dict(zip(got["ids"], got["documents"]))


def test_sigkill_mid_index_keeps_what_was_reported_and_a_rerun_completes(tmp_path, encoder, capsys):
    src = tmp_path / "corpus.jsonl"
    order, texts = write_corpus(src, 400, encoder, batch_size=8)  # the order the index writes: shortest first
    store_dir = tmp_path / "index"
    proc = index_process(src, store_dir, "--batch-size", "8")
    os.set_blocking(proc.stderr.fileno(), False)
    err, reported, deadline = b"", 0, time.monotonic() + 120
    try:
        while proc.poll() is None and reported < 64 and time.monotonic() < deadline:
            err += proc.stderr.read() or b""
            found = PROGRESS.findall(err)
            reported = int(found[-1][0]) if found else 0
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"index finished before it could be killed:\n{err.decode()[-2000:]}"
    assert 64 <= reported < len(order), err.decode()[-500:]

    store = VerimapStore(store_dir, encoder=encoder, create=False)
    assert store.count() >= reported
    survived = stored(store, order[:reported])
    assert survived == {x: texts[x] for x in order[:reported]}  # every reported passage, whole
    for x in order[:reported:16]:  # and findable: the vector index survived the kill too
        assert store.query(texts[x], k=1)[0].id == x

    rc = main(["index", str(src), "--store", str(store_dir), "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert store.count() == len(order)
    everything = stored(store)
    assert everything == texts  # every passage once: no duplicates, nothing missing, nothing altered
    assert len(set(everything.values())) == len(order)


def read_while(proc: subprocess.Popen, open_store, query: str, texts: dict[str, str]) -> list[int]:
    """Query the store every few ms until ``proc`` exits; check every hit; return the counts seen."""
    store, counts = None, []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done = proc.poll() is not None
        try:
            if store is None:
                store = open_store()
            hits = store.query(query, k=20)
            n = store.count()  # after the query: the writer may add passages in between
        except StoreError:  # the collection does not exist yet
            n = None
        if n is not None:
            counts.append(n)
            assert len(hits) <= min(20, n)
            for h in hits:
                assert texts.get(h.id) == h.text, h  # a written passage, whole
        if done:
            break
        time.sleep(0.02)
    return counts


@pytest.mark.slow  # starts a chroma server and an index process: ~10 s
def test_a_reader_process_during_indexing_through_a_server_gets_consistent_results(tmp_path, encoder, chroma_server):
    src = tmp_path / "corpus.jsonl"
    order, texts = write_corpus(src, 300)
    where = ("--host", "127.0.0.1", "--port", str(chroma_server), "--collection", "live")
    proc = index_process(src, tmp_path / "unused", *where, "--batch-size", "8", "--quiet")
    try:
        counts = read_while(
            proc,
            lambda: VerimapStore(
                host="127.0.0.1", port=chroma_server, collection="live", encoder=encoder, create=False
            ),
            "the dog bit the man",
            texts,
        )
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]
    assert counts == sorted(counts), "the count went backwards"
    assert any(0 < c < len(order) for c in counts), "no read overlapped the indexing"
    final = VerimapStore(host="127.0.0.1", port=chroma_server, collection="live", encoder=encoder, create=False)
    assert final.count() == len(order)
    assert {h.id: h.text for h in final.query("Record", k=1000)} == texts  # the reader sees every passage now


def test_a_local_store_opened_before_another_process_indexes_fails_cleanly(tmp_path, encoder):
    src = tmp_path / "corpus.jsonl"
    order, texts = write_corpus(src, 40)
    store_dir = tmp_path / "index"
    reader = VerimapStore(store_dir, encoder=encoder)  # opened (and created, empty) before the writer starts
    assert reader.query("the dog bit the man", k=5) == []
    proc = index_process(src, store_dir, "--quiet")
    assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()[-2000:]
    try:
        hits = reader.query("the dog bit the man", k=5)
    except StoreError as exc:  # a clear refusal is fine: "reopen the store"
        assert str(store_dir) in str(exc)
    except Exception as exc:  # noqa: BLE001
        raise AssertionError(f"a raw {type(exc).__name__} escaped VerimapStore.query: {exc}") from exc
    else:
        assert hits and all(texts.get(h.id) == h.text for h in hits)


def test_threads_reading_while_a_thread_writes_get_consistent_results(tmp_path, encoder):
    store = VerimapStore(tmp_path / "index", encoder=encoder)
    texts = {
        f"t{i}": f"Thread record {i}: the {SUBJECTS[i % 10]} {VERBS[i % 7]} a {SUBJECTS[(i + 5) % 10]}."
        for i in range(160)
    }
    written: list[int] = []
    problems: list[str] = []
    done = threading.Event()

    def write():
        try:
            store.add(list(texts.values()), ids=list(texts), batch_size=8, on_batch=lambda n: written.append(n))
        except Exception as exc:  # noqa: BLE001
            problems.append(f"writer: {exc!r}")
        finally:
            done.set()

    def read(query: str):
        last = 0
        while not done.is_set():
            try:
                n = store.count()
                hits = store.query(query, k=10)
            except Exception as exc:  # noqa: BLE001
                problems.append(f"reader: {exc!r}")
                return
            if n < last:
                problems.append(f"count went from {last} to {n}")
            last = n
            problems.extend(f"bad hit {h}" for h in hits if texts.get(h.id) != h.text)

    threads = [threading.Thread(target=write)] + [
        threading.Thread(target=read, args=(q,)) for q in ("the dog bit a man", "a robot paid a pilot")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert problems == []
    assert sum(written) == len(texts) == store.count()
    assert {h.id for h in store.query("Thread record", k=500)} == set(texts)


def test_two_stores_on_one_encoder_keep_their_own_token_files(tmp_path, encoder):
    from verimap import store as store_module

    token_file = getattr(store_module, "TOKEN_FILE", None)
    if token_file is None:
        pytest.skip("this build keeps no token file beside the store")
    a = VerimapStore(tmp_path / "a", encoder=encoder)
    b = VerimapStore(tmp_path / "b", encoder=encoder)
    a.add(["Store A passage about a dog that bit a man.", "Store A passage about Paris."])
    b.add(["Store B passage about a cat."])
    a.add(["Store A passage added after B was opened."])

    def rows(path: Path) -> int:
        if not path.exists():
            return 0
        with sqlite3.connect(path) as conn:
            return conn.execute("SELECT count(*) FROM tokens").fetchone()[0]

    assert (rows(tmp_path / "a" / token_file), rows(tmp_path / "b" / token_file)) == (3, 1)
