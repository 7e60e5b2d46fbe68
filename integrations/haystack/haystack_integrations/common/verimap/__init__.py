"""Plumbing shared by the verimap Haystack components: one loaded encoder / verifier per process, device
resolution and the text each document is read as. Nothing here scores, thresholds or ranks: that is the core's
(:class:`verimap.Verifier` and :func:`verimap.apply_policy`).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from haystack import Document, logging
from haystack.utils import ComponentDevice

if TYPE_CHECKING:  # imported lazily: loading torch is the slow part of importing a component
    from verimap import TokenEncoder, Verifier

__all__ = [
    "attach_token_file",
    "check_token_file",
    "document_text",
    "resolve_device",
    "serialize_device",
    "shared_encoder",
    "shared_verifier",
]

logger = logging.getLogger(__name__)


def resolve_device(device: ComponentDevice | None) -> str:
    """The torch device string for ``device`` (``None``: Haystack's default, i.e. the GPU if there is one)."""
    resolved = ComponentDevice.resolve_device(device)
    if resolved.has_multiple_devices:
        raise ValueError("verimap components run on a single device; a device map is not supported")
    return resolved.to_torch_str()


def serialize_device(device: ComponentDevice | None) -> dict[str, Any] | None:
    return device.to_dict() if device is not None else None


def deserialize_device(value: Any) -> ComponentDevice | None:
    if isinstance(value, dict):
        return ComponentDevice.from_dict(value)
    return value


def shared_encoder(device: str) -> "TokenEncoder":
    """The bundled encoder on ``device``, loaded once per process (:func:`verimap.shared.shared_encoder`)."""
    from verimap.shared import shared_encoder as core_shared_encoder

    return core_shared_encoder(None, device)


def shared_verifier(weights: str | None, device: str, batch_size: int) -> "Verifier":
    """The process-wide verifier for ``(weights, device, batch_size)`` (:func:`verimap.shared.shared_verifier`)."""
    from verimap.shared import shared_verifier as core_shared_verifier

    return core_shared_verifier(weights, device, batch_size)


def document_text(
    document: Document,
    *,
    meta_fields_to_embed: list[str],
    embedding_separator: str,
    prefix: str = "",
    suffix: str = "",
) -> str | None:
    """The text a document is embedded / verified as, or ``None`` when it has no text content.

    Same recipe as Haystack's embedders and rankers: ``prefix + separator.join(meta values + [content]) + suffix``.
    A document whose ``content`` is ``None`` or blank has nothing to read and gives ``None``, whatever its meta.
    """
    if document.content is None:
        return None
    if not isinstance(document.content, str):  # Haystack checks this at construction, not after a mutation
        raise TypeError(
            f"Document {document.id!r}: content must be a string or None, got {type(document.content).__name__}"
        )
    if not document.content.strip():
        return None
    meta_values = [
        str(document.meta[key]) for key in meta_fields_to_embed if document.meta.get(key) is not None
    ]
    from verimap.inputs import check_unicode

    # A lone surrogate (Haystack can hold one when the id is given) is named by document id, not by position.
    return check_unicode(prefix + embedding_separator.join([*meta_values, document.content]) + suffix,
                         f"the text of Document {document.id!r}")


def check_token_file(value: Any) -> str | None:
    """``token_file`` as stored and serialised: ``None``, or a non-empty path string (an ``os.PathLike`` is turned
    into its string)."""
    if value is None:
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise TypeError(f"token_file must be a path string or None, got {type(value).__name__}")
    if not value.strip():
        raise ValueError("token_file must be a non-empty path (or None for no token file)")
    return value


def attach_token_file(encoder: "TokenEncoder", token_file: str | None, component: str) -> "Path | None":
    """Make ``encoder``'s token cache read through ``token_file`` (created if missing); its resolved path, or
    ``None`` when nothing was attached.

    With no ``token_file`` nothing happens. An encoder without a cache (``$VERIMAP_TOKEN_CACHE_MB=0``) cannot use
    one: a warning is logged and ``None`` returned. A file that is not a verimap token file raises ``ValueError``
    naming ``component`` and the path. Attaching is process-wide: every component sharing the encoder reads
    through the file from then on (as with the stores of :class:`verimap.store.VerimapStore`).
    """
    if token_file is None:
        return None
    if encoder.cache is None:
        logger.warning(
            "{component}: token_file {token_file!r} is ignored because the encoder has no token cache "
            "($VERIMAP_TOKEN_CACHE_MB=0); token vectors are computed every time",
            component=component,
            token_file=token_file,
        )
        return None
    try:
        return encoder.cache.attach(token_file)
    except (ValueError, sqlite3.Error) as exc:
        raise ValueError(
            f"{component}: token_file {token_file!r} cannot be used as a verimap token file: {exc}"
        ) from exc
