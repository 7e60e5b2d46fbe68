"""``VerimapEmbeddings``: offline LangChain embeddings from verimap's bundled encoder."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.load.serializable import Serializable
from pydantic import ConfigDict, Field, PrivateAttr, field_validator, model_validator

from langchain_verimap._shared import get_encoder, get_token_encoder
from verimap import TokenEncoder
from verimap.cache import attach_token_file, check_token_file
from verimap.inputs import check_texts, check_unicode


class VerimapEmbeddings(Serializable, Embeddings):
    """Mean-pooled, L2-normalised sentence vectors (384-d) from the bundled all-MiniLM-L6-v2 — no download.

    >>> from langchain_chroma import Chroma
    >>> store = Chroma(collection_name="docs", embedding_function=VerimapEmbeddings())

    By default the process-wide encoder of ``device`` is used, the same one the shared
    :class:`~langchain_verimap.VerifiedRetriever` / :class:`~langchain_verimap.StructuralVerifierCompressor`
    verifier reads token vectors from, so the model is loaded once.

    With ``token_file``, :meth:`embed_documents` also writes each document's token vectors to that SQLite file,
    so a verifier in a later process (a :class:`~langchain_verimap.VerifiedRetriever` or
    :class:`~langchain_verimap.StructuralVerifierCompressor` given the same ``token_file``) reads them instead of
    re-encoding the documents it recalls:

    >>> embeddings = VerimapEmbeddings(token_file="./chroma/verimap-tokens.sqlite")
    >>> store = Chroma(collection_name="docs", embedding_function=embeddings, persist_directory="./chroma")

    The file holds the token vectors the verifier of ``weights`` reads (its tower's, when the weights have one; the
    embeddings are the same whatever the weights), so give the retriever / compressor the same ``weights``.
    Queries (:meth:`embed_query`) are never written, so the file grows only with the documents indexed. How token
    files behave: docs/token-files.md.

    :param device: torch device.
    :param encoder: a ready :class:`verimap.TokenEncoder` instead of the shared one (never serialised); with a
        ``token_file``, pass the reading verifier's ``verifier.encoder``, whose token vectors it reads.
    :param token_file: SQLite token file that :meth:`embed_documents` (and :meth:`aembed_documents`) writes the
        documents' token vectors to (created if missing; also read through). ``None`` (default): memory only.
    :param weights: the verifier weights (a ``.safetensors`` path; ``None``: shipped) whose token vectors go to
        ``token_file``: those of the verifier that will read it. Loaded only with a ``token_file``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    device: str = "cpu"
    encoder: TokenEncoder | None = Field(default=None, exclude=True, repr=False)
    token_file: str | None = None
    """SQLite token file the documents' token vectors are written to (``None``: memory only)."""
    weights: str | None = None
    """Verifier weights whose token vectors ``token_file`` receives (``None``: shipped); unused without one."""

    _encoder: TokenEncoder | None = PrivateAttr(default=None)
    _persist: Path | None = PrivateAttr(default=None)
    _token_file_attached: bool = PrivateAttr(default=False)

    @field_validator("device", mode="before")
    @classmethod
    def _as_string(cls, value: Any) -> Any:
        return str(value) if value is not None and type(value).__name__ == "device" else value

    @field_validator("weights", mode="before")
    @classmethod
    def _as_path_string(cls, value: Any) -> Any:
        return os.fspath(value) if isinstance(value, os.PathLike) else value

    @field_validator("token_file", mode="before")
    @classmethod
    def _check_token_file(cls, value: Any) -> Any:
        return check_token_file(value)

    @model_validator(mode="after")
    def _load_encoder(self) -> VerimapEmbeddings:
        if self.encoder is not None:
            if "device" in self.model_fields_set:
                raise ValueError("pass either `encoder` or `device`, not both (an encoder already has a device)")
            if self.weights is not None:
                raise ValueError("pass either `encoder` or `weights`, not both (an encoder already has its weights)")
            self._encoder = self.encoder
        elif self.token_file is not None:  # what the verifier of `weights` will read back (its tower's vectors)
            self._encoder = get_token_encoder(self.weights, self.device)
        else:
            self._encoder = get_encoder(self.device)
        return self

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        return ["langchain_verimap"]

    @property
    def active_encoder(self) -> TokenEncoder:
        """The :class:`verimap.TokenEncoder` these embeddings come from."""
        assert self._encoder is not None
        return self._encoder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Pooled vectors of ``texts``; with ``token_file``, their token vectors are written to it too."""
        texts = check_texts(texts, "texts")
        if not texts:
            return []
        if not self._token_file_attached:  # attached first, so a bad file fails before any encoding
            self._persist = attach_token_file(self.active_encoder.cache, self.token_file, type(self).__name__)
            self._token_file_attached = True
        return self.active_encoder.pooled(texts, persist=self._persist).tolist()

    def embed_query(self, text: str) -> list[float]:
        """Pooled vector of ``text``; never written to ``token_file`` (queries stay in memory)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}")
        check_unicode(text, "text")
        return self.active_encoder.pooled([text])[0].tolist()

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        return await asyncio.to_thread(self.embed_query, text)
