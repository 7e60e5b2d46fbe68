"""Issue 8 for the LangChain classes: bad input gets a named error or the documented pass-through; 8 threads and
50 gathered ``acompress_documents`` / ``ainvoke`` calls over one instance equal the single-threaded results;
instances with different settings never see each other's.
"""

from __future__ import annotations

import asyncio
import copy
import math
import random
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ValidationError

from langchain_verimap import StructuralVerifierCompressor, VerifiedRetriever
from verimap import TruncationWarning
from verimap.testing import FAST, HUGE, ODD

QUERY = "Did the dog bite the man?"

contents = st.one_of(
    st.just(""),
    st.just("  \n"),
    st.text(alphabet=st.sampled_from(ODD), max_size=20),
    st.sampled_from(["The dog bit the man.", "The man bit the dog.", "Paris is in France."]),
)
incoming = st.one_of(st.none(), st.floats(-5, 5), st.sampled_from([math.nan, math.inf, -math.inf, "0.3", True]))


@st.composite
def documents(draw):
    docs = []
    for i in range(draw(st.integers(0, 6))):
        meta: dict[str, Any] = {"n": i}
        score = draw(incoming)
        if score is not None:
            meta[draw(st.sampled_from(["relevance_score", "score"]))] = score
        docs.append(Document(page_content=draw(contents), id=f"d{i}", metadata=meta))
    if docs and draw(st.booleans()):
        docs.append(docs[0].model_copy(deep=True))  # a duplicate: documented pass-through, scored like the first
    return docs


class ListRetriever(BaseRetriever):
    """A deterministic in-memory retriever that records the queries it was asked."""

    docs: dict[str, list[Document]]
    asked: list[str] = []

    def _get_relevant_documents(self, query: str, *, run_manager, **kwargs: Any) -> list[Document]:
        self.asked.append(query)
        return [d.model_copy(deep=True) for d in self.docs.get(query, self.docs.get("*", []))]


# -- property tests ------------------------------------------------------------------------------------------------
@FAST
@given(
    docs=documents(),
    mode=st.sampled_from(["rerank", "filter", "fuse"]),
    fuse_prior=st.sampled_from(["maxsim", "retriever"]),
    threshold=st.one_of(st.none(), st.floats(0, 1)),
)
def test_any_documents_are_each_returned_once_with_finite_scores(verifier, docs, mode, fuse_prior, threshold):
    compressor = StructuralVerifierCompressor(
        verifier=verifier, top_n=None, score_threshold=threshold, mode=mode, fuse_prior=fuse_prior, return_rejected=True
    )
    before = copy.deepcopy(docs)
    out = compressor.compress_documents(docs, QUERY)
    assert docs == before  # inputs (and their metadata dicts) untouched
    assert sorted(d.id for d in out) == sorted(d.id for d in docs)  # every document once, duplicates included
    for d in out:
        assert math.isfinite(d.metadata["relevance_score"]) and 0.0 <= d.metadata["relevance_score"] <= 1.0
        assert 0.0 <= d.metadata["verifier_score"] <= 1.0
        in_force = verifier.threshold if threshold is None else threshold
        assert d.metadata["verifier_accepted"] is (d.metadata["verifier_score"] >= in_force)
        if threshold is not None:
            assert d.metadata["verimap_rejected"] == (d.metadata["verifier_score"] < threshold)
        elif mode == "fuse":
            assert d.metadata["verimap_rejected"] is False  # fuse without a threshold drops nothing
    if len(docs) > 1 and docs[-1] == docs[0]:
        first, dupe = [d.metadata["verifier_score"] for d in out if d.id == docs[0].id]
        assert first == pytest.approx(dupe, abs=1e-6)


@FAST
@given(
    top_n=st.one_of(st.none(), st.integers(-2, 8), st.booleans(), st.sampled_from(["2", 2.0])),
    threshold=st.one_of(st.none(), st.floats(-1, 2), st.sampled_from([math.nan, math.inf, True, "0.5"])),
)
def test_top_n_and_threshold_are_checked_or_honoured(verifier, top_n, threshold):
    # no lax coercion first: True is not a threshold of 1.0, "2" is not a top_n of 2
    valid_k = top_n is None or (type(top_n) is int and top_n >= 1)
    valid_t = threshold is None or (type(threshold) is float and 0.0 <= threshold <= 1.0)
    if not (valid_k and valid_t):
        with pytest.raises(ValidationError, match="top_k|score_threshold"):
            StructuralVerifierCompressor(verifier=verifier, top_n=top_n, score_threshold=threshold)
        return
    compressor = StructuralVerifierCompressor(verifier=verifier, top_n=top_n, score_threshold=threshold)
    docs = [Document(page_content=t) for t in ("The dog bit the man.", "The man bit the dog.", "Paris.")]
    out = compressor.compress_documents(docs, QUERY)
    assert len(out) <= (top_n or 3)  # top_n bigger than the list: every accepted one


# -- named errors and pass-throughs ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "query, error, message",
    [
        (None, TypeError, "query must be a string"),
        ("", ValueError, "query must be a non-empty string"),
        ("\t \n", ValueError, "query must be a non-empty string"),
        ("\u200b\u2060", ValueError, "non-empty string"),
        ("bad \udcff", ValueError, "query is not valid Unicode"),
    ],
)
def test_bad_queries_are_named_even_with_no_documents(verifier, query, error, message):
    compressor = StructuralVerifierCompressor(verifier=verifier)
    base = ListRetriever(docs={"*": []})
    retriever = VerifiedRetriever(base_retriever=base, verifier=verifier)
    for documents in ([], [Document(page_content="The dog bit the man.")]):
        with pytest.raises(error, match=message):
            compressor.compress_documents(documents, query)
        with pytest.raises(error, match=message):
            asyncio.run(compressor.acompress_documents(documents, query))
    with pytest.raises(error, match=message):
        retriever.invoke(query)
    with pytest.raises(error, match=message):
        asyncio.run(retriever.ainvoke(query))
    assert base.asked == []  # refused before the wrapped retriever was asked anything


def test_bad_documents_are_named(verifier):
    compressor = StructuralVerifierCompressor(verifier=verifier)
    with pytest.raises(TypeError, match="documents must be a list of Documents, got NoneType"):
        compressor.compress_documents(None, QUERY)
    with pytest.raises(TypeError, match=r"documents\[1\] must be a langchain_core Document, got str"):
        compressor.compress_documents([Document(page_content="x"), "y"], QUERY)
    for bad, got in ((None, "NoneType"), (5, "int")):  # only possible by bypassing validation (model_construct)
        with pytest.raises(TypeError, match=rf"documents\[0\] must be a string, got {got}"):
            compressor.compress_documents([Document.model_construct(page_content=bad, metadata={})], QUERY)
    with pytest.raises(ValueError, match=r"documents\[0\] is not valid Unicode"):
        compressor.compress_documents([Document(page_content="lone \ud800")], QUERY)


def test_non_finite_incoming_scores_fall_back_to_maxsim_in_fuse_mode(verifier):
    compressor = StructuralVerifierCompressor(
        verifier=verifier, top_n=None, score_threshold=0.0, mode="fuse", fuse_prior="retriever"
    )
    docs = [
        Document(page_content="The dog bit the man.", metadata={"relevance_score": math.nan}),
        Document(page_content="The man bit the dog.", metadata={"relevance_score": 0.9}),
    ]
    out = compressor.compress_documents(docs, QUERY)
    assert all(math.isfinite(d.metadata["relevance_score"]) for d in out)
    assert "retriever_score" not in next(d for d in out if d.page_content == docs[0].page_content).metadata
    maxsim_fused = verifier.rank(QUERY, [d.page_content for d in docs], threshold=0.0, mode="fuse")
    assert [d.metadata["relevance_score"] for d in out] == [r.score for r in maxsim_fused]


def test_a_100k_character_document_warns_once_per_call_and_is_still_ranked(verifier):
    compressor = StructuralVerifierCompressor(verifier=verifier, top_n=None, score_threshold=0.0)
    docs = [Document(page_content=HUGE), Document(page_content="The dog bit the man."), Document(page_content=HUGE)]
    for call in (
        lambda: compressor.compress_documents(docs, QUERY),
        lambda: asyncio.run(compressor.acompress_documents(docs, QUERY)),
    ):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = call()
        assert len(out) == 3
        assert len([w for w in caught if issubclass(w.category, TruncationWarning)]) == 1


# -- concurrency ---------------------------------------------------------------------------------------------------
WORK = {
    f"lc-conc query {i}: did the dog bite the man?": [
        Document(
            page_content=f"lc-conc passage {i}-{j}: "
            + " ".join(
                random.Random(i * 10 + j).sample("the a dog man bit chased Paris Rome before after not".split(), 6)
            ),
            id=f"{i}-{j}",
            metadata={"score": j / 10},
        )
        for j in range(5)
    ]
    for i in range(6)
}
QUERIES = list(WORK)


def test_compressor_threads_and_gathered_async_equal_single_threaded(verifier):
    compressor = StructuralVerifierCompressor(verifier=verifier, top_n=3, return_rejected=True)
    jobs = [i % len(QUERIES) for i in range(48)]
    random.Random(5).shuffle(jobs)
    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(lambda i: (i, compressor.compress_documents(WORK[QUERIES[i]], QUERIES[i])), jobs))
    expected = [compressor.compress_documents(WORK[q], q) for q in QUERIES]
    assert all(out == expected[i] for i, out in threaded)

    async def gather():
        return await asyncio.gather(
            *[compressor.acompress_documents(WORK[QUERIES[i % 6]], QUERIES[i % 6]) for i in range(50)]
        )

    assert all(out == expected[i % 6] for i, out in enumerate(asyncio.run(gather())))


def test_retriever_threads_and_gathered_ainvoke_equal_single_threaded(verifier):
    retriever = VerifiedRetriever(base_retriever=ListRetriever(docs=WORK), verifier=verifier, k=3, score_threshold=0.0)
    expected = [retriever.invoke(q) for q in QUERIES]
    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(lambda i: retriever.invoke(QUERIES[i % 6]), range(48)))
    assert all(out == expected[i % 6] for i, out in enumerate(threaded))

    async def gather():
        return await asyncio.gather(*[retriever.ainvoke(QUERIES[i % 6]) for i in range(50)])

    assert all(out == expected[i % 6] for i, out in enumerate(asyncio.run(gather())))


def test_instances_with_different_settings_do_not_leak(verifier):
    compressors = [
        StructuralVerifierCompressor(verifier=verifier, top_n=1, score_threshold=0.0),
        StructuralVerifierCompressor(verifier=verifier, top_n=None, score_threshold=1.0),
        StructuralVerifierCompressor(verifier=verifier, top_n=None, mode="filter", score_threshold=0.0),
        StructuralVerifierCompressor(top_n=2, mode="fuse", return_rejected=True),  # the shared verifier
        StructuralVerifierCompressor(verifier=verifier, top_n=None, fuse_prior="retriever"),
    ]
    plans = [(c, q) for c in compressors for q in QUERIES]
    expected = [c.compress_documents(WORK[q], q) for c, q in plans]
    assert all(len(e) == 1 for e in expected[:6]) and all(e == [] for e in expected[6:12])
    order = list(range(len(plans))) * 2
    random.Random(6).shuffle(order)

    async def gather():
        return await asyncio.gather(*[plans[i][0].acompress_documents(WORK[plans[i][1]], plans[i][1]) for i in order])

    assert all(out == expected[i] for i, out in zip(order, asyncio.run(gather())))
