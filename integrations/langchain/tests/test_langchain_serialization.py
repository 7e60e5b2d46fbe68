"""Round trips through langchain_core.load (dumpd / dumps -> load / loads with an explicit allowlist)."""

from __future__ import annotations

import json
import warnings

import pytest
from langchain_core.documents import Document
from langchain_core.load import dumpd, dumps, load, loads

from langchain_verimap import StructuralVerifierCompressor, VerifiedRetriever, VerimapEmbeddings

NAMESPACES = ["langchain_verimap"]
ALLOWED = [StructuralVerifierCompressor, VerimapEmbeddings, VerifiedRetriever]


@pytest.fixture(autouse=True)
def _quiet_beta():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is in beta.*")
        yield


def test_compressor_round_trip(verifier):
    original = StructuralVerifierCompressor(
        verifier=verifier, top_n=2, score_threshold=0.25, mode="fuse", return_rejected=True
    )
    data = dumpd(original)
    assert data["id"] == ["langchain_verimap", "StructuralVerifierCompressor"]
    assert "verifier" not in data["kwargs"]  # a live model is never serialised
    for restored in (
        load(data, valid_namespaces=NAMESPACES, allowed_objects=ALLOWED),
        loads(dumps(original), valid_namespaces=NAMESPACES, allowed_objects=[StructuralVerifierCompressor]),
    ):
        assert isinstance(restored, StructuralVerifierCompressor)
        assert (restored.top_n, restored.score_threshold, restored.mode, restored.return_rejected) == (
            2,
            0.25,
            "fuse",
            True,
        )
        docs = [Document("The man bit the dog.", id="a"), Document("The dog bit the man.", id="b")]
        got = restored.compress_documents(docs, "Did the dog bite the man?")
        want = original.compress_documents(docs, "Did the dog bite the man?")
        assert [d.id for d in got] == [d.id for d in want]
        assert [d.metadata["relevance_score"] for d in got] == pytest.approx(
            [d.metadata["relevance_score"] for d in want], abs=1e-5
        )


QUERY = "Did the dog bite the man?"
SCORED = [  # incoming scores that disagree with MaxSim, so the two fuse priors order differently
    Document("The dog bit the man.", id="true-match", metadata={"relevance_score": 0.0}),
    Document("The man bit the dog.", id="near-miss", metadata={"relevance_score": 1.0}),
    Document("Dogs bark at strangers.", id="bark", metadata={"relevance_score": 0.5}),
]


def ids(compressor: StructuralVerifierCompressor) -> list[str]:
    return [d.id for d in compressor.compress_documents(SCORED, QUERY)]


@pytest.mark.parametrize("fuse_prior", ["maxsim", "retriever"])
def test_fuse_prior_round_trips(verifier, fuse_prior):
    original = StructuralVerifierCompressor(verifier=verifier, fuse_prior=fuse_prior, top_n=None)
    data = dumpd(original)
    assert data["kwargs"]["fuse_prior"] == fuse_prior and data["kwargs"]["mode"] == "fuse"
    for restored in (
        load(data, valid_namespaces=NAMESPACES, allowed_objects=ALLOWED),
        loads(dumps(original), valid_namespaces=NAMESPACES, allowed_objects=[StructuralVerifierCompressor]),
    ):
        assert (restored.mode, restored.fuse_prior, restored.score_threshold) == ("fuse", fuse_prior, None)
        assert ids(restored) == ids(original)
    assert ids(StructuralVerifierCompressor(verifier=verifier, fuse_prior="maxsim", top_n=None)) != ids(
        StructuralVerifierCompressor(verifier=verifier, fuse_prior="retriever", top_n=None)
    )


def test_objects_serialised_before_fuse_prior_still_load(verifier):
    # What the previous version wrote: no "fuse_prior" key (and "mode" always present, as it is a non-empty string).
    for mode in ("rerank", "filter", "fuse"):
        legacy = json.dumps(
            {
                "lc": 1,
                "type": "constructor",
                "id": ["langchain_verimap", "StructuralVerifierCompressor"],
                "kwargs": {"top_n": 2, "mode": mode, "score_threshold": 0.25, "return_rejected": True},
            }
        )
        restored = loads(legacy, valid_namespaces=NAMESPACES, allowed_objects=[StructuralVerifierCompressor])
        assert (restored.top_n, restored.mode, restored.score_threshold, restored.return_rejected) == (
            2,
            mode,
            0.25,
            True,
        )
        assert restored.fuse_prior == "maxsim"  # the new default prior
        current = dumpd(
            StructuralVerifierCompressor(
                verifier=verifier, top_n=2, mode=mode, score_threshold=0.25, return_rejected=True
            )
        )
        del current["kwargs"]["fuse_prior"]
        again = load(current, valid_namespaces=NAMESPACES, allowed_objects=ALLOWED)
        assert (again.mode, again.fuse_prior) == (mode, "maxsim")
        assert again.compress_documents(SCORED, QUERY) == restored.compress_documents(SCORED, QUERY)


def test_embeddings_round_trip(lc_embeddings):
    data = dumpd(lc_embeddings)
    assert data["id"] == ["langchain_verimap", "VerimapEmbeddings"]
    restored = load(data, valid_namespaces=NAMESPACES, allowed_objects=[VerimapEmbeddings])
    assert isinstance(restored, VerimapEmbeddings)
    assert restored.embed_query("hello") == pytest.approx(lc_embeddings.embed_query("hello"), abs=1e-5)


def test_the_namespace_and_allowlist_are_enforced(verifier):
    data = dumpd(StructuralVerifierCompressor(verifier=verifier))
    with pytest.raises(ValueError, match="not allowed"):
        load(data, valid_namespaces=NAMESPACES, allowed_objects=[VerimapEmbeddings])
    with pytest.raises(ValueError, match="namespace"):
        load(data, allowed_objects=[StructuralVerifierCompressor])


def test_retriever_serialises_its_settings(chroma_retriever, verifier):
    retriever = VerifiedRetriever(base_retriever=chroma_retriever, verifier=verifier, k=2, mode="filter")
    data = dumpd(retriever)
    assert VerifiedRetriever.is_lc_serializable()
    assert data["id"] == ["langchain_verimap", "VerifiedRetriever"]
    assert data["kwargs"]["k"] == 2 and data["kwargs"]["mode"] == "filter"
    fused = dumpd(VerifiedRetriever(base_retriever=chroma_retriever, verifier=verifier, fuse_prior="retriever"))
    assert fused["kwargs"]["mode"] == "fuse" and fused["kwargs"]["fuse_prior"] == "retriever"
    # A vector-store retriever is not serialisable in LangChain, so neither is a retriever wrapping one.
    assert data["kwargs"]["base_retriever"]["type"] == "not_implemented"
    with pytest.raises(NotImplementedError):
        load(data, valid_namespaces=NAMESPACES, allowed_objects=ALLOWED)
