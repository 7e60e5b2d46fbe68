"""Session-scoped real components: the bundled encoder and the shipped verifier load once per test run."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def encoder():
    from verimap import TokenEncoder

    return TokenEncoder()


@pytest.fixture(scope="session")
def verifier(encoder):
    from verimap import Verifier

    return Verifier(encoder=encoder)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA
