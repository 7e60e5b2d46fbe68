"""The one way a :class:`~verimap.config.Config` (``verimap.toml`` plus flags) becomes an encoder and a verifier.

Every front door that is driven by a config builds its models here: the CLI (:mod:`verimap.cli.options` turns these
errors into one-line :class:`~verimap.errors.CLIError`\\ s) and ``verimap serve`` (:mod:`verimap.serve.settings`,
where a failure is reported by ``/health``). Failures are the core's errors: :class:`~verimap.errors.ConfigError`
for an encoder that cannot be loaded, :class:`~verimap.errors.WeightsError` for verifier weights that cannot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from verimap.errors import ConfigError, WeightsError

if TYPE_CHECKING:  # imported lazily: torch is slow to load
    from verimap.cache import TokenCache
    from verimap.config import Config
    from verimap.encoder import TokenEncoder
    from verimap.verifier import Verifier

__all__ = ["build_encoder", "build_verifier"]


def build_encoder(cfg: Config, *, cache: TokenCache | bool | None = None) -> TokenEncoder:
    """The encoder ``cfg`` names on its device: the process-wide one (:func:`verimap.shared.shared_encoder`), or,
    with ``cache`` (a :class:`~verimap.cache.TokenCache`, or ``False`` for none), a new one behind it, for a caller
    that must not share the process's token cache (``eval``, ``bench``).

    :raises ConfigError: the encoder cannot be loaded (the message names it and says why).
    """
    from verimap.encoder import TokenEncoder
    from verimap.shared import shared_encoder

    try:
        if cache is not None:
            return TokenEncoder(cfg.encoder, device=cfg.device, cache=cache)
        return shared_encoder(cfg.encoder, cfg.device)
    except (FileNotFoundError, OSError, ValueError, RuntimeError) as exc:
        raise ConfigError(f"cannot load encoder {cfg.encoder or '(bundled)'}: {exc}") from exc


def build_verifier(cfg: Config, encoder: TokenEncoder | None = None) -> Verifier:
    """The verifier ``cfg`` names (weights, device, threshold), on ``encoder`` (default: :func:`build_encoder`).

    :raises ConfigError: the encoder cannot be loaded.
    :raises WeightsError: the weights cannot be loaded (the message names the file and says why).
    """
    from verimap.verifier import Verifier

    encoder = encoder if encoder is not None else build_encoder(cfg)
    try:
        return Verifier(cfg.weights, encoder=encoder, device=cfg.device, threshold=cfg.threshold)
    except (WeightsError, FileNotFoundError, ValueError) as exc:
        raise WeightsError(f"cannot load verifier weights {cfg.weights or '(shipped)'}: {exc}") from exc
