"""LangChain's standard retriever suite, run against VerifiedRetriever over a real Chroma store."""

from __future__ import annotations

import pytest
from langchain_tests.integration_tests import RetrieversIntegrationTests

from langchain_verimap import VerifiedRetriever


class TestVerifiedRetrieverStandard(RetrieversIntegrationTests):
    """The suite asserts that exactly ``k`` documents come back. A verifier legitimately returns fewer when it
    rejects candidates, so the suite runs the retriever with ``score_threshold=0.0`` (verify and rank, reject
    nothing); rejection is tested in test_langchain_retriever.py."""

    _params: dict = {}

    @pytest.fixture(autouse=True, scope="class")
    @classmethod
    def _wire(cls, chroma_retriever, verifier):
        cls._params = {"base_retriever": chroma_retriever, "verifier": verifier, "score_threshold": 0.0}

    @property
    def retriever_constructor(self) -> type[VerifiedRetriever]:
        return VerifiedRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return dict(self._params)

    @property
    def retriever_query_example(self) -> str:
        return "Did the dog bite the man?"
