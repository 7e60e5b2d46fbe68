"""verimap as a rerank service, called with the Cohere SDK. Offline, about 10 seconds.

What it shows:

1. ``verimap serve`` started as its own process on 127.0.0.1 (a free port), with an API key read from an
   environment variable (``--api-key-env``): what you would run on a server;
2. waiting for ``GET /health`` to say ``ready`` (the model loads in the background after the port opens);
3. the ``cohere`` SDK's ``ClientV2`` pointed at it with ``base_url``: no verimap code on the client side. Each result
   has Cohere's ``index`` and ``relevance_score`` and verimap's ``verifier_score`` and ``verifier_accepted``;
4. the server stopped.

Needs ``pip install -e '.[serve]'`` and the ``cohere`` package (both in ``.[all]``). docs/serve.md has every route.

    python examples/rerank_service.py
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import cohere

QUERY = "Did the dog bite the man?"
DOCUMENTS = [
    "The man bit the dog.",
    "The dog bit the man.",
    "Dogs are loyal pets.",
    "A dog bit a man near the harbour.",
    "Flights from Paris to Rome leave every two hours.",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_ready(url: str, server: subprocess.Popen, timeout: float = 120) -> dict:
    """Poll ``/health`` until the model is loaded (200), the server exits, or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"verimap serve exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:  # 503: the model is loading, or failed to load (then say why)
            body = json.load(exc)
            if body.get("status") == "failed":
                raise RuntimeError(f"verimap serve could not load the model: {body}") from None
        except (urllib.error.URLError, ConnectionError):  # not listening yet
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url}/health did not say ready within {timeout:.0f} s")


def main() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    key = secrets.token_urlsafe(16)
    command = [sys.executable, "-m", "verimap", "serve", "--port", str(port), "--api-key-env", "RERANK_KEY"]
    command += ["--log-level", "warning"]
    print("$ RERANK_KEY=... verimap serve --port", port, "--api-key-env RERANK_KEY --log-level warning")
    # Its own working directory: no ./verimap.toml or ./verimap-index of yours is picked up.
    with tempfile.TemporaryDirectory(prefix="verimap-serve-") as workdir:
        server = subprocess.Popen(command, cwd=workdir, env={**os.environ, "RERANK_KEY": key})
        try:
            started = time.monotonic()
            health = wait_until_ready(url, server)
            print(f"{url}/health: {health} after {time.monotonic() - started:.1f} s\n")

            client = cohere.ClientV2(api_key=key, base_url=url)  # the SDK appends /v2/rerank itself
            response = client.rerank(model="verimap", query=QUERY, documents=DOCUMENTS, top_n=3)
            print(f"Query: {QUERY}")
            print("top 3 of", len(DOCUMENTS), "documents (relevance = what they are ordered by; verifier = P(match)):")
            for r in response.results:
                verdict = "ACCEPT" if r.verifier_accepted else "REJECT"
                print(
                    f"  #{r.index}  relevance {r.relevance_score:.3f}  verifier {r.verifier_score:.3f}  {verdict}  "
                    f"{DOCUMENTS[r.index]}"
                )
        finally:
            server.terminate()  # uvicorn shuts down gracefully on SIGTERM
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    print("\nserver stopped")


if __name__ == "__main__":
    main()
