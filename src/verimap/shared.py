"""One loaded encoder per (model, device) and one verifier per (weights, device, batch_size) in a process.

Haystack components, LangChain classes and in-process CLI calls all go through here, so a pipeline with an
embedder, a retriever and a ranker loads MiniLM once. Verifiers are never mutated after construction
(thresholds and top_k are passed per call), so sharing them is safe.
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
