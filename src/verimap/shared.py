"""One loaded encoder per (model, device) and one verifier per (weights, device, batch_size) in a process.

Haystack components, LangChain classes and in-process CLI calls all go through here, so a pipeline with an
embedder, a retriever and a ranker loads MiniLM once. Verifiers are never mutated after construction
(thresholds and top_k are passed per call), so sharing them is safe. What writes token vectors for a verifier to
read later (an embedder's ``token_file``) encodes through :func:`shared_token_encoder`, that verifier's view.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import torch

from verimap.encoder import TokenEncoder
from verimap.verifier import Verifier

_lock = threading.Lock()
_encoders: dict[tuple[str | None, str], TokenEncoder] = {}
_verifiers: dict[tuple[str | None, str | None, str, int], Verifier] = {}


def _path_key(path: str | os.PathLike | None) -> str | None:
    return None if path is None else os.path.realpath(os.fspath(path))


def shared_encoder(model: str | os.PathLike | None = None, device: Any = "cpu") -> TokenEncoder:
    """The encoder for ``model`` (``None``: bundled MiniLM) on ``device``, loaded on first use."""
    key = (_path_key(model), str(torch.device(device)))
    with _lock:
        if key not in _encoders:
            _encoders[key] = TokenEncoder(key[0], device=key[1])
        return _encoders[key]


def shared_verifier(
    weights: str | os.PathLike | None = None,
    device: Any = "cpu",
    batch_size: int = 64,
    *,
    model: str | os.PathLike | None = None,
) -> Verifier:
    """The verifier for ``weights`` (``None``: shipped) on the shared encoder of ``device``."""
    encoder = shared_encoder(model, device)
    key = (_path_key(weights), _path_key(model), str(torch.device(device)), batch_size)
    with _lock:
        if key not in _verifiers:
            _verifiers[key] = Verifier(key[0], encoder=encoder, device=key[2], batch_size=batch_size)
        return _verifiers[key]


def shared_token_encoder(
    weights: str | os.PathLike | None = None,
    device: Any = "cpu",
    *,
    model: str | os.PathLike | None = None,
) -> TokenEncoder:
    """The encoder view of the verifier for ``weights`` (``None``: shipped) on ``device``: what indexing encodes
    through when it writes token vectors for that verifier to read back (a token file).

    Its pooled vectors are the stock encoder's, bit for bit (what a vector store holds), and its token vectors are
    the ones the verifier reads, cached under the verifier's ``encoder_id``: with a tower, the tower's (so a token
    file written with it gives a verifier of the same weights hits, and one of other weights none); with stock
    weights, the shared stock encoder's own. It shares that encoder's model and :class:`TokenCache`. A
    verifier already loaded for these weights (any ``batch_size``) lends its view; else :func:`shared_verifier`
    loads one.
    """
    key = (_path_key(weights), _path_key(model), str(torch.device(device)))
    with _lock:
        for (w, m, d, _), verifier in _verifiers.items():
            if (w, m, d) == key:
                return verifier.encoder
    return shared_verifier(weights, device, model=model).encoder
