"""``token_file``: the embedder writes indexed texts' token vectors to an SQLite file, and the ranker / verified
retriever read them from it (in this process or a later one) instead of encoding the documents again.

Real components, the real encoder, files under ``tmp_path``. Every test detaches the files it attached (the
``token_file`` fixture), so the process-wide encoder cache reads through no file of theirs afterwards.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from haystack import Document, Pipeline
from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever
from haystack.document_stores.in_memory import InMemoryDocumentStore
from haystack.utils import ComponentDevice

from haystack_integrations.common.verimap import document_text
from haystack_integrations.components.embedders.verimap import VerimapDocumentEmbedder
from haystack_integrations.components.rankers.verimap import StructuralVerifierRanker
from haystack_integrations.components.retrievers.verimap import VerifiedRetriever
from verimap.cache import cache_key

CPU = ComponentDevice.from_str("cpu")  # the device of the session `encoder` fixture: the components share it
QUERY = "Did the dog bite the man?"
REPO = Path(__file__).resolve().parents[1]  # integrations/haystack


@pytest.fixture()
def token_file(tmp_path, encoder):
    path = tmp_path / "tokens.sqlite"
    yield str(path)
    if encoder.cache is not None:
        encoder.cache.detach(path)


@pytest.fixture()
def corpus_docs(corpus) -> list[Document]:
    """The corpus with a title no other test uses, so no other token file in this process holds these texts."""
    title = f"case {uuid.uuid4().hex}"
    return [Document(content=text, meta={"title": title}) for text in corpus]


def rows(path: str | Path) -> int:
    with sqlite3.connect(str(path)) as conn:
        return conn.execute("SELECT COUNT(*) FROM tokens").fetchone()[0]


def summary(out: dict[str, list[Document]]) -> dict[str, list[tuple]]:
    return {k: [(d.id, d.score, d.meta) for d in docs] for k, docs in out.items()}


def disk_hits(encoder) -> int:
    return encoder.cache.stats()["disk_hits"]


def embed(docs: list[Document], token_file: str | None, **kwargs) -> list[Document]:
    embedder = VerimapDocumentEmbedder(
        device=CPU, progress_bar=False, meta_fields_to_embed=["title"], token_file=token_file, **kwargs
    )
    return embedder.run(documents=docs)["documents"]


def rank(docs: list[Document], token_file: str | None, **kwargs) -> dict[str, list[Document]]:
    ranker = StructuralVerifierRanker(
        device=CPU, top_k=None, meta_fields_to_embed=["title"], token_file=token_file, **kwargs
    )
    return ranker.run(query=QUERY, documents=docs)


# -- the warm path ----------------------------------------------------------------------------------------------------
def test_embedder_writes_the_file_and_the_ranker_reads_it(token_file, corpus_docs, encoder):
    assert encoder.cache is not None, "these tests need the default token cache ($VERIMAP_TOKEN_CACHE_MB unset)"
    embedded = embed(corpus_docs, token_file)
    assert rows(token_file) == len(corpus_docs)
    assert Path(token_file).resolve() in encoder.cache.paths

    # Cold baseline: the file detached and the memory tier emptied, so every document is encoded again.
    encoder.cache.detach(token_file)
    encoder.cache.clear()
    start = disk_hits(encoder)
    cold = rank(embedded, None)
    assert disk_hits(encoder) == start  # no other file holds these texts

    # Warm: a ranker given the file reads each document from it, and scores exactly as without it.
    encoder.cache.clear()
    ranker = StructuralVerifierRanker(device=CPU, top_k=None, meta_fields_to_embed=["title"], token_file=token_file)
    ranker.warm_up()
    assert ranker.verifier.encoder.cache is encoder.cache
    start = disk_hits(encoder)
    warm = ranker.run(query=QUERY, documents=embedded)
    assert disk_hits(encoder) - start == len(embedded)
    assert warm == cold
    assert [d.meta["verifier_score"] for d in warm["documents"]] == [
        d.meta["verifier_score"] for d in cold["documents"]
    ]
    assert rows(token_file) == len(corpus_docs)  # reading (and the query) never grows the file


# Other weights (e.g. a tuned tower, `runs/.../c.safetensors`) go through the same test: their rows are keyed by the
# tower's id, and a ranker of the same weights still encodes only the query.
@pytest.mark.parametrize("weights", [None])
def test_the_file_holds_the_token_vectors_the_verifier_reads(token_file, corpus_docs, encoder, weights):
    """The embedder writes through the verifier's view of the encoder: the same embeddings as without a token file,
    rows keyed by the verifier's ``encoder_id`` (its tower's, if the weights have one), so a ranker of those weights
    given the file encodes the query and no candidate."""
    embedded = embed(corpus_docs, token_file, weights=weights)
    plain = embed(corpus_docs, None)  # the stock encoder: the embeddings do not depend on the weights
    assert [d.embedding for d in embedded] == [d.embedding for d in plain]

    ranker = StructuralVerifierRanker(
        device=CPU, top_k=None, meta_fields_to_embed=["title"], token_file=token_file, weights=weights
    )
    ranker.warm_up()
    view = ranker.verifier.encoder
    assert view.cache is encoder.cache and view.recall_id == encoder.encoder_id
    texts = [document_text(d, meta_fields_to_embed=["title"], embedding_separator="\n") for d in corpus_docs]
    with sqlite3.connect(token_file) as conn:
        keys = {key for (key,) in conn.execute("SELECT key FROM tokens")}
    assert keys == {cache_key(view.encoder_id, view.max_length, t) for t in texts}

    encoder.cache.clear()  # only the file has the candidates now
    before = encoder.cache.stats()
    ranker.run(query=QUERY, documents=embedded)
    after = encoder.cache.stats()
    assert after["misses"] - before["misses"] == 1  # the query, and no candidate
    assert after["disk_hits"] - before["disk_hits"] == len(embedded)


def test_a_later_process_reads_what_the_embedder_wrote(token_file, corpus_docs, encoder):
    """The embedder runs in a child process; this process's ranker reads the file it left behind."""
    script = textwrap.dedent(
        """
        import json, sys
        from haystack import Document
        from haystack.utils import ComponentDevice
        from haystack_integrations.components.embedders.verimap import VerimapDocumentEmbedder

        docs = [Document.from_dict(d) for d in json.loads(sys.stdin.read())]
        embedder = VerimapDocumentEmbedder(device=ComponentDevice.from_str("cpu"), progress_bar=False,
                                           meta_fields_to_embed=["title"], token_file=sys.argv[1])
        out = embedder.run(documents=docs)["documents"]
        print(json.dumps([d.to_dict() for d in out]))
        """
    )
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "HAYSTACK_TELEMETRY_ENABLED": "False"}
    env.pop("VERIMAP_TOKEN_CACHE_MB", None)
    child = subprocess.run(
        [sys.executable, "-c", script, token_file],
        input=json.dumps([d.to_dict() for d in corpus_docs]),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env=env,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    embedded = [Document.from_dict(d) for d in json.loads(child.stdout.strip().splitlines()[-1])]
    assert rows(token_file) == len(corpus_docs)

    encoder.cache.clear()
    cold = rank(embedded, None)
    encoder.cache.clear()
    start = disk_hits(encoder)
    warm = rank(embedded, token_file)
    assert disk_hits(encoder) - start == len(embedded)
    assert warm == cold


def test_only_the_embedded_text_hits(token_file, corpus_docs, encoder):
    """Another document text (a prefix the embedder did not use, an edited content) is a miss, never stale."""
    embedded = embed(corpus_docs, token_file)
    encoder.cache.detach(token_file)
    encoder.cache.clear()
    cold_prefixed = rank(embedded, None, document_prefix="passage: ")
    edited = [
        Document(id=d.id, content=d.content.replace(".", " today."), meta=d.meta, embedding=d.embedding)
        for d in embedded
    ]
    cold_edited = rank(edited, None)

    encoder.cache.clear()
    start = disk_hits(encoder)
    assert rank(embedded, token_file, document_prefix="passage: ") == cold_prefixed
    assert rank(edited, token_file) == cold_edited
    assert disk_hits(encoder) == start

    # The embedder's prefix as the ranker's document_prefix: the same texts, so they hit.
    prefixed = embed(corpus_docs, token_file, prefix="passage: ")
    encoder.cache.clear()
    start = disk_hits(encoder)
    scored = rank(prefixed, token_file, document_prefix="passage: ")  # (other embeddings: compare scores)
    assert summary(scored) == summary(cold_prefixed)
    assert disk_hits(encoder) - start == len(prefixed)


def test_verified_retriever_reads_the_file(token_file, corpus_docs, encoder):
    store = InMemoryDocumentStore()
    store.write_documents(embed(corpus_docs, token_file))
    encoder.cache.detach(token_file)

    def retriever(path):
        return VerifiedRetriever(
            retriever=InMemoryEmbeddingRetriever(document_store=store),
            device=CPU,
            recall_k=len(corpus_docs),
            top_k=None,
            meta_fields_to_embed=["title"],
            token_file=path,
        )

    encoder.cache.clear()
    start = disk_hits(encoder)
    cold = retriever(None).run(query=QUERY)
    assert disk_hits(encoder) == start
    encoder.cache.clear()
    warm_retriever = retriever(token_file)
    warm_retriever.warm_up()
    start = disk_hits(encoder)
    warm = warm_retriever.run(query=QUERY)
    assert disk_hits(encoder) - start == len(corpus_docs)  # every candidate; the query is encoded
    assert warm == cold


def test_deleting_the_file_is_safe(token_file, corpus_docs, encoder):
    embedded = embed(corpus_docs, token_file)
    encoder.cache.detach(token_file)
    encoder.cache.clear()
    cold = rank(embedded, None)
    for suffix in ("", "-wal", "-shm"):
        Path(token_file + suffix).unlink(missing_ok=True)
    encoder.cache.clear()
    start = disk_hits(encoder)
    assert rank(embedded, token_file) == cold  # a new, empty file: everything encoded again, same scores
    assert disk_hits(encoder) == start and rows(token_file) == 0
    embed(corpus_docs, token_file)  # re-indexing fills it again
    assert rows(token_file) == len(corpus_docs)


# -- errors and the no-cache case ------------------------------------------------------------------------------------
def test_a_file_that_is_not_a_token_file_is_named(tmp_path, memory_store, encoder):
    bad = tmp_path / "notes.txt"
    bad.write_text("not a database\n" * 20)
    before = bad.read_bytes()
    components = [
        VerimapDocumentEmbedder(device=CPU, progress_bar=False, token_file=str(bad)),
        StructuralVerifierRanker(device=CPU, token_file=str(bad)),
        VerifiedRetriever(
            retriever=InMemoryEmbeddingRetriever(document_store=memory_store), device=CPU, token_file=str(bad)
        ),
    ]
    for component in components:
        name = type(component).__name__
        with pytest.raises(ValueError, match=f"{name}: token_file .*notes.txt.* not a verimap token"):
            component.warm_up()
    with pytest.raises(ValueError, match="notes.txt"):  # still cold: the first run fails the same way
        components[0].run(documents=[Document(content="The dog bit the man.")])
    with pytest.raises(ValueError, match="notes.txt"):
        components[1].run(query=QUERY, documents=[Document(content="The dog bit the man.")])
    with pytest.raises(ValueError, match="notes.txt"):
        components[2].run(query=QUERY)
    assert bad.read_bytes() == before and Path(bad).resolve() not in encoder.cache.paths
    with pytest.raises(ValueError, match=str(tmp_path)):  # a directory is no token file either
        StructuralVerifierRanker(device=CPU, token_file=str(tmp_path)).warm_up()


@pytest.mark.parametrize("value, error", [(123, TypeError), ("", ValueError), ("  ", ValueError)])
def test_bad_token_file_arguments(value, error, memory_store):
    with pytest.raises(error, match="token_file"):
        VerimapDocumentEmbedder(token_file=value)
    with pytest.raises(error, match="token_file"):
        StructuralVerifierRanker(token_file=value)
    with pytest.raises(error, match="token_file"):
        VerifiedRetriever(retriever=InMemoryEmbeddingRetriever(document_store=memory_store), token_file=value)


def test_path_objects_are_stored_as_strings(tmp_path):
    path = tmp_path / "tokens.sqlite"
    assert VerimapDocumentEmbedder(token_file=path).to_dict()["init_parameters"]["token_file"] == str(path)
    assert StructuralVerifierRanker(token_file=path).token_file == str(path)


def test_without_a_token_cache_the_file_is_ignored_with_one_warning(
    tmp_path, corpus_docs, encoder, verifier, monkeypatch, caplog, memory_store
):
    """``$VERIMAP_TOKEN_CACHE_MB=0`` gives encoders no cache; the shared one is made cacheless the same way."""
    expected = rank(embed(corpus_docs, None), None)
    monkeypatch.setattr(encoder, "cache", None)
    monkeypatch.setattr(verifier.encoder, "cache", None)  # the verifier's view, when the weights have a tower
    path = tmp_path / "tokens.sqlite"
    caplog.set_level(logging.WARNING)
    embedder = VerimapDocumentEmbedder(
        device=CPU, progress_bar=False, meta_fields_to_embed=["title"], token_file=str(path)
    )
    ranker = StructuralVerifierRanker(device=CPU, top_k=None, meta_fields_to_embed=["title"], token_file=str(path))
    retriever = VerifiedRetriever(
        retriever=InMemoryEmbeddingRetriever(document_store=memory_store), device=CPU, token_file=str(path)
    )
    for _ in range(2):
        embedded = embedder.run(documents=corpus_docs)["documents"]
        out = ranker.run(query=QUERY, documents=embedded)
        assert retriever.run(query=QUERY)["documents"]
    warnings = [r.getMessage() for r in caplog.records if "token_file" in r.getMessage()]
    assert len(warnings) == 3, warnings  # one per component
    assert sorted(w.split(":")[0] for w in warnings) == [
        "StructuralVerifierRanker",
        "VerifiedRetriever",
        "VerimapDocumentEmbedder",
    ]
    assert all("ignored" in w and "VERIMAP_TOKEN_CACHE_MB" in w and str(path) in w for w in warnings)
    assert not path.exists()
    # Without a cache the encoder returns fp32 vectors (not int8): close to, not equal to, the cached scores.
    want = {d.id: d.meta["verifier_score"] for d in expected["documents"]}
    got = {d.id: d.meta["verifier_score"] for d in out["documents"]}
    assert got.keys() == want.keys()
    assert all(got[k] == pytest.approx(want[k], abs=0.05) for k in want)


# -- serialisation ----------------------------------------------------------------------------------------------------
def test_the_embedder_keeps_weights(tmp_path):
    """``weights`` (whose token vectors the file gets) round-trips like the ranker's; saved before it existed: shipped."""
    weights = str(tmp_path / "mine.safetensors")  # not loaded: only warm_up with a token_file loads it
    embedder = VerimapDocumentEmbedder(token_file=str(tmp_path / "tokens.sqlite"), weights=weights)
    data = embedder.to_dict()
    assert data["init_parameters"]["weights"] == weights
    restored = VerimapDocumentEmbedder.from_dict(data)
    assert restored.weights == weights and restored.to_dict() == data
    old = {**data, "init_parameters": {k: v for k, v in data["init_parameters"].items() if k != "weights"}}
    assert VerimapDocumentEmbedder.from_dict(old).weights is None
    assert VerimapDocumentEmbedder().to_dict()["init_parameters"]["weights"] is None


def test_to_dict_from_dict_keep_token_file(memory_store, tmp_path):
    path = str(tmp_path / "tokens.sqlite")
    components = [
        VerimapDocumentEmbedder(token_file=path),
        StructuralVerifierRanker(token_file=path),
        VerifiedRetriever(retriever=InMemoryEmbeddingRetriever(document_store=memory_store), token_file=path),
    ]
    for component in components:
        data = component.to_dict()
        assert data["init_parameters"]["token_file"] == path
        restored = type(component).from_dict(data)
        assert restored.token_file == path and restored.to_dict() == data
        old = {**data, "init_parameters": {k: v for k, v in data["init_parameters"].items() if k != "token_file"}}
        assert type(component).from_dict(old).token_file is None  # saved before token_file existed
    assert VerimapDocumentEmbedder().to_dict()["init_parameters"]["token_file"] is None
    assert StructuralVerifierRanker().to_dict()["init_parameters"]["token_file"] is None
    assert VerifiedRetriever(retriever=InMemoryEmbeddingRetriever(document_store=memory_store)).token_file is None
    assert components[2]._ranker.token_file == path
    assert VerifiedRetriever.from_dict(components[2].to_dict())._ranker.token_file == path


def test_pipeline_yaml_keeps_token_file(memory_store, tmp_path, encoder):
    path = str(tmp_path / "tokens.sqlite")
    pipe = Pipeline()
    pipe.add_component("embedder", VerimapDocumentEmbedder(device=CPU, progress_bar=False, token_file=path))
    pipe.add_component("ranker", StructuralVerifierRanker(device=CPU, token_file=path))
    pipe.add_component(
        "retriever",
        VerifiedRetriever(
            retriever=InMemoryEmbeddingRetriever(document_store=memory_store), device=CPU, token_file=path
        ),
    )
    text = pipe.dumps()
    assert text.count(f"token_file: {path}") == 3
    loaded = Pipeline.loads(text)  # no allowlist argument
    assert loaded.dumps() == text
    for name in ("embedder", "ranker", "retriever"):
        assert loaded.get_component(name).token_file == path
    old = Pipeline.loads(text.replace(f"      token_file: {path}\n", ""))  # YAML saved before token_file existed
    assert all(old.get_component(n).token_file is None for n in ("embedder", "ranker", "retriever"))
    try:  # the loaded embedder writes where the YAML says
        loaded.get_component("embedder").run(documents=[Document(content=f"A dog {uuid.uuid4().hex}.")])
        assert rows(path) == 1
    finally:
        encoder.cache.detach(path)
