"""verimap's errors: one base class, :class:`VerimapError`, so a caller can catch everything verimap raises on
purpose with one ``except``.

Each subclass also keeps the builtin parent it had before this module existed (``ValueError``, ``RuntimeError``),
so code that caught those goes on working.

>>> from verimap import VerimapError, Verifier
>>> try:
...     Verifier("no-such-weights.safetensors")
... except VerimapError as exc:
...     print(type(exc).__name__)
WeightsError
"""

from __future__ import annotations

__all__ = ["CLIError", "ConfigError", "ParserError", "StoreError", "TokenFileError", "VerimapError", "WeightsError"]


class VerimapError(Exception):
    """Base of every error verimap raises on purpose."""


class WeightsError(VerimapError, ValueError):
    """A weights file or its card is missing, damaged or made for another encoder / geometry."""


class ConfigError(VerimapError, ValueError):
    """A config file is missing, unreadable or holds a bad value, or a needed setting (e.g. the data folder) is
    not given."""


class StoreError(VerimapError, RuntimeError):
    """The store cannot be opened or used as asked (missing index, encoder mismatch, wrong space, bad input)."""


class TokenFileError(VerimapError, ValueError):
    """A token file (the SQLite tier of :class:`verimap.cache.TokenCache`) cannot be opened or is not one."""


class CLIError(VerimapError):
    """A user-facing command-line error: printed as one line, exit status 2."""


class ParserError(VerimapError, RuntimeError):
    """The dependency parser model is missing or cannot be loaded (the message names the package to install)."""
