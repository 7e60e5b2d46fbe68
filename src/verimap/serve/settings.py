"""What a worker process (``verimap serve --workers N``) or a Ray Serve replica needs to build its own app, as
plain JSON-ready values: the resolved ``verimap.toml`` plus flags, the limits, and the *name* of the variable that
holds the API key (the key itself never travels: each process reads it from its environment).

Every process builds its verifier the core's one way, which the CLI uses too (:func:`verimap.build.build_verifier`),
and attaches the token file, if any: token vectors of indexed passages are read from it and kept in that process's
memory; queries are never written to it, so replicas share it read-only.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from verimap.config import Config, check
from verimap.errors import ConfigError
from verimap.policy import DEFAULT_MODE
from verimap.serve.app import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_DOCUMENTS, create_app

if TYPE_CHECKING:
    from fastapi import FastAPI

    from verimap.verifier import Verifier

SETTINGS_ENV = "VERIMAP_SERVE_SETTINGS"
"""How ``verimap serve`` hands its settings to uvicorn's worker processes (JSON of :class:`Settings`)."""


@dataclass(frozen=True)
class Settings:
    """One service's settings.

    :param config: :class:`verimap.config.Config` fields (encoder, weights, device, threshold, mode, ...).
    :param api_key_env: the environment variable holding the API key (``None``: no key).
    :param token_file: a token file (``verimap index`` writes ``<store>/verimap-tokens.sqlite``) to read through.
    :param threads: torch threads per process (``None``: torch's default).
    """

    config: dict[str, Any] = field(default_factory=lambda: asdict(Config()))
    api_key_env: str | None = None
    token_file: str | None = None
    max_documents: int = DEFAULT_MAX_DOCUMENTS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    concurrency: int = 1
    threads: int | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown serve setting(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @property
    def cfg(self) -> Config:
        return check(Config(**self.config))

    def api_key(self) -> str | None:
        """The key from ``$api_key_env`` (``ConfigError`` if that variable is unset or empty)."""
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env, "").strip()
        if not key:
            raise ConfigError(f"${self.api_key_env} (the API key) is not set or empty")
        return key

    def load_verifier(self) -> Verifier:
        """This process's verifier: torch threads set, built from :attr:`cfg`, the token file attached."""
        import torch

        from verimap.build import build_verifier
        from verimap.cache import attach_token_file

        if self.threads:
            torch.set_num_threads(self.threads)
        verifier = build_verifier(self.cfg)
        attach_token_file(verifier.encoder.cache, self.token_file, "verimap serve")
        return verifier

    def app(self, verifier: Verifier | None = None) -> FastAPI:
        """The app, serving ``verifier``, or loading its own in the background (:meth:`load_verifier`)."""
        return create_app(
            verifier if verifier is not None else self.load_verifier,
            api_key=self.api_key(),
            max_documents=self.max_documents,
            max_body_bytes=self.max_body_bytes,
            mode=self.config.get("mode", DEFAULT_MODE),
            concurrency=self.concurrency,
        )


def app_from_environment() -> FastAPI:
    """uvicorn's app factory in each worker process: the settings ``verimap serve`` left in ``$VERIMAP_SERVE_SETTINGS``."""
    raw = os.environ.get(SETTINGS_ENV)
    if not raw:
        raise ConfigError(f"${SETTINGS_ENV} is not set: start the service with `verimap serve`")
    return Settings.from_dict(json.loads(raw)).app()
