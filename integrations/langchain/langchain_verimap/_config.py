"""Fields shared by the compressor and the retriever: which verifier, and the policy knobs passed to the core."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.documents import Document
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from verimap import Verifier
from verimap.inputs import check_threshold
from verimap.policy import check_mode

from langchain_verimap._shared import (
    attach_token_file,
    check_token_file,
    get_verifier,
    rank_kwargs,
    warn_if_uncached,
)

_LOAD_FIELDS = ("weights", "device", "batch_size")


class VerifierConfig(BaseModel):
    """Mixin: verifier selection (``weights``/``device``/``batch_size`` or a ready ``verifier``) and policy.

    The policy fields only choose what is passed to :meth:`verimap.Verifier.rank` (:meth:`_core_kwargs`); the core
    scores, thresholds and orders.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    score_threshold: float | None = None
    """Accept threshold on the verifier probability. ``None``: in ``fuse`` mode nothing is dropped (each document's
    ``metadata["verifier_accepted"]`` gives its verdict at the weights card's default threshold); in ``rerank`` /
    ``filter`` mode the card's default threshold drops. A number drops documents under it in every mode."""
    mode: Literal["rerank", "filter", "fuse"] = "fuse"
    """``fuse`` (default: order by ``fuse_weight * verifier + (1 - fuse_weight) * prior``, the prior chosen by
    ``fuse_prior``), ``rerank`` (order by verifier score) or ``filter`` (keep the incoming order)."""
    fuse_prior: Literal["maxsim", "retriever"] = "maxsim"
    """The prior ``fuse`` mode combines the verifier with: ``maxsim`` (default; the core's MaxSim, whatever scores
    the documents arrived with) or ``retriever`` (the incoming ``metadata["relevance_score"]`` /
    ``metadata["score"]`` when every document has one, else MaxSim). Ignored in the other modes."""
    weights: str | None = None
    """Path of a ``.safetensors`` weights file (its ``.json`` card beside it); ``None`` for the shipped weights."""
    device: str = "cpu"
    """Torch device for the encoder and the network."""
    batch_size: int = Field(default=64, ge=1)
    """Similarity maps per network forward (passed to :class:`verimap.Verifier`)."""
    verifier: Verifier | None = Field(default=None, exclude=True, repr=False)
    """A ready :class:`verimap.Verifier` to use instead of the shared one (never serialised)."""
    token_file: str | None = None
    """An SQLite token file (e.g. the one :class:`~langchain_verimap.VerimapEmbeddings` ``token_file`` wrote while
    indexing, possibly in another process) to read documents' token vectors from: attached to the verifier's
    encoder cache before ranking, so a document whose ``page_content`` is exactly a text embedded into it is not
    re-encoded. Only read, never written here. Ignored, with one logged warning, when the encoder has no cache
    (``$VERIMAP_TOKEN_CACHE_MB=0``); a file that is not a token file raises ``ValueError`` naming it."""

    _verifier: Verifier | None = PrivateAttr(default=None)

    @field_validator("weights", "device", mode="before")
    @classmethod
    def _as_string(cls, value: Any) -> Any:
        # Paths and torch.device objects are stored as strings so the object serialises to plain JSON.
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if value is not None and type(value).__name__ == "device":
            return str(value)
        return value

    @field_validator("token_file", mode="before")
    @classmethod
    def _check_token_file(cls, value: Any) -> Any:
        return check_token_file(value)

    @field_validator("score_threshold", mode="before")  # the raw value: no lax True -> 1 or "2" -> 2 first
    @classmethod
    def _check_threshold(cls, value: Any) -> float | None:
        return check_threshold(value, "score_threshold")

    @field_validator("mode", mode="before")
    @classmethod
    def _check_mode(cls, value: Any) -> str:
        return check_mode(value)

    @model_validator(mode="after")
    def _load_verifier(self) -> "VerifierConfig":
        if self.verifier is not None:
            clash = sorted(set(_LOAD_FIELDS) & self.model_fields_set)
            if clash:
                raise ValueError(f"pass either `verifier` or {clash}, not both (a Verifier already has them)")
            self._verifier = self.verifier
        else:
            self._verifier = get_verifier(self.weights, self.device, self.batch_size)
        warn_if_uncached(self._verifier.encoder, self.token_file, type(self).__name__)
        return self

    def _attach_token_file(self) -> None:
        """Before ranking: read through ``token_file`` (attaching an attached file again is a no-op in the core)."""
        attach_token_file(self.active_verifier.encoder, self.token_file)

    async def _aattach_token_file(self) -> None:
        if self.token_file is not None and self.active_verifier.encoder.cache is not None:
            await asyncio.to_thread(self._attach_token_file)  # the first attach opens SQLite: not on the loop

    def _core_kwargs(self, docs: Sequence[Document], top_k: int | None) -> dict[str, Any]:
        """The keyword arguments this component passes to :meth:`verimap.Verifier.rank` for ``docs``."""
        return rank_kwargs(docs, top_k=top_k, threshold=self.score_threshold, mode=self.mode,
                           fuse_prior=self.fuse_prior)

    @property
    def active_verifier(self) -> Verifier:
        """The :class:`verimap.Verifier` this component calls (the shared one unless ``verifier`` was given)."""
        assert self._verifier is not None
        return self._verifier
