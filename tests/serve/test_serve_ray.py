"""The scale-out recipe on this machine: two Ray Serve replicas of verimap's deployment (tests/serve/ray_check.py),
run in a private network namespace so every process Ray starts can reach loopback only."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CHECK = Path(__file__).with_name("ray_check.py")


def namespace_problem() -> str | None:
    """Why ``unshare -n`` cannot run the check here, or ``None``."""
    if not sys.platform.startswith("linux"):
        return "needs Linux network namespaces"
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs `unshare` (util-linux) and `ip` (iproute2) to run Ray in a private network namespace"
    probe = subprocess.run(["unshare", "-n", "sh", "-c", "ip link set lo up"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot create a network namespace here (root needed): {probe.stderr.strip()}"
    return None


@pytest.mark.slow
def test_two_ray_serve_replicas_answer_like_the_library():
    pytest.importorskip("ray.serve")
    pytest.importorskip("cohere")
    problem = namespace_problem()
    if problem:
        pytest.skip(problem)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", f"ip link set lo up && exec {sys.executable} {CHECK}"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"no result (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    result = json.loads(lines[-1][len("RESULT ") :])
    print(f"\nray: {result}")
    assert all(result["checks"].values()), result
    assert done.returncode == 0
