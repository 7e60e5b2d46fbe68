"""Session-scoped real components: the bundled encoder and the shipped verifier load once per test run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# Tests use tiny batches: on a 2-core machine shared with other processes, torch's intra-op pool spins against
# them and one verifier forward took 1.0 s with two threads vs 0.014 s with one (measured here).
torch.set_num_threads(1)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def encoder():
    """The process-wide bundled encoder: the same instance the adapters and in-process CLI calls use."""
    from verimap.shared import shared_encoder

    return shared_encoder()


@pytest.fixture(scope="session")
def verifier(encoder):
    from verimap.shared import shared_verifier

    return shared_verifier()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA
