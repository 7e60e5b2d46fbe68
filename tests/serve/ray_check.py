"""Ray Serve on this machine: two replicas of verimap's deployment behind Ray's HTTP proxy on 127.0.0.1, called with
the real ``cohere`` SDK and compared with the in-process :meth:`verimap.Verifier.rank`.

Run by tests/serve/test_serve_ray.py inside a private network namespace (``unshare -n``, loopback only), since Ray's
processes otherwise connect to the machine's network address. Prints one JSON line (``RESULT {...}``) and exits 0
when every check passed.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time

QUERY = "Did the dog bite the man?"
DOCS = ["The man bit the dog.", "The dog bit the man.", "Dogs are loyal pets.", "A man walked his dog."]
QUERIES = [QUERY, "Which flights leave Paris for Rome?", "Did the man bite the dog?", "Is the cat on the mat?"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    import cohere
    import httpx
    import ray
    from ray import serve

    from verimap.serve.ray_serve import build
    from verimap.shared import shared_verifier

    started = time.perf_counter()
    port = free_port()
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"VERIMAP_RAY_TEST_KEY": "ray-key"}},
    )
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    # What `serve run verimap.serve.ray_serve:build num_replicas=2 ...` passes: strings.
    app = build({"num_replicas": "2", "num_cpus": "1", "threads": "1", "api_key_env": "VERIMAP_RAY_TEST_KEY"})
    serve.run(app, route_prefix="/")
    up = time.perf_counter() - started
    base = f"http://127.0.0.1:{port}"

    verifier = shared_verifier()
    client = cohere.ClientV2(api_key="ray-key", base_url=base)
    checks: dict[str, bool] = {}
    for q in QUERIES * 3:
        got = client.rerank(model="verimap", query=q, documents=DOCS)
        want = verifier.rank(q, DOCS)
        checks.setdefault("cohere results equal Verifier.rank", True)
        checks["cohere results equal Verifier.rank"] &= [(r.index, r.relevance_score) for r in got.results] == [
            (r.index, r.score) for r in want
        ]
    with httpx.Client(base_url=base, timeout=60) as http:
        checks["401 without the key"] = (
            http.post("/v2/rerank", json={"query": QUERY, "documents": DOCS}).status_code == 401
        )
        checks["/health open"] = http.get("/health").json()["status"] == "ready"
        pids = set()
        for _ in range(40):
            info = http.get("/info", headers={"Authorization": "Bearer ray-key"}).json()
            pids.add(info["pid"])
        checks["two replicas answered"] = len(pids) == 2
    serve.shutdown()
    ray.shutdown()
    print("RESULT " + json.dumps({"checks": checks, "startup_s": round(up, 1), "replica_pids": len(pids)}))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    sys.exit(main())
