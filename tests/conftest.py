"""Session-scoped real components: the bundled encoder and the shipped verifier load once per test run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from verimap.testing import encoder, verifier  # noqa: F401  (session fixtures: the real encoder and verifier)

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

# The team keeps the data in ../shared/data beside the checkout; tests pass it explicitly (--data, data_dir=...).
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_end_to_end() -> str:
    """A training config small enough for a test: one frozen epoch, then two end-to-end LoRA steps."""
    return """
sources = ["breaking_nli"]
max_train = 64
max_dev = 64
epochs = 1
batch_size = 32
encoder_max_length = 32
adapter_rank = 2
adapter_alpha = 4.0
steps = 2
end_to_end_batch_size = 4
eval_every = 2
probe_rows = 32
head_lr = 1e-4
select_on = "human"

[network]
map_rows = 16
map_cols = 16
patch = 8
dim = 16
depth = 1
heads = 2
"""


@pytest.fixture()
def chroma_server(tmp_path):
    """A real ``chroma run`` server on a free port (the documented way to share an index between processes)."""
    import shutil
    import socket
    import subprocess
    import sys
    import time

    exe = Path(sys.executable).with_name("chroma")
    chroma = str(exe) if exe.exists() else shutil.which("chroma")
    if not chroma:
        pytest.skip("the `chroma` server command is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [chroma, "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.skip("could not start a local chroma server")
                time.sleep(0.2)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture()
def copy(tmp_path):
    """A writable copy of the shipped weights and card, to damage."""
    import shutil

    from verimap.weights import SHIPPED, card_path

    dst = tmp_path / "v.safetensors"
    shutil.copy(SHIPPED, dst)
    shutil.copy(card_path(SHIPPED), card_path(dst))
    return dst
