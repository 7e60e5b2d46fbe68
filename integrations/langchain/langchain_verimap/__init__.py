"""LangChain 1.x integration of verimap: a structural-verifier compressor and retriever, offline embeddings, and
LLM caches whose hits are verified.

>>> from langchain_verimap import StructuralVerifierCompressor, VerifiedRetriever, VerimapEmbeddings
>>> from langchain_verimap import GuardedLookupCache, VerifiedSemanticCache
"""

from __future__ import annotations

from verimap.optional import require

require(
    "langchain_core",
    install="'langchain-core>=1.0,<2' (or langchain-verimap, which brings it)",
    who="langchain_verimap",
)

from langchain_verimap._shared import get_encoder, get_verifier  # noqa: E402
from langchain_verimap.cache import GuardedLookupCache, VerifiedSemanticCache  # noqa: E402
from langchain_verimap.compressors import StructuralVerifierCompressor  # noqa: E402
from langchain_verimap.embeddings import VerimapEmbeddings  # noqa: E402
from langchain_verimap.retrievers import VerifiedRetriever  # noqa: E402

__all__ = [
    "GuardedLookupCache",
    "StructuralVerifierCompressor",
    "VerifiedRetriever",
    "VerifiedSemanticCache",
    "VerimapEmbeddings",
    "get_encoder",
    "get_verifier",
]
