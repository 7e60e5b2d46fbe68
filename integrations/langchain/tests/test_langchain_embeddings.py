"""VerimapEmbeddings: offline pooled vectors, usable by Chroma, on the same encoder as the verifier."""

from __future__ import annotations

import math

import pytest
import torch

from langchain_verimap import StructuralVerifierCompressor, VerifiedRetriever, VerimapEmbeddings, get_verifier


def test_vectors_are_the_encoders_pooled_vectors(lc_embeddings, encoder):
    texts = ["The dog bit the man.", "Interest rates rose.", ""]
    vectors = lc_embeddings.embed_documents(texts)
    assert len(vectors) == 3 and all(len(v) == 384 for v in vectors)
    assert all(math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, rel_tol=1e-4) for v in vectors)
    assert torch.allclose(torch.tensor(vectors), encoder.pooled(texts), atol=1e-6)
    assert lc_embeddings.embed_query(texts[0]) == pytest.approx(vectors[0], abs=1e-6)
    assert lc_embeddings.embed_documents([]) == []


async def test_async_equals_sync(lc_embeddings):
    texts = ["The dog bit the man.", "The man bit the dog."]
    got, want = await lc_embeddings.aembed_documents(texts), lc_embeddings.embed_documents(texts)
    assert torch.allclose(torch.tensor(got), torch.tensor(want), atol=1e-6)
    assert await lc_embeddings.aembed_query(texts[0]) == pytest.approx(lc_embeddings.embed_query(texts[0]), abs=1e-6)


def test_chroma_finds_a_document_by_its_own_text(chroma_store, corpus):
    for doc in corpus:
        (hit,) = chroma_store.similarity_search(doc.page_content, k=1)
        assert hit.id == doc.id


def test_bad_input(lc_embeddings, encoder):
    with pytest.raises(TypeError):
        lc_embeddings.embed_documents("one string")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="encoder"):
        VerimapEmbeddings(encoder=encoder, device="cpu")


def test_default_components_share_one_encoder(chroma_retriever):
    embeddings = VerimapEmbeddings()
    compressor = StructuralVerifierCompressor()
    retriever = VerifiedRetriever(base_retriever=chroma_retriever)
    assert compressor.active_verifier is retriever.active_verifier is get_verifier()
    reader = compressor.active_verifier.encoder  # the verifier's view of the shared encoder (its tower's vectors)
    assert reader.model is embeddings.active_encoder.model and reader.cache is embeddings.active_encoder.cache
    assert VerimapEmbeddings(device=torch.device("cpu")).active_encoder is embeddings.active_encoder
