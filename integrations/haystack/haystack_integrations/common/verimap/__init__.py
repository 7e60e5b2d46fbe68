"""Plumbing shared by the verimap Haystack components: one loaded encoder / verifier per process, device
resolution and the text each document is read as. Nothing here scores, thresholds or ranks: that is the core's
(:class:`verimap.Verifier` and :func:`verimap.apply_policy`).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from haystack import Document
from haystack.utils import ComponentDevice

if TYPE_CHECKING:  # imported lazily: loading torch is the slow part of importing a component
    from verimap import TokenEncoder, Verifier

__all__ = ["document_text", "resolve_device", "serialize_device", "shared_encoder", "shared_verifier"]

_lock = threading.Lock()
_encoders: dict[str, "TokenEncoder"] = {}
_verifiers: dict[tuple[str | None, str, int], "Verifier"] = {}


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
    """The bundled encoder on ``device``, loaded once per process and shared by every verimap component."""
    from verimap import TokenEncoder

    with _lock:
        if device not in _encoders:
            _encoders[device] = TokenEncoder(device=device)
        return _encoders[device]


def shared_verifier(weights: str | None, device: str, batch_size: int) -> "Verifier":
    """A :class:`verimap.Verifier` for ``(weights, device, batch_size)``, built once per process on the shared encoder.

    Verifiers are never mutated after construction (thresholds and top_k are passed per call), so sharing is safe.
    """
    from verimap import Verifier

    key = (str(Path(weights).expanduser().resolve()) if weights is not None else None, device, batch_size)
    encoder = shared_encoder(device)
    with _lock:
        if key not in _verifiers:
            _verifiers[key] = Verifier(key[0], encoder=encoder, device=device, batch_size=batch_size)
        return _verifiers[key]


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
    if document.content is None or not document.content.strip():
        return None
    meta_values = [
        str(document.meta[key]) for key in meta_fields_to_embed if document.meta.get(key) is not None
    ]
    return prefix + embedding_separator.join([*meta_values, document.content]) + suffix
