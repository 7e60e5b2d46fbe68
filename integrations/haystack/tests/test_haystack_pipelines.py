"""The example pipelines (examples/haystack_indexing.yaml, examples/haystack_query.yaml) and a pipeline holding every
verimap component: YAML round trips with no allowlist argument, and the query pipeline end to end on real Chroma.
The example script itself runs in tests/test_examples.py."""

from __future__ import annotations

import pytest
import yaml
from haystack import Document, Pipeline
from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever
from haystack.utils import ComponentDevice

from haystack_integrations.components.embedders.verimap import VerimapDocumentEmbedder, VerimapTextEmbedder
from haystack_integrations.components.rankers.verimap import StructuralVerifierRanker
from haystack_integrations.components.retrievers.verimap import VerifiedRetriever


@pytest.fixture(scope="module")
def example_chroma(tmp_path_factory, example_yaml, corpus):
    """A Chroma directory filled by the example indexing pipeline, loaded from its YAML."""
    path = str(tmp_path_factory.mktemp("example_chroma"))
    indexing = Pipeline.loads(example_yaml("haystack_indexing.yaml", path))
    written = indexing.run({"embedder": {"documents": [Document(content=t) for t in corpus]}})
    assert written["writer"]["documents_written"] == len(corpus)
    return path


@pytest.fixture(scope="module")
def query_pipeline(example_chroma, example_yaml):
    return Pipeline.loads(example_yaml("haystack_query.yaml", example_chroma))


def normalised(pipeline: Pipeline) -> dict:
    """``to_dict`` without what Haystack itself does not keep stable across loads (connection order)."""
    data = pipeline.to_dict()
    data["connections"] = sorted(data["connections"], key=lambda c: (c["sender"], c["receiver"]))
    return data


def ask(pipeline: Pipeline, question: str, **ranker_args):
    return pipeline.run(
        {
            "text_embedder": {"text": question},
            "ranker": {"query": question, **ranker_args},
            "prompt_builder": {"query": question},
        },
        include_outputs_from={"ranker"},
    )


@pytest.mark.parametrize("name", ["haystack_indexing.yaml", "haystack_query.yaml"])
def test_example_yaml_round_trip(name, example_yaml, tmp_path):
    text = example_yaml(name, str(tmp_path))
    pipeline = Pipeline.loads(text)  # no allowlist argument
    assert normalised(Pipeline.loads(pipeline.dumps())) == normalised(pipeline)
    # the file lists every init parameter of the verimap components, exactly as they serialise them
    written = yaml.safe_load(text)["components"]
    for name, data in normalised(pipeline)["components"].items():
        if ".verimap." in data["type"]:
            assert data == written[name]


def test_query_pipeline_wiring(query_pipeline):
    question = "Did the dog bite the man?"
    result = ask(query_pipeline, question, score_threshold=0.0)
    kept = result["ranker"]["documents"]
    assert len(kept) == 3  # the ranker's top_k from haystack_query.yaml
    assert all(d.meta["retriever_score"] is not None for d in kept)  # Chroma's distance, kept aside
    prompt = result["prompt_builder"]["prompt"]
    assert question in prompt and all(d.content in prompt for d in kept)
    assert result["ranker"]["rejected"] == []  # threshold 0.0: nothing under it


def test_query_pipeline_default_fuses_and_drops_nothing(query_pipeline, verifier, corpus):
    ranker = query_pipeline.get_component("ranker")
    assert (ranker.mode, ranker.fuse_prior, ranker.score_threshold) == ("fuse", "maxsim", None)
    question = "Did the dog bite the man?"
    result = ask(query_pipeline, question)
    kept = result["ranker"]["documents"]
    assert len(kept) == 3 and result["ranker"]["rejected"] == []  # haystack_query.yaml's top_k; nothing set aside
    # the retriever's 10-candidate recall holds the whole corpus: the core's default policy on it gives the same top 3
    assert [d.content for d in kept] == [corpus[r.index] for r in verifier.rank(question, corpus, 3, mode="fuse")]
    assert not all(d.meta["verifier_accepted"] for d in kept)  # verdicts reported, nothing dropped for them
    assert all(d.meta["verifier_accepted"] == (d.meta["verifier_score"] >= verifier.threshold) for d in kept)


def test_old_query_yaml_without_fuse_prior_loads(example_chroma, example_yaml):
    text = example_yaml("haystack_query.yaml", example_chroma)
    old = "\n".join(line for line in text.splitlines() if not line.strip().startswith("fuse_prior:"))
    assert old != text and "fuse_prior: maxsim" not in old
    pipeline = Pipeline.loads(old)
    assert pipeline.get_component("ranker").fuse_prior == "maxsim"
    assert len(ask(pipeline, "Who sold the car to Alice?")["ranker"]["documents"]) == 3


def test_query_pipeline_match_first_near_miss_rejected(query_pipeline, near_miss_case, separating_threshold):
    query, match, miss = near_miss_case
    result = ask(query_pipeline, query, score_threshold=separating_threshold)
    assert [d.content for d in result["ranker"]["documents"]][:1] == [match]
    assert miss in [d.content for d in result["ranker"]["rejected"]]
    assert miss not in result["prompt_builder"]["prompt"]


def test_pipeline_with_every_component_round_trips(memory_store):
    pipe = Pipeline()
    cpu = ComponentDevice.from_str("cpu")
    pipe.add_component("doc_embedder", VerimapDocumentEmbedder(device=cpu, meta_fields_to_embed=["title"]))
    pipe.add_component("text_embedder", VerimapTextEmbedder(device=cpu, prefix="q: "))
    pipe.add_component("retriever", InMemoryEmbeddingRetriever(document_store=memory_store))
    pipe.add_component("ranker", StructuralVerifierRanker(device=cpu, mode="fuse", score_threshold=0.2))
    pipe.add_component(
        "verified", VerifiedRetriever(retriever=InMemoryEmbeddingRetriever(document_store=memory_store), device=cpu)
    )
    pipe.connect("text_embedder.embedding", "retriever.query_embedding")
    pipe.connect("retriever.documents", "ranker.documents")
    text = pipe.dumps()
    loaded = Pipeline.loads(text)  # no allowlist argument
    assert normalised(loaded) == normalised(pipe)
    assert loaded.get_component("ranker").device.to_torch_str() == "cpu"
    assert isinstance(loaded.get_component("verified").retriever, InMemoryEmbeddingRetriever)


async def test_pipeline_run_async_equals_run(memory_store):
    def build():
        pipe = Pipeline()
        pipe.add_component("embedder", VerimapTextEmbedder())
        pipe.add_component("retriever", InMemoryEmbeddingRetriever(document_store=memory_store, top_k=5))
        pipe.add_component("ranker", StructuralVerifierRanker(top_k=3))
        pipe.connect("embedder.embedding", "retriever.query_embedding")
        pipe.connect("retriever.documents", "ranker.documents")
        return pipe

    q = "Who sold the car to Alice?"
    data = {"embedder": {"text": q}, "ranker": {"query": q}}
    assert await build().run_async(data) == build().run(data)  # run_async drives the components' run_async
