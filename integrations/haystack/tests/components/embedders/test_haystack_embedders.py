"""VerimapDocumentEmbedder / VerimapTextEmbedder: real bundled encoder, offline."""

from __future__ import annotations

import copy

import pytest
import torch
from haystack import Document, Pipeline
from haystack.utils import ComponentDevice

from haystack_integrations.components.embedders.verimap import VerimapDocumentEmbedder, VerimapTextEmbedder


@pytest.fixture(scope="module")
def doc_embedder():
    embedder = VerimapDocumentEmbedder(progress_bar=False)
    embedder.warm_up()
    return embedder


@pytest.fixture(scope="module")
def text_embedder():
    embedder = VerimapTextEmbedder()
    embedder.warm_up()
    return embedder


def test_text_embedder_is_the_encoders_pooled_vector(text_embedder, encoder):
    out = text_embedder.run(text="Did the dog bite the man?")
    assert isinstance(out["embedding"], list) and len(out["embedding"]) == encoder.dim
    expected = encoder.pooled(["Did the dog bite the man?"])[0]
    assert torch.allclose(torch.tensor(out["embedding"]), expected, atol=1e-5)
    assert out["meta"]["model"] == encoder.encoder_id


def test_text_embedder_prefix_suffix(encoder):
    out = VerimapTextEmbedder(prefix="query: ", suffix=" ?").run(text="dog bites man")
    assert torch.allclose(torch.tensor(out["embedding"]), encoder.pooled(["query: dog bites man ?"])[0], atol=1e-5)


def test_text_embedder_refuses_documents(text_embedder):
    with pytest.raises(TypeError):
        text_embedder.run(text=[Document(content="x")])


def test_document_embedder_sets_embeddings_without_mutating(doc_embedder, encoder):
    inputs = [Document(content="The dog bit the man.", meta={"a": 1}), Document(content="The man bit the dog.")]
    before = copy.deepcopy(inputs)
    out = doc_embedder.run(documents=inputs)
    assert inputs == before and all(d.embedding is None for d in inputs)
    assert [d.id for d in out["documents"]] == [d.id for d in inputs]
    expected = encoder.pooled([d.content for d in inputs])
    for doc, vec in zip(out["documents"], expected):
        assert len(doc.embedding) == encoder.dim
        assert torch.allclose(torch.tensor(doc.embedding), vec, atol=1e-5)
    assert out["documents"][0].meta == {"a": 1}


def test_document_embedder_batches_give_the_same_vectors(encoder):
    texts = [f"Sentence number {i} about dogs and men." for i in range(7)]
    small = VerimapDocumentEmbedder(batch_size=2, progress_bar=False).run(
        documents=[Document(content=t) for t in texts]
    )
    big = VerimapDocumentEmbedder(batch_size=64, progress_bar=False).run(documents=[Document(content=t) for t in texts])
    for a, b in zip(small["documents"], big["documents"]):
        assert torch.allclose(torch.tensor(a.embedding), torch.tensor(b.embedding), atol=1e-5)


def test_document_embedder_meta_fields_prefix_suffix(encoder):
    embedder = VerimapDocumentEmbedder(
        meta_fields_to_embed=["title", "missing"],
        embedding_separator=" | ",
        prefix="passage: ",
        suffix="!",
        progress_bar=False,
    )
    doc = Document(content="The dog bit the man.", meta={"title": "News"})
    out = embedder.run(documents=[doc])["documents"][0]
    expected = encoder.pooled(["passage: News | The dog bit the man.!"])[0]
    assert torch.allclose(torch.tensor(out.embedding), expected, atol=1e-5)


def test_document_embedder_leaves_documents_without_text_unembedded(doc_embedder):
    inputs = [Document(content=None, meta={"k": 1}), Document(content=" "), Document(content="The dog bit the man.")]
    out = doc_embedder.run(documents=inputs)["documents"]
    assert len(out) == 3
    assert out[0].embedding is None and out[1].embedding is None and out[2].embedding is not None
    assert out[0].meta == {"k": 1}
    assert doc_embedder.run(documents=[])["documents"] == []


def test_document_embedder_refuses_strings(doc_embedder):
    with pytest.raises(TypeError):
        doc_embedder.run(documents=["a string"])


@pytest.mark.parametrize("cls", [VerimapDocumentEmbedder, VerimapTextEmbedder])
def test_embedders_round_trip(cls):
    component = cls(device=ComponentDevice.from_str("cpu"), prefix="p", suffix="s", batch_size=8, progress_bar=False)
    data = component.to_dict()
    assert data["init_parameters"]["device"] == {"type": "single", "device": "cpu"}
    restored = cls.from_dict(data)
    assert restored.to_dict() == data and restored.device.to_torch_str() == "cpu"
    pipe = Pipeline()
    pipe.add_component("embedder", cls())
    assert Pipeline.loads(pipe.dumps()).dumps() == pipe.dumps()
