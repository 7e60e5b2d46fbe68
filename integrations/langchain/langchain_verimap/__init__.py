"""LangChain 1.x integration of verimap: a structural-verifier compressor and retriever, and offline embeddings.

>>> from langchain_verimap import StructuralVerifierCompressor, VerifiedRetriever, VerimapEmbeddings
"""

from __future__ import annotations

from langchain_verimap._shared import get_encoder, get_verifier
from langchain_verimap.compressors import StructuralVerifierCompressor
from langchain_verimap.embeddings import VerimapEmbeddings
from langchain_verimap.retrievers import VerifiedRetriever

__all__ = [
    "StructuralVerifierCompressor",
    "VerifiedRetriever",
    "VerimapEmbeddings",
    "get_encoder",
    "get_verifier",
]
