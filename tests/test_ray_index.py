"""Ray Data indexing (verimap.ray_index) gives the same index as one process: same passages, ids, metadata and
vectors in Chroma, the same codec and token rows. Run in a private network namespace, where Ray and Chroma bind to
loopback only (Ray's processes reach for the machine's network address otherwise; tests may only talk to loopback)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("chromadb")
pytest.importorskip("ray")


@pytest.mark.slow  # starts Ray, a chroma server and two encoder actors: about two minutes on 2 cores
def test_ray_data_index_is_the_single_process_index(tmp_path, shared_data):
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        pytest.skip("needs root, unshare and ip for a private network namespace")
    script = Path(__file__).with_name("ray_index_run.py")
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "HF_HUB_OFFLINE": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    proc = subprocess.run(
        [
            "unshare",
            "-n",
            "sh",
            "-c",
            'ip link set lo up && exec "$0" "$@"',
            sys.executable,
            str(script),
            str(tmp_path),
            str(shared_data),
            "40",
        ],
        capture_output=True,
        text=True,
        timeout=1200,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads((tmp_path / "result.json").read_text())
    assert got["passages"] > 40 and got["split_documents"] > 0  # long abstracts became several passages
    assert got["written"] == got["passages"]
    assert got["same_ids"] and got["same_documents"] and got["same_metadata"], got
    assert got["max_embedding_diff"] < 1e-6, got
    assert got["codecs"] == 1 and got["same_codec"], got  # trained once, on the same sample
    assert got["coded_rows"] == got["passages"] and got["same_token_keys"] and got["same_token_rows"], got
