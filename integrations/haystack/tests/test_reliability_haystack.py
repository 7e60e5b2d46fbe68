"""Issue 8 for the Haystack components: bad input gets a named error or the documented pass-through, whatever the
documents hold; 8 threads and 50 gathered ``run_async`` calls over one ranker equal the single-threaded results;
rankers with different settings never see each other's.
"""

from __future__ import annotations

import asyncio
import copy
import math
import random
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest
from haystack import Document
from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever
from hypothesis import given
from hypothesis import strategies as st

from haystack_integrations.components.rankers.verimap import StructuralVerifierRanker
from haystack_integrations.components.retrievers.verimap import VerifiedRetriever
from verimap import TruncationWarning
from verimap.shared import shared_verifier
from verimap.testing import FAST, HUGE, ODD

QUERY = "Did the dog bite the man?"

contents = st.one_of(
    st.none(),
    st.just(""),
    st.just("  \n"),
    st.text(alphabet=st.sampled_from(ODD), max_size=20),
    st.sampled_from(["The dog bit the man.", "The man bit the dog.", "Paris is in France."]),
)
scores = st.one_of(st.none(), st.floats(-5, 5), st.sampled_from([math.nan, math.inf, -math.inf]))


@st.composite
def documents(draw):
    docs = [Document(content=draw(contents), score=draw(scores), meta={"n": i}) for i in range(draw(st.integers(0, 6)))]
    if docs and draw(st.booleans()):  # same id again (a retriever returning one passage twice)
        docs.append(Document(id=docs[0].id, content=docs[0].content, score=draw(scores), meta={"n": "dupe"}))
    return docs


def check_output(out, threshold):
    cut = shared_verifier().threshold if threshold is None else threshold  # the card's, as the ranker's verifier
    for d in out["documents"] + out["rejected"]:
        assert math.isfinite(d.score) and 0.0 <= d.score <= 1.0
        assert 0.0 <= d.meta["verifier_score"] <= 1.0
        has_text = d.content is not None and bool(d.content.strip())
        assert d.meta["verifier_accepted"] is (has_text and d.meta["verifier_score"] >= cut)
    if threshold is not None:
        assert all(d.meta["verifier_score"] >= threshold for d in out["documents"])
        assert all(
            d.meta["verifier_score"] < threshold or d.content is None or not d.content.strip() for d in out["rejected"]
        )


# -- property tests ------------------------------------------------------------------------------------------------
@FAST
@given(
    docs=documents(),
    mode=st.sampled_from(["rerank", "filter", "fuse"]),
    fuse_prior=st.sampled_from(["maxsim", "retriever"]),
    score_type=st.sampled_from(["similarity", "distance"]),
    threshold=st.one_of(st.none(), st.floats(0, 1)),
)
def test_any_documents_are_each_returned_once_with_finite_scores(docs, mode, fuse_prior, score_type, threshold):
    ranker = StructuralVerifierRanker(top_k=None, mode=mode, fuse_prior=fuse_prior, retriever_score_type=score_type)
    before = copy.deepcopy(docs)
    out = ranker.run(query=QUERY, documents=docs, score_threshold=threshold)
    assert docs == before  # inputs untouched
    returned = [d.id for d in out["documents"] + out["rejected"]]
    assert sorted(returned) == sorted({d.id for d in docs})  # duplicates merged, nothing lost, nothing invented
    check_output(out, threshold)
    if mode == "fuse" and threshold is None:  # the default policy drops nothing: only text-less documents are set aside
        assert all(d.content is None or not d.content.strip() for d in out["rejected"])
    if mode == "filter":  # incoming order kept
        first = {}
        for i, d in enumerate(docs):
            first.setdefault(d.id, i)
        assert [first[d.id] for d in out["documents"]] == sorted(first[d.id] for d in out["documents"])


@FAST
@given(
    top_k=st.one_of(st.none(), st.integers(-2, 8), st.floats(0, 3), st.booleans()),
    threshold=st.one_of(st.none(), st.floats(-1, 2), st.sampled_from([math.nan, math.inf]), st.booleans()),
)
def test_top_k_and_threshold_are_checked_at_init_and_per_call(ranker, top_k, threshold):
    valid_k = top_k is None or (type(top_k) is int and top_k >= 1)
    valid_t = threshold is None or (type(threshold) is float and 0.0 <= threshold <= 1.0)
    docs = [Document(content=t) for t in ("The dog bit the man.", "The man bit the dog.", "Paris.")]
    if not valid_k:
        with pytest.raises(ValueError, match="top_k must be a positive integer or None"):
            StructuralVerifierRanker(top_k=top_k)
        with pytest.raises(ValueError, match="top_k must be a positive integer or None"):
            ranker.run(query=QUERY, documents=docs, top_k=top_k)
    if not valid_t:
        with pytest.raises(ValueError, match="score_threshold must be a number in"):
            StructuralVerifierRanker(score_threshold=threshold)
        with pytest.raises(ValueError, match="score_threshold must be a number in"):
            asyncio.run(ranker.run_async(query=QUERY, documents=docs, score_threshold=threshold))
    if valid_k and valid_t:
        out = ranker.run(query=QUERY, documents=docs, top_k=top_k, score_threshold=threshold)
        assert len(out["documents"]) <= (top_k or 3)  # top_k larger than the list: every accepted one
        check_output(out, threshold)


# -- named errors and pass-throughs ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "query, error, message",
    [
        (None, TypeError, "query must be a string"),
        ("", ValueError, "query must be a non-empty string"),
        (" \n", ValueError, "query must be a non-empty string"),
        ("\u200b\ufeff", ValueError, "non-empty string"),
        ("bad \ud800", ValueError, "query is not valid Unicode"),
    ],
)
def test_bad_queries_are_named_even_with_no_documents(ranker, query, error, message):
    for documents in ([], [Document(content="The dog bit the man.")]):
        with pytest.raises(error, match=message):
            ranker.run(query=query, documents=documents)
        with pytest.raises(error, match=message):
            asyncio.run(ranker.run_async(query=query, documents=documents))


@pytest.mark.filterwarnings("ignore:Mutating attribute")
def test_bad_documents_are_named(ranker):
    with pytest.raises(TypeError, match="expects `documents` to be a list of Documents"):
        ranker.run(query=QUERY, documents=None)
    with pytest.raises(TypeError, match="expects `documents` to be a list of Documents"):
        ranker.run(query=QUERY, documents=["The dog bit the man."])
    mutated = Document(content="fine")
    mutated.content = 42  # Haystack checks the type at construction only
    with pytest.raises(TypeError, match=f"Document '{mutated.id}': content must be a string or None, got int"):
        ranker.run(query=QUERY, documents=[mutated])
    surrogate = Document(id="s1", content="lone \ud800 surrogate")
    with pytest.raises(ValueError, match="the text of Document 's1' is not valid Unicode"):
        ranker.run(query=QUERY, documents=[surrogate])


def test_non_finite_incoming_scores_count_as_missing_in_fuse_mode():
    ranker = StructuralVerifierRanker(top_k=None, mode="fuse", fuse_prior="retriever", score_threshold=0.0)
    docs = [
        Document(content="The dog bit the man.", score=math.nan),
        Document(content="The man bit the dog.", score=0.9),
        Document(content="Paris is in France.", score=math.inf),
        Document(content="x", score=0.1),
    ]
    out = ranker.run(query=QUERY, documents=docs)
    assert len(out["documents"]) == 4
    assert all(math.isfinite(d.score) for d in out["documents"])
    kept_nan = next(d for d in out["documents"] if d.content == "The dog bit the man.")
    assert "retriever_score" not in kept_nan.meta  # a NaN is no score, and is not reported as one
    # two documents without a finite score: the whole list is fused with MaxSim, as the core's default does
    assert [d.content for d in out["documents"]] == [
        docs[r.index].content for r in ranker.verifier.rank(QUERY, [d.content for d in docs], threshold=0.0)
    ]


def test_a_100k_character_document_warns_once_per_run_and_is_still_ranked(ranker):
    docs = [Document(content=HUGE), Document(content="The dog bit the man."), Document(content=HUGE + "!")]
    for _ in range(2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = ranker.run(query=QUERY, documents=docs, score_threshold=0.0)
        assert len(out["documents"]) == 3
        assert len([w for w in caught if issubclass(w.category, TruncationWarning)]) == 1


# -- concurrency ---------------------------------------------------------------------------------------------------
WORK = [
    (
        f"hs-conc query {i}: did the dog bite the man?",
        [
            Document(
                content=f"hs-conc passage {i}-{j}: "
                + " ".join(
                    random.Random(i * 10 + j).sample("the a dog man bit chased Paris Rome before after not".split(), 6)
                ),
                score=j / 10,
            )
            for j in range(5)
        ],
    )
    for i in range(6)
]


def test_eight_threads_and_fifty_async_calls_equal_single_threaded(ranker):
    jobs = [i % len(WORK) for i in range(48)]
    random.Random(3).shuffle(jobs)
    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(lambda i: (i, ranker.run(query=WORK[i][0], documents=WORK[i][1])), jobs))
    expected = [ranker.run(query=q, documents=d) for q, d in WORK]  # (after the threads: they ran on a cold cache)
    assert all(out == expected[i] for i, out in threaded)

    async def gather():
        return await asyncio.gather(
            *[ranker.run_async(query=WORK[i % len(WORK)][0], documents=WORK[i % len(WORK)][1]) for i in range(50)]
        )

    assert all(out == expected[i % len(WORK)] for i, out in enumerate(asyncio.run(gather())))


def test_rankers_with_different_settings_do_not_leak(verifier):
    rankers = [
        StructuralVerifierRanker(top_k=1, score_threshold=0.0),
        StructuralVerifierRanker(top_k=None, score_threshold=1.0),
        StructuralVerifierRanker(top_k=None, mode="filter", score_threshold=0.0),
        StructuralVerifierRanker(top_k=2, mode="fuse", fuse_prior="retriever", retriever_score_type="distance"),
        StructuralVerifierRanker(top_k=None),  # the default: fuse with MaxSim, nothing dropped
        StructuralVerifierRanker(top_k=None, mode="rerank"),
    ]
    plans = [(r, q, d) for r in rankers for q, d in WORK]
    expected = [r.run(query=q, documents=d) for r, q, d in plans]
    assert all(len(e["documents"]) == 1 for e in expected[: len(WORK)])
    assert all(e["documents"] == [] for e in expected[len(WORK) : 2 * len(WORK)])
    order = list(range(len(plans))) * 2
    random.Random(4).shuffle(order)

    async def gather():
        return await asyncio.gather(*[plans[i][0].run_async(query=plans[i][1], documents=plans[i][2]) for i in order])

    assert all(out == expected[i] for i, out in zip(order, asyncio.run(gather())))


def test_verified_retriever_gathered_equals_single(memory_store):
    retriever = VerifiedRetriever(
        retriever=InMemoryEmbeddingRetriever(document_store=memory_store), recall_k=5, top_k=3, score_threshold=0.0
    )
    retriever.warm_up()
    queries = ["Did the dog bite the man?", "Who sold the car to Alice?", "Did the cat chase the mouse?"]
    expected = [retriever.run(query=q) for q in queries]

    async def gather():
        return await asyncio.gather(*[retriever.run_async(query=queries[i % 3]) for i in range(50)])

    assert all(out == expected[i % 3] for i, out in enumerate(asyncio.run(gather())))
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(
            out == expected[i % 3]
            for i, out in enumerate(pool.map(lambda i: retriever.run(query=queries[i % 3]), range(24)))
        )
    with pytest.raises(ValueError, match="query must be a non-empty string"):
        retriever.run(query="\u200b")
