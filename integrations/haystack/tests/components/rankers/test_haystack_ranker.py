"""StructuralVerifierRanker: real model, no mocks."""

from __future__ import annotations

import copy

import pytest
from haystack import Document, Pipeline
from haystack.utils import ComponentDevice

from haystack_integrations.components.rankers.verimap import StructuralVerifierRanker

QUERY = "Did the dog bite the man?"
TEXTS = ["The man bit the dog.", "The dog bit the man.", "Paris is the capital of France.", "A dog barked at the man."]


def docs(scores=(0.9, 0.8, 0.3, 0.5)) -> list[Document]:
    return [Document(content=t, score=s, meta={"source": f"s{i}"}) for i, (t, s) in enumerate(zip(TEXTS, scores))]


# -- agreement with the core ------------------------------------------------------------------------------------------
def test_scores_are_the_core_verifiers(rerank_ranker, verifier):
    out = rerank_ranker.run(query=QUERY, documents=docs(), score_threshold=0.0)
    expected = dict(zip(TEXTS, verifier.score(QUERY, TEXTS)))
    assert len(out["documents"]) == len(TEXTS) and out["rejected"] == []
    for d in out["documents"]:
        assert d.score == pytest.approx(expected[d.content], abs=1e-5)
        assert d.meta["verifier_score"] == pytest.approx(expected[d.content], abs=1e-5)
    assert [d.score for d in out["documents"]] == sorted((d.score for d in out["documents"]), reverse=True)


def test_default_threshold_is_the_cards_in_rerank_mode(rerank_ranker, verifier):
    out = rerank_ranker.run(query=QUERY, documents=docs())
    assert all(d.meta["verifier_score"] >= verifier.threshold for d in out["documents"])
    assert all(d.meta["verifier_score"] < verifier.threshold for d in out["rejected"])
    assert len(out["documents"]) + len(out["rejected"]) == len(TEXTS)
    assert out["rejected"], "this test needs a document under the card's threshold"


# -- the default policy: fuse with MaxSim, drop nothing ---------------------------------------------------------------
def test_default_is_fuse_with_maxsim_and_drops_nothing(verifier):
    ranker = StructuralVerifierRanker(top_k=None)
    assert (ranker.mode, ranker.fuse_prior, ranker.score_threshold) == ("fuse", "maxsim", None)
    out = ranker.run(query=QUERY, documents=docs())  # incoming scores present: the MaxSim prior ignores them
    expected = verifier.rank(QUERY, TEXTS, mode="fuse")  # the core's own default policy
    assert out["rejected"] == []
    assert [d.content for d in out["documents"]] == [TEXTS[r.index] for r in expected]
    assert [d.score for d in out["documents"]] == pytest.approx([r.score for r in expected], abs=1e-5)
    assert [d.meta["verifier_accepted"] for d in out["documents"]] == [r.accepted for r in expected]
    # nothing dropped even though the verifier rejects some documents at the card's threshold
    assert not all(d.meta["verifier_accepted"] for d in out["documents"]), "need a document the verifier rejects"


def test_default_top_k_still_applies_in_fuse_mode(verifier):
    out = StructuralVerifierRanker(top_k=2).run(query=QUERY, documents=docs())
    expected = verifier.rank(QUERY, TEXTS, 2, mode="fuse")
    assert [d.content for d in out["documents"]] == [TEXTS[r.index] for r in expected] and out["rejected"] == []


def test_explicit_threshold_in_fuse_mode_rejects(ranker, verifier, near_miss_case, separating_threshold):
    query, match, miss = near_miss_case
    texts = [miss, match, *TEXTS[2:]]
    out = ranker.run(query=query, documents=[Document(content=t) for t in texts], score_threshold=separating_threshold)
    assert ranker.mode == "fuse"
    assert miss in [d.content for d in out["rejected"]] and match in [d.content for d in out["documents"]]
    ranking = verifier.rank(query, texts, None, separating_threshold, mode="fuse")
    assert [d.content for d in out["documents"]] == [texts[r.index] for r in ranking.kept]
    assert [d.content for d in out["rejected"]] == [texts[r.index] for r in ranking.rejected]
    assert all(d.meta["verifier_accepted"] is False for d in out["rejected"])
    assert all(d.meta["verifier_accepted"] is True for d in out["documents"])


def test_fuse_prior_retriever_uses_incoming_scores(verifier):
    query, match, miss = "Did the dog bite the man?", "The dog bit the man.", "The man bit the dog."
    texts = [match, miss, "Paris is the capital of France."]
    incoming = [0.1, 0.95, 0.5]  # the retriever strongly prefers the near-miss
    inputs = [Document(content=t, score=s) for t, s in zip(texts, incoming)]
    by_maxsim = StructuralVerifierRanker(top_k=None).run(query=query, documents=inputs)
    by_retriever = StructuralVerifierRanker(top_k=None, fuse_prior="retriever").run(query=query, documents=inputs)
    assert by_maxsim["rejected"] == [] and by_retriever["rejected"] == []
    expected = verifier.rank(query, texts, mode="fuse", prior_scores=incoming)
    assert [d.content for d in by_retriever["documents"]] == [texts[r.index] for r in expected]
    assert [d.score for d in by_retriever["documents"]] == pytest.approx([r.score for r in expected], abs=1e-5)
    assert [d.content for d in by_maxsim["documents"]][0] == match
    assert [d.content for d in by_retriever["documents"]][0] == miss
    # the verifier's own score and verdict do not depend on the prior
    verdicts = {d.content: (d.meta["verifier_score"], d.meta["verifier_accepted"]) for d in by_maxsim["documents"]}
    for d in by_retriever["documents"]:
        assert d.meta["verifier_score"] == pytest.approx(verdicts[d.content][0], abs=1e-6)
        assert d.meta["verifier_accepted"] == verdicts[d.content][1]


@pytest.mark.parametrize("mode", ["fuse", "rerank", "filter"])
@pytest.mark.parametrize("threshold", [None, 0.0, 0.5])
def test_verifier_accepted_is_the_verdict(verifier, mode, threshold):
    ranker = StructuralVerifierRanker(top_k=None, mode=mode)
    out = ranker.run(query=QUERY, documents=[*docs(), Document(content=None)], score_threshold=threshold)
    cut = verifier.threshold if threshold is None else threshold
    with_text = [d for d in out["documents"] + out["rejected"] if d.content]
    assert len(with_text) == len(TEXTS)
    for d in with_text:
        assert type(d.meta["verifier_accepted"]) is bool
        assert d.meta["verifier_accepted"] == (d.meta["verifier_score"] >= cut)
    no_text = out["rejected"][-1]
    assert no_text.content is None and no_text.meta["verifier_accepted"] is False


def test_retriever_score_kept_in_meta(ranker):
    incoming = {d.content: d.score for d in docs()}
    out = ranker.run(query=QUERY, documents=docs(), score_threshold=0.0)
    for d in out["documents"]:
        assert d.meta["retriever_score"] == incoming[d.content]
        assert d.meta["source"].startswith("s")  # other meta survives
    no_score = ranker.run(query=QUERY, documents=[Document(content="The dog bit the man.")], score_threshold=0.0)
    assert "retriever_score" not in no_score["documents"][0].meta


# -- the point of it: near-misses -------------------------------------------------------------------------------------
def test_true_match_first_and_near_miss_rejected(ranker, near_miss_case, separating_threshold):
    query, match, miss = near_miss_case
    out = ranker.run(
        query=query,
        documents=[Document(content=miss, score=0.99), Document(content=match, score=0.98)],
        score_threshold=separating_threshold,
    )
    assert [d.content for d in out["documents"]][:1] == [match]
    assert miss in [d.content for d in out["rejected"]]


# -- policy: threshold before top_k -----------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["rerank", "fuse"])
def test_threshold_is_applied_before_top_k(verifier, mode):
    ranker = StructuralVerifierRanker(top_k=None, mode=mode)
    scores = sorted(verifier.score(QUERY, TEXTS), reverse=True)
    assert len(set(scores)) == len(scores), "need distinct scores for this test"
    between = (scores[1] + scores[2]) / 2  # two accepted, two under the threshold
    out = ranker.run(query=QUERY, documents=docs(), top_k=1, score_threshold=between)
    assert len(out["documents"]) == 1 and out["documents"][0].meta["verifier_score"] >= between
    if mode == "rerank":
        assert [d.score for d in out["documents"]] == [pytest.approx(scores[0])]
    # rejected holds exactly the documents under the threshold, never the one only cut by top_k
    assert sorted(d.meta["verifier_score"] for d in out["rejected"]) == pytest.approx(sorted(scores[2:]))
    # a threshold above every score keeps nothing, whatever top_k
    out = ranker.run(query=QUERY, documents=docs(), top_k=3, score_threshold=min(1.0, scores[0] + 1e-4))
    assert out["documents"] == [] and len(out["rejected"]) == len(TEXTS)


def test_init_top_k_and_threshold_are_defaults_run_overrides():
    ranker = StructuralVerifierRanker(top_k=2, score_threshold=0.0)
    assert ranker.run(query=QUERY, documents=docs(), score_threshold=None)["rejected"] == []  # None: the init 0.0
    assert len(ranker.run(query=QUERY, documents=docs())["documents"]) == 2
    assert len(ranker.run(query=QUERY, documents=docs(), top_k=3)["documents"]) == 3
    out = ranker.run(query=QUERY, documents=docs(), score_threshold=1.0)
    assert out["documents"] == [] or all(d.meta["verifier_score"] >= 1.0 for d in out["documents"])


def test_weights_path_is_loaded(ranker):
    from verimap.weights import SHIPPED, WeightsError

    explicit = StructuralVerifierRanker(weights=str(SHIPPED), top_k=None, score_threshold=0.0)
    default = ranker.run(query=QUERY, documents=docs(), score_threshold=0.0)
    assert explicit.run(query=QUERY, documents=docs()) == default
    with pytest.raises(WeightsError, match="not found"):  # a missing weights file fails at warm_up
        StructuralVerifierRanker(weights="/nonexistent/verifier.safetensors").warm_up()


# -- modes ------------------------------------------------------------------------------------------------------------
def test_filter_mode_keeps_incoming_order():
    ranker = StructuralVerifierRanker(mode="filter", top_k=None, score_threshold=0.0)
    out = ranker.run(query=QUERY, documents=docs())
    assert [d.content for d in out["documents"]] == TEXTS


@pytest.mark.parametrize("score_type, sign", [("similarity", 1.0), ("distance", -1.0)])
def test_fuse_prior_retriever_reads_score_type(verifier, score_type, sign):
    incoming = (0.9, 0.8, 0.3, 0.5)
    ranker = StructuralVerifierRanker(
        mode="fuse", fuse_prior="retriever", top_k=None, score_threshold=0.0, retriever_score_type=score_type
    )
    out = ranker.run(query=QUERY, documents=docs(incoming))
    expected = verifier.rank(QUERY, TEXTS, None, 0.0, mode="fuse", prior_scores=[sign * s for s in incoming])
    assert [d.content for d in out["documents"]] == [TEXTS[r.index] for r in expected]
    assert [d.score for d in out["documents"]] == pytest.approx([r.score for r in expected], abs=1e-5)
    assert [d.meta["verifier_score"] for d in out["documents"]] == pytest.approx(
        [r.verifier_score for r in expected], abs=1e-5
    )


def test_fuse_prior_retriever_with_one_unscored_document_fuses_with_maxsim(verifier):
    """One rule for both adapters (verimap.policy.prior_from_incoming): every document needs a finite incoming score,
    else the whole list is fused with MaxSim. (This ranker used to give the unscored one the lowest incoming score.)"""
    incoming = (0.9, None, 0.3, 0.5)
    ranker = StructuralVerifierRanker(mode="fuse", fuse_prior="retriever", top_k=None)
    out = ranker.run(query=QUERY, documents=docs(incoming))
    expected = verifier.rank(QUERY, TEXTS)  # the core's default: fuse with MaxSim
    assert [d.content for d in out["documents"]] == [TEXTS[r.index] for r in expected]
    assert [d.score for d in out["documents"]] == pytest.approx([r.score for r in expected], abs=1e-5)


def test_the_result_keys_are_the_cores(verifier):
    from verimap.results import RELEVANCE_SCORE, RETRIEVER_SCORE, VERIFIER_ACCEPTED, VERIFIER_SCORE

    out = StructuralVerifierRanker(top_k=None).run(query=QUERY, documents=docs())
    for d in out["documents"]:
        assert {RELEVANCE_SCORE, VERIFIER_SCORE, VERIFIER_ACCEPTED, RETRIEVER_SCORE} <= set(d.meta)
        assert d.meta[RELEVANCE_SCORE] == d.score  # what the documents are ordered by, as LangChain writes it
        assert "verimap_score" not in d.meta  # LangChain's deprecated alias is not written here


@pytest.mark.parametrize("fuse_prior", ["maxsim", "retriever"])
def test_fuse_mode_without_incoming_scores_falls_back_to_core(verifier, fuse_prior):
    ranker = StructuralVerifierRanker(mode="fuse", fuse_prior=fuse_prior, top_k=None, score_threshold=0.0)
    out = ranker.run(query=QUERY, documents=[Document(content=t) for t in TEXTS])
    expected = verifier.rank(QUERY, TEXTS, None, 0.0, mode="fuse")
    assert [d.content for d in out["documents"]] == [TEXTS[r.index] for r in expected]


# -- documents: never mutated, deduplicated, no-text handled ---------------------------------------------------------
def test_input_documents_untouched(ranker):
    inputs = docs()
    before = copy.deepcopy(inputs)
    metas = [d.meta for d in inputs]
    out = ranker.run(query=QUERY, documents=inputs, score_threshold=0.0)
    assert inputs == before
    assert all(d.meta is m for d, m in zip(inputs, metas))
    assert all(o is not i for o in out["documents"] for i in inputs)


def test_duplicates_by_id_are_merged(ranker):
    a = Document(content="The dog bit the man.", score=0.2)
    b = Document(id=a.id, content="The dog bit the man.", score=0.7)
    out = ranker.run(query=QUERY, documents=[a, b, Document(content="The man bit the dog.")], score_threshold=0.0)
    ids = [d.id for d in out["documents"] + out["rejected"]]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 2
    assert next(d for d in out["documents"] if d.id == a.id).meta["retriever_score"] == 0.7  # the best incoming


@pytest.mark.parametrize("threshold", [None, 0.0])
def test_documents_without_text_go_to_rejected_with_score_zero(ranker, threshold):
    empty = [
        Document(content=None, meta={"kind": "none"}),
        Document(content="", meta={"kind": "empty"}),
        Document(content="   \n", meta={"kind": "blank"}),
    ]
    out = ranker.run(query=QUERY, documents=[*empty, *docs()], score_threshold=threshold)
    kinds = [d.meta.get("kind") for d in out["rejected"]]
    assert kinds[-3:] == ["none", "empty", "blank"]  # after the verified rejections, never lost
    assert all(d.score == 0.0 and d.meta["verifier_score"] == 0.0 for d in out["rejected"][-3:])
    assert not any("kind" in d.meta for d in out["documents"])
    only_empty = ranker.run(query=QUERY, documents=empty, score_threshold=threshold)
    assert only_empty["documents"] == [] and len(only_empty["rejected"]) == 3


def test_no_documents(ranker):
    assert ranker.run(query=QUERY, documents=[]) == {"documents": [], "rejected": []}


def test_meta_fields_and_prefixes_are_read(verifier):
    ranker = StructuralVerifierRanker(
        top_k=None,
        score_threshold=0.0,
        meta_fields_to_embed=["title"],
        embedding_separator=" | ",
        query_prefix="q: ",
        document_prefix="d: ",
    )
    doc = Document(content="The dog bit the man.", meta={"title": "Local news"})
    out = ranker.run(query=QUERY, documents=[doc])
    expected = verifier.score("q: " + QUERY, ["d: Local news | The dog bit the man."])[0]
    assert out["documents"][0].meta["verifier_score"] == pytest.approx(expected, abs=1e-5)


def test_bad_input_fails_early(ranker):
    with pytest.raises(ValueError):
        ranker.run(query="  ", documents=docs())
    with pytest.raises(TypeError):
        ranker.run(query=QUERY, documents=["not a Document"])
    with pytest.raises(ValueError):
        ranker.run(query=QUERY, documents=docs(), top_k=0)
    with pytest.raises(ValueError):
        StructuralVerifierRanker(mode="sideways")
    with pytest.raises(ValueError):
        StructuralVerifierRanker(score_threshold=1.5)
    with pytest.raises(ValueError, match="fuse_prior must be one of 'maxsim', 'retriever', got 'bm25'"):
        StructuralVerifierRanker(fuse_prior="bm25")


# -- async ------------------------------------------------------------------------------------------------------------
async def test_run_async_equals_run(ranker):
    inputs = docs() + [Document(content=None)]
    for kwargs in ({}, {"top_k": 2, "score_threshold": 0.0}):
        assert await ranker.run_async(query=QUERY, documents=inputs, **kwargs) == ranker.run(
            query=QUERY, documents=inputs, **kwargs
        )


# -- serialisation ----------------------------------------------------------------------------------------------------
def test_to_dict_from_dict_round_trip():
    ranker = StructuralVerifierRanker(
        top_k=4,
        score_threshold=0.3,
        mode="fuse",
        fuse_prior="retriever",
        scale_score=False,
        batch_size=16,
        meta_fields_to_embed=["title"],
        embedding_separator=" ",
        query_prefix="q: ",
        document_prefix="d: ",
        retriever_score_type="distance",
        device=ComponentDevice.from_str("cpu"),
    )
    data = ranker.to_dict()
    assert data["type"] == "haystack_integrations.components.rankers.verimap.ranker.StructuralVerifierRanker"
    assert data["init_parameters"]["device"] == {"type": "single", "device": "cpu"}
    assert data["init_parameters"]["fuse_prior"] == "retriever"
    restored = StructuralVerifierRanker.from_dict(data)
    assert restored.to_dict() == data and restored.fuse_prior == "retriever"
    assert isinstance(restored.device, ComponentDevice) and restored.device.to_torch_str() == "cpu"
    default = StructuralVerifierRanker().to_dict()["init_parameters"]
    assert (default["mode"], default["fuse_prior"], default["score_threshold"]) == ("fuse", "maxsim", None)
    assert StructuralVerifierRanker.from_dict(StructuralVerifierRanker().to_dict()).device is None


def test_old_dict_without_fuse_prior_loads():
    """A dict saved before ``fuse_prior`` existed (it then always held ``mode``) loads with the default prior."""
    data = StructuralVerifierRanker(mode="rerank", top_k=3).to_dict()
    del data["init_parameters"]["fuse_prior"]
    restored = StructuralVerifierRanker.from_dict(data)
    assert (restored.mode, restored.fuse_prior, restored.top_k) == ("rerank", "maxsim", 3)
    data = StructuralVerifierRanker(mode="fuse").to_dict()
    del data["init_parameters"]["fuse_prior"]
    assert StructuralVerifierRanker.from_dict(data).fuse_prior == "maxsim"
    with pytest.raises(ValueError, match="fuse_prior"):
        StructuralVerifierRanker.from_dict({**data, "init_parameters": {**data["init_parameters"], "fuse_prior": "x"}})


def test_pipeline_yaml_round_trip_keeps_device_and_fuse_prior():
    pipe = Pipeline()
    pipe.add_component(
        "ranker", StructuralVerifierRanker(device=ComponentDevice.from_str("cpu"), top_k=2, fuse_prior="retriever")
    )
    text = pipe.dumps()
    assert "fuse_prior: retriever" in text
    loaded = Pipeline.loads(text)  # no allowlist argument
    assert loaded.dumps() == text
    assert loaded.get_component("ranker").device.to_torch_str() == "cpu"
    assert loaded.get_component("ranker").fuse_prior == "retriever"
    old = Pipeline.loads(text.replace("      fuse_prior: retriever\n", ""))  # YAML saved before fuse_prior existed
    assert old.get_component("ranker").fuse_prior == "maxsim"
    out = old.run({"ranker": {"query": QUERY, "documents": docs()}})
    assert len(out["ranker"]["documents"]) == 2 and out["ranker"]["rejected"] == []


def test_the_ranker_goes_through_the_shared_token_cache(encoder):
    from verimap.cache import cache_key

    texts = [f"{t} (ranker cache check)" for t in TEXTS]
    encoder.cache.clear()
    ranker = StructuralVerifierRanker()
    ranker.warm_up()
    reader = ranker.verifier.encoder  # the verifier's view of the shared encoder (its tower's vectors, if any)
    assert reader.cache is encoder.cache
    keys = [cache_key(reader.encoder_id, reader.max_length, t) for t in texts]
    ranker.run(query=QUERY, documents=[Document(content=t) for t in texts])
    assert all(e is not None for e in encoder.cache.get_many(keys))
