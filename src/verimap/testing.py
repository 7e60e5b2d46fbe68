"""Test helpers shared by verimap's own suite and the adapters' suites (``verimap-haystack``,
``langchain-verimap``): session fixtures for the real model, and the odd inputs of the reliability suites.

Needs the ``test`` extra (pytest and Hypothesis). Importing it runs torch on one thread (see below). In a
``conftest.py``::

    from verimap.testing import encoder, verifier  # noqa: F401  (registers the fixtures)
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, settings

__all__ = ["FAST", "HUGE", "ODD", "encoder", "verifier"]

# Test inputs are tiny: on a 2-core machine shared with other processes, torch's intra-op pool spins against them
# and one verifier forward took 1.0 s with two threads vs 0.014 s with one (measured). So suites run single-threaded.
torch.set_num_threads(1)

FAST = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
"""Hypothesis settings of the reliability suites: the same 30 examples every run, no example database."""
ODD = sorted(set("abc dog bit man 🐶👨‍👩‍👧 الكلب שלום 狗咬了人 \u200b\u200d\ufeff\u202e \x00\x07 \t\n e\u0301"))
"""Characters for odd-Unicode property tests: emoji and ZWJ sequences, RTL, CJK, zero-width, controls, combining."""
HUGE = ("The dog bit the man near the old harbour wall. " * 2200)[:100_000]
"""A 100,000-character text, far over the encoder's length."""


@pytest.fixture(scope="session")
def encoder():
    """The process-wide bundled encoder: the same instance the adapters and in-process CLI calls use."""
    from verimap.shared import shared_encoder

    return shared_encoder()


@pytest.fixture(scope="session")
def verifier(encoder):
    """The process-wide shipped verifier, on that encoder."""
    from verimap.shared import shared_verifier

    return shared_verifier()
