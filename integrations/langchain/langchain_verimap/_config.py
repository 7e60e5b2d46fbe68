"""Fields shared by the compressor and the retriever: which verifier, and the policy knobs passed to the core."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from typing import Any

from langchain_core.documents import Document
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from langchain_verimap._shared import get_verifier, prior_scores
from verimap import Verifier
from verimap.cache import attach_token_file, check_token_file
from verimap.inputs import check_threshold
from verimap.policy import DEFAULT_MODE, FusePrior, Mode, check_fuse_prior, check_mode

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
    mode: Mode = DEFAULT_MODE
    """``fuse`` (default: order by ``fuse_weight * verifier + (1 - fuse_weight) * prior``, the prior chosen by
    ``fuse_prior``), ``rerank`` (order by verifier score) or ``filter`` (keep the incoming order)."""
    fuse_prior: FusePrior = "maxsim"
    """The prior ``fuse`` mode combines the verifier with: ``maxsim`` (default; the core's MaxSim, whatever scores
    the documents arrived with) or ``retriever`` (the incoming ``metadata["relevance_score"]`` /
    ``metadata["score"]`` when every document has a finite one, else MaxSim: the core's rule,
    :func:`verimap.policy.prior_from_incoming`). Ignored in the other modes."""
    weights: str | None = None
    """Path of a ``.safetensors`` weights file (its ``.json`` card beside it); ``None`` for the shipped weights."""
    device: str = "cpu"
    """Torch device for the encoder and the network."""
    batch_size: int = Field(default=64, ge=1)
    """Similarity maps per network forward (passed to :class:`verimap.Verifier`)."""
    verifier: Verifier | None = Field(default=None, exclude=True, repr=False)
    """A ready :class:`verimap.Verifier` to use instead of the shared one (never serialised)."""
    token_file: str | None = None
    """An SQLite token file to read documents' token vectors from, e.g. the one
    :class:`~langchain_verimap.VerimapEmbeddings` ``token_file`` wrote while indexing (possibly in another process):
    a document whose ``page_content`` is exactly a text embedded into it is not re-encoded. Only read, never written
    here. How token files behave: docs/token-files.md."""

    _verifier: Verifier | None = PrivateAttr(default=None)
    _token_file_attached: bool = PrivateAttr(default=False)

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

    @field_validator("fuse_prior", mode="before")
    @classmethod
    def _check_fuse_prior(cls, value: Any) -> str:
        return check_fuse_prior(value)

    @model_validator(mode="after")
    def _load_verifier(self) -> VerifierConfig:
        if self.verifier is not None:
            clash = sorted(set(_LOAD_FIELDS) & self.model_fields_set)
            if clash:
                raise ValueError(f"pass either `verifier` or {clash}, not both (a Verifier already has them)")
            self._verifier = self.verifier
        else:
            self._verifier = get_verifier(self.weights, self.device, self.batch_size)
        return self

    def _attach_token_file(self) -> None:
        """Before the first ranking: read through ``token_file`` (a bad file raises, and is tried again next call)."""
        if not self._token_file_attached:
            attach_token_file(self.active_verifier.encoder.cache, self.token_file, type(self).__name__)
            self._token_file_attached = True

    async def _aattach_token_file(self) -> None:
        if not self._token_file_attached:
            await asyncio.to_thread(self._attach_token_file)  # the first attach opens SQLite: not on the loop

    def _core_kwargs(self, docs: Sequence[Document], top_k: int | None) -> dict[str, Any]:
        """The keyword arguments this component passes to :meth:`verimap.Verifier.rank` for ``docs``: ``None``
        reaches the core as ``None`` (the policy decides what it means)."""
        return {
            "top_k": top_k,
            "threshold": self.score_threshold,
            "mode": self.mode,
            "prior_scores": prior_scores(docs, self.fuse_prior),
        }

    @property
    def active_verifier(self) -> Verifier:
        """The :class:`verimap.Verifier` this component calls (the shared one unless ``verifier`` was given)."""
        assert self._verifier is not None
        return self._verifier
