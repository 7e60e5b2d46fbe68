"""``VerimapEmbeddings``: offline LangChain embeddings from verimap's bundled encoder."""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.load.serializable import Serializable
from pydantic import ConfigDict, Field, PrivateAttr, field_validator, model_validator

from verimap import TokenEncoder
from verimap.inputs import check_texts

from langchain_verimap._shared import get_encoder


class VerimapEmbeddings(Serializable, Embeddings):
    """Mean-pooled, L2-normalised sentence vectors (384-d) from the bundled all-MiniLM-L6-v2 — no download.

    >>> from langchain_chroma import Chroma
    >>> store = Chroma(collection_name="docs", embedding_function=VerimapEmbeddings())

    By default the process-wide encoder of ``device`` is used, the same one the shared
    :class:`~langchain_verimap.VerifiedRetriever` / :class:`~langchain_verimap.StructuralVerifierCompressor`
    verifier reads token vectors from, so the model is loaded once.

    :param device: torch device.
    :param encoder: a ready :class:`verimap.TokenEncoder` instead of the shared one (never serialised).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    device: str = "cpu"
    encoder: TokenEncoder | None = Field(default=None, exclude=True, repr=False)

    _encoder: TokenEncoder | None = PrivateAttr(default=None)

    @field_validator("device", mode="before")
    @classmethod
    def _as_string(cls, value: Any) -> Any:
        return str(value) if value is not None and type(value).__name__ == "device" else value

    @model_validator(mode="after")
    def _load_encoder(self) -> "VerimapEmbeddings":
        if self.encoder is not None:
            if "device" in self.model_fields_set:
                raise ValueError("pass either `encoder` or `device`, not both (an encoder already has a device)")
            self._encoder = self.encoder
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
        texts = check_texts(texts, "texts")
        if not texts:
            return []
        return self.active_encoder.pooled(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        return await asyncio.to_thread(self.embed_query, text)
