"""LangChain's standard retriever suite, run against VerifiedRetriever over a real Chroma store."""

from __future__ import annotations

import pytest
from langchain_tests.integration_tests import RetrieversIntegrationTests

from langchain_verimap import VerifiedRetriever


class TestVerifiedRetrieverStandard(RetrieversIntegrationTests):
    """The suite asserts that exactly ``k`` documents come back. The retriever runs with its defaults (``fuse`` mode
    with the MaxSim prior, ``score_threshold=None``), which verify and rank but drop nothing, so it returns ``k``
    whenever there are ``k`` candidates. Rejection under an explicit threshold or in ``rerank``/``filter`` mode
    (where fewer than ``k`` may legitimately come back) is tested in test_langchain_retriever.py."""

    _params: dict = {}

    @pytest.fixture(autouse=True, scope="class")
    @classmethod
    def _wire(cls, chroma_retriever, verifier):
        cls._params = {"base_retriever": chroma_retriever, "verifier": verifier}  # the defaults: fuse, drop nothing

    @property
    def retriever_constructor(self) -> type[VerifiedRetriever]:
        return VerifiedRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return dict(self._params)

    @property
    def retriever_query_example(self) -> str:
        return "Did the dog bite the man?"
