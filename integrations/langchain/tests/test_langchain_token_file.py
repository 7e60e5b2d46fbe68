"""``token_file``: documents' token vectors written while embedding, read (not re-encoded) when verifying.

Everything runs on the real process-wide encoder (the session fixture ``encoder``), whose in-memory cache is
cleared to stand in for a fresh process; one test does use a second process. Each test detaches the files it
attached, so the shared cache is left as it was found.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import sqlite3
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch
from langchain_core.documents import Document
from langchain_core.load import dumpd, dumps, load, loads

from langchain_verimap import StructuralVerifierCompressor, VerifiedRetriever, VerimapEmbeddings
from langchain_verimap._shared import get_verifier
from verimap.cache import cache_key

NAMESPACES = ["langchain_verimap"]
ROOT = Path(__file__).resolve().parents[1]  # integrations/langchain

# Texts no other test indexes, so no other attached token file can hold them and the hit counts below are exact.
QUERY = "Did the heron steal the fisherman's token-file sandwich?"
TEXTS = [
    "The heron stole the fisherman's token-file sandwich.",
    "The fisherman stole the heron's token-file sandwich.",
    "A heron waded through the token-file shallows at dawn.",
    "Token-file interest rates rose by a quarter point in March.",
]


@pytest.fixture(autouse=True)
def _quiet_beta():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is in beta.*")
        yield


@pytest.fixture
def cache(encoder):
    if encoder.cache is None:
        pytest.skip("the shared encoder has no token cache ($VERIMAP_TOKEN_CACHE_MB=0)")
    return encoder.cache


@pytest.fixture
def token_file(tmp_path, cache):
    """A fresh token-file path; detached from the shared cache after the test, whatever attached it."""
    path = tmp_path / "tokens" / "verimap-tokens.sqlite"
    yield path
    cache.detach(path)


def rows(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT COUNT(*) FROM tokens").fetchone()[0]


def docs() -> list[Document]:
    return [Document(page_content=t, id=f"d{i}") for i, t in enumerate(TEXTS)]


def scored(documents) -> list[tuple]:
    return [
        (d.id, d.metadata["relevance_score"], d.metadata["verifier_score"], d.metadata["verifier_accepted"])
        for d in documents
    ]


def test_embed_documents_writes_the_file_and_embed_query_does_not(token_file, encoder, cache):
    embeddings = VerimapEmbeddings(token_file=str(token_file))
    # The shipped verifier's view of the shared encoder: same model and cache, its token vectors (its tower's, if any).
    assert embeddings.active_encoder.cache is encoder.cache
    assert embeddings.active_encoder.encoder_id == get_verifier().encoder.encoder_id
    plain = VerimapEmbeddings()
    assert plain.active_encoder is encoder  # no token_file: the stock shared encoder, no verifier loaded for it
    vectors = embeddings.embed_documents(TEXTS)
    assert token_file.is_file() and rows(token_file) == len(TEXTS)
    assert vectors == plain.embed_documents(TEXTS)  # writing the file changes no vector
    assert token_file.resolve() in cache.paths  # written and read through
    embeddings.embed_documents(TEXTS[:2])  # the same texts again: replaced, not added
    assert rows(token_file) == len(TEXTS)

    before = rows(token_file)
    assert embeddings.embed_query(QUERY) == plain.embed_query(QUERY)
    assert embeddings.embed_query("Another question about herons?")
    assert rows(token_file) == before  # queries stay in memory

    # Without token_file nothing is written to it.
    plain.embed_documents(["An unrelated token-file document, embedded without a file."])
    assert rows(token_file) == before


async def test_async_embed_documents_writes_and_async_query_does_not(token_file):
    embeddings = VerimapEmbeddings(token_file=token_file)  # a Path is stored as a string
    assert embeddings.token_file == str(token_file)
    assert await embeddings.aembed_documents(TEXTS[:3]) == VerimapEmbeddings().embed_documents(TEXTS[:3])
    assert rows(token_file) == 3
    await embeddings.aembed_query(QUERY)
    assert rows(token_file) == 3


def test_compressor_reads_what_the_embeddings_wrote(token_file, cache, verifier):
    VerimapEmbeddings(token_file=str(token_file)).embed_documents(TEXTS)
    assert rows(token_file) == len(TEXTS)

    # Baseline: a fresh process without the file (memory cleared, file detached) encodes every document.
    cache.detach(token_file)
    cache.clear()
    plain = StructuralVerifierCompressor(top_n=None)
    assert plain.active_verifier is verifier
    before = cache.stats()["disk_hits"]
    want = plain.compress_documents(docs(), QUERY)
    assert cache.stats()["disk_hits"] == before

    # A fresh process with the file: every document is read from it, the query is encoded.
    cache.clear()
    warm = StructuralVerifierCompressor(top_n=None, token_file=str(token_file))
    stats = cache.stats()
    got = warm.compress_documents(docs(), QUERY)
    after = cache.stats()
    assert token_file.resolve() in cache.paths
    assert after["disk_hits"] - stats["disk_hits"] == len(TEXTS)
    assert after["misses"] - stats["misses"] == 1  # only the query
    assert scored(got) == scored(want)  # exactly the same scores and order
    assert [d.page_content for d in got] == [d.page_content for d in want]

    # Warm in memory now: ranking again reads nothing from disk.
    again = warm.compress_documents(docs(), QUERY)
    assert cache.stats()["disk_hits"] == after["disk_hits"]
    assert scored(again) == scored(want)


# Other weights (e.g. a tuned tower, `runs/.../c.safetensors`) go through the same test: their rows are keyed by the
# tower's id, and a compressor of the same weights still encodes only the query.
@pytest.mark.parametrize("weights", [None])
def test_the_file_holds_the_token_vectors_the_verifier_reads(token_file, cache, encoder, weights):
    """The embeddings write through the verifier's view of the encoder: the same vectors as without a token file,
    rows keyed by the verifier's ``encoder_id`` (its tower's, if the weights have one), so a compressor of those
    weights given the file encodes the query and no document."""
    embeddings = VerimapEmbeddings(token_file=str(token_file), weights=weights)
    cache.clear()
    assert embeddings.embed_documents(TEXTS) == VerimapEmbeddings().embed_documents(TEXTS)

    compressor = StructuralVerifierCompressor(top_n=None, token_file=str(token_file), weights=weights)
    view = compressor.active_verifier.encoder
    assert view.cache is cache and view.recall_id == encoder.encoder_id
    with sqlite3.connect(token_file) as conn:
        keys = {key for (key,) in conn.execute("SELECT key FROM tokens")}
    assert keys == {cache_key(view.encoder_id, view.max_length, t) for t in TEXTS}

    cache.clear()  # only the file has the documents now
    before = cache.stats()
    compressor.compress_documents(docs(), QUERY)
    after = cache.stats()
    assert after["misses"] - before["misses"] == 1  # the query, and no document
    assert after["disk_hits"] - before["disk_hits"] == len(TEXTS)


async def test_async_compressor_reads_the_file(token_file, cache):
    VerimapEmbeddings(token_file=str(token_file)).embed_documents(TEXTS)
    cache.detach(token_file)
    cache.clear()
    want = await StructuralVerifierCompressor(top_n=2).acompress_documents(docs(), QUERY)
    cache.clear()
    before = cache.stats()["disk_hits"]
    got = await StructuralVerifierCompressor(top_n=2, token_file=str(token_file)).acompress_documents(docs(), QUERY)
    assert cache.stats()["disk_hits"] - before == len(TEXTS)
    assert scored(got) == scored(want)


def test_an_edited_document_is_encoded_not_served_stale(token_file, cache):
    VerimapEmbeddings(token_file=str(token_file)).embed_documents(TEXTS)
    cache.clear()
    edited = [Document(page_content=TEXTS[0] + " Twice.", id="edited"), *docs()[1:]]
    before = cache.stats()
    got = StructuralVerifierCompressor(top_n=None, token_file=str(token_file)).compress_documents(edited, QUERY)
    after = cache.stats()
    assert after["disk_hits"] - before["disk_hits"] == len(TEXTS) - 1  # the edited text is a new key
    assert after["misses"] - before["misses"] == 2  # the edited text and the query
    cache.detach(token_file)
    cache.clear()
    assert scored(got) == scored(StructuralVerifierCompressor(top_n=None).compress_documents(edited, QUERY))


def chroma(path: Path, embeddings: VerimapEmbeddings):
    import chromadb
    from langchain_chroma import Chroma

    return Chroma(
        collection_name="token-file",
        embedding_function=embeddings,
        persist_directory=str(path),
        client_settings=chromadb.config.Settings(
            anonymized_telemetry=False, is_persistent=True, persist_directory=str(path)
        ),
    )


async def test_chroma_index_then_verified_retriever(tmp_path, token_file, cache):
    """The documented pattern: index into langchain-chroma with a token_file, verify with the same token_file."""
    store = chroma(tmp_path / "chroma", VerimapEmbeddings(token_file=str(token_file)))
    store.add_documents(docs())
    assert rows(token_file) == len(TEXTS)
    store.similarity_search(QUERY, k=2)  # embed_query: nothing written
    assert rows(token_file) == len(TEXTS)

    base = store.as_retriever(search_kwargs={"k": 50})
    cache.detach(token_file)
    cache.clear()
    want = VerifiedRetriever(base_retriever=base, k=3).invoke(QUERY)
    for run in ("sync", "async"):
        cache.clear()
        retriever = VerifiedRetriever(base_retriever=base, k=3, token_file=str(token_file))
        before = cache.stats()["disk_hits"]
        got = retriever.invoke(QUERY) if run == "sync" else await retriever.ainvoke(QUERY)
        assert cache.stats()["disk_hits"] - before == len(TEXTS), run  # every candidate read, none re-encoded
        assert scored(got) == scored(want), run


def test_another_process_indexes_this_one_reads(tmp_path, token_file, cache):
    """A real second process writes the file with langchain-chroma; this process verifies from it."""
    paths = [str(ROOT), str(Path(__file__).parent)]
    script = textwrap.dedent(f"""
        import os, sys
        os.environ["ANONYMIZED_TELEMETRY"] = "False"
        sys.path[:0] = {paths!r}
        from langchain_core.documents import Document
        from langchain_verimap import VerimapEmbeddings
        from test_langchain_token_file import chroma, docs
        store = chroma({str(tmp_path / "chroma")!r}, VerimapEmbeddings(token_file={str(token_file)!r}))
        store.add_documents(docs())
    """)
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    assert rows(token_file) == len(TEXTS)

    base = chroma(tmp_path / "chroma", VerimapEmbeddings()).as_retriever(search_kwargs={"k": 50})
    cache.clear()
    before = cache.stats()["disk_hits"]
    got = VerifiedRetriever(base_retriever=base, k=None, token_file=str(token_file)).invoke(QUERY)
    assert cache.stats()["disk_hits"] - before == len(TEXTS)
    cache.detach(token_file)
    cache.clear()
    assert scored(got) == scored(VerifiedRetriever(base_retriever=base, k=None).invoke(QUERY))


# -- serialisation -------------------------------------------------------------------------------------------------
def test_token_file_round_trips(token_file, verifier):
    compressor = StructuralVerifierCompressor(verifier=verifier, top_n=2, token_file=token_file)
    assert compressor.token_file == str(token_file)
    assert dumpd(compressor)["kwargs"]["token_file"] == str(token_file)
    restored = loads(dumps(compressor), valid_namespaces=NAMESPACES, allowed_objects=[StructuralVerifierCompressor])
    assert (restored.token_file, restored.top_n) == (str(token_file), 2)

    embeddings = VerimapEmbeddings(token_file=str(token_file))
    again = loads(dumps(embeddings), valid_namespaces=NAMESPACES, allowed_objects=[VerimapEmbeddings])
    assert again.token_file == str(token_file)
    again.embed_documents(TEXTS[:1])
    assert rows(token_file) == 1

    # Unset, the key is not written at all (what earlier versions wrote, too).
    assert "token_file" not in dumpd(StructuralVerifierCompressor(verifier=verifier))["kwargs"]
    assert "token_file" not in dumpd(VerimapEmbeddings())["kwargs"]


def test_embeddings_keep_weights(tmp_path, encoder):
    weights = str(tmp_path / "mine.safetensors")  # not loaded: only a token_file needs the verifier
    embeddings = VerimapEmbeddings(weights=Path(weights))  # a Path is stored as a string
    assert embeddings.weights == weights and embeddings.active_encoder is encoder
    assert dumpd(embeddings)["kwargs"]["weights"] == weights
    again = loads(dumps(embeddings), valid_namespaces=NAMESPACES, allowed_objects=[VerimapEmbeddings])
    assert again.weights == weights
    assert "weights" not in dumpd(VerimapEmbeddings())["kwargs"]  # unset: not written (as earlier versions)
    with pytest.raises(ValueError, match="weights"):
        VerimapEmbeddings(encoder=encoder, weights=weights)


def test_retriever_serialises_token_file(chroma_retriever, verifier, token_file):
    data = dumpd(VerifiedRetriever(base_retriever=chroma_retriever, verifier=verifier, token_file=str(token_file)))
    assert data["kwargs"]["token_file"] == str(token_file)


def test_objects_serialised_without_token_file_still_load():
    legacy = {
        StructuralVerifierCompressor: {"top_n": 2, "mode": "fuse", "fuse_prior": "maxsim"},
        VerimapEmbeddings: {"device": "cpu"},
    }
    for cls, kwargs in legacy.items():
        data = json.dumps({"lc": 1, "type": "constructor", "id": ["langchain_verimap", cls.__name__], "kwargs": kwargs})
        restored = loads(data, valid_namespaces=NAMESPACES, allowed_objects=[cls])
        assert isinstance(restored, cls) and restored.token_file is None
        assert load(json.loads(data), valid_namespaces=NAMESPACES, allowed_objects=[cls]).token_file is None


# -- bad files and no cache ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["text", "directory"])
async def test_a_bad_token_file_raises_naming_it(tmp_path, cache, chroma_retriever, kind):
    bad = tmp_path / "notes.txt"
    if kind == "text":
        bad.write_text("These are my notes, not a token cache.\n" * 50)
    else:
        bad.mkdir()
    named = re.escape(str(bad))
    attached = list(cache.paths)

    with pytest.raises(ValueError, match=named):
        VerimapEmbeddings(token_file=str(bad)).embed_documents(TEXTS[:1])
    with pytest.raises(ValueError, match=named):
        await VerimapEmbeddings(token_file=str(bad)).aembed_documents(TEXTS[:1])
    compressor = StructuralVerifierCompressor(token_file=str(bad))  # construction does not touch the file
    with pytest.raises(ValueError, match=named):
        compressor.compress_documents(docs(), QUERY)
    with pytest.raises(ValueError, match=named):
        await compressor.acompress_documents(docs(), QUERY)
    retriever = VerifiedRetriever(base_retriever=chroma_retriever, token_file=str(bad))
    with pytest.raises(ValueError, match=named):
        retriever.invoke(QUERY)
    with pytest.raises(ValueError, match=named):
        await retriever.ainvoke(QUERY)

    assert cache.paths == attached  # nothing half-attached
    if kind == "text":
        assert bad.read_text().startswith("These are my notes")  # and the file is untouched


def test_an_empty_token_file_path_is_refused():
    with pytest.raises(ValueError, match="token_file"):
        VerimapEmbeddings(token_file="")
    with pytest.raises(ValueError, match="token_file"):
        StructuralVerifierCompressor(token_file="  ")


def test_without_a_cache_token_file_is_ignored_with_one_warning(tmp_path, encoder, verifier, caplog, monkeypatch):
    from verimap.cache import default_cache

    monkeypatch.setenv("VERIMAP_TOKEN_CACHE_MB", "0")
    assert default_cache() is None  # what an encoder built under $VERIMAP_TOKEN_CACHE_MB=0 gets
    uncached = encoder.with_cache(None)
    bare = copy.copy(verifier)
    bare.encoder = uncached
    path = tmp_path / "never-written.sqlite"

    with caplog.at_level(logging.WARNING, logger="verimap"):
        embeddings = VerimapEmbeddings(encoder=uncached, token_file=str(path))
        vectors = embeddings.embed_documents(TEXTS)
        embeddings.embed_documents(TEXTS)
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert str(path) in caplog.text and "VERIMAP_TOKEN_CACHE_MB" in caplog.text
    # Encoded every time in fp32 (no cache): the shared (int8-cached) vectors up to rounding.
    assert torch.allclose(torch.tensor(vectors), torch.tensor(VerimapEmbeddings().embed_documents(TEXTS)), atol=1e-3)

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="verimap"):
        compressor = StructuralVerifierCompressor(verifier=bare, token_file=str(path), top_n=None)
        got = compressor.compress_documents(docs(), QUERY)
        compressor.compress_documents(docs(), QUERY)
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "StructuralVerifierCompressor" in caplog.text
    assert [d.id for d in got] == [
        d.id for d in StructuralVerifierCompressor(verifier=bare, top_n=None).compress_documents(docs(), QUERY)
    ]
    assert not path.exists()  # ignored: never created
