"""One error family: every error verimap raises on purpose is a :class:`VerimapError` (catch that one)."""

from __future__ import annotations


class VerimapError(Exception):
    """Base of every error verimap raises on purpose."""


class ParserError(VerimapError, RuntimeError):
    """The dependency parser model is missing or cannot be loaded (the message names the package to install)."""
