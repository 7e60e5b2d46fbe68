"""Plumbing shared by the verimap Haystack components: one loaded encoder / verifier per process, device
resolution and the text each document is read as. Nothing here scores, thresholds or ranks: that is the core's
(:class:`verimap.Verifier` and :mod:`verimap.policy`).

Every component package imports this one first, so importing a component without Haystack installed names the
package to install instead of failing on ``haystack`` somewhere inside.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from verimap.optional import require

require(
    "haystack",
    install="'haystack-ai>=3.4,<4' (or verimap-haystack, which brings it)",
    who="verimap's Haystack components",
)

from haystack import Document  # noqa: E402
from haystack.utils import ComponentDevice  # noqa: E402

if TYPE_CHECKING:  # imported lazily: loading torch is the slow part of importing a component
    from verimap import TokenEncoder, Verifier

__all__ = [
    "deserialize_device",
    "deserialize_wrapper",
    "document_text",
    "resolve_device",
    "serialize_device",
    "shared_encoder",
    "shared_token_encoder",
    "shared_verifier",
]


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


def deserialize_wrapper(cls: type, data: dict[str, Any]) -> Any:
    """``default_from_dict`` for a component that wraps another one (e.g. a retriever) and has a ``device``: the wrapped
    component is rebuilt from its own serialised type."""
    import copy

    from haystack import default_from_dict

    data = copy.deepcopy(data)  # nested from_dicts (e.g. Chroma's) rewrite their dicts in place
    params = data.setdefault("init_parameters", {})
    if "device" in params:
        params["device"] = deserialize_device(params["device"])
    return default_from_dict(cls, data)


def shared_encoder(device: str) -> TokenEncoder:
    """The bundled encoder on ``device``, loaded once per process (:func:`verimap.shared.shared_encoder`)."""
    from verimap.shared import shared_encoder as core_shared_encoder

    return core_shared_encoder(None, device)


def shared_token_encoder(weights: str | None, device: str) -> TokenEncoder:
    """The verifier's view of the encoder for ``weights`` on ``device``, what a token file is written with
    (:func:`verimap.shared.shared_token_encoder`)."""
    from verimap.shared import shared_token_encoder as core_shared_token_encoder

    return core_shared_token_encoder(weights, device)


def shared_verifier(weights: str | None, device: str, batch_size: int) -> Verifier:
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
    meta_values = [str(document.meta[key]) for key in meta_fields_to_embed if document.meta.get(key) is not None]
    from verimap.inputs import check_unicode

    # A lone surrogate (Haystack can hold one when the id is given) is named by document id, not by position.
    return check_unicode(
        prefix + embedding_separator.join([*meta_values, document.content]) + suffix,
        f"the text of Document {document.id!r}",
    )
