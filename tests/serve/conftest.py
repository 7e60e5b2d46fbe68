"""Real servers on loopback: uvicorn in a thread, on a socket bound to a free 127.0.0.1 port, serving
:func:`verimap.serve.create_app` over the session's verifier (so the test process loads the model once)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")  # before haystack is imported: no telemetry calls

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

KEY = "s3cret-test-key"


@pytest.fixture(scope="session")
def api_key() -> str:
    """The key of :func:`keyed_url`'s service."""
    return KEY


@contextmanager
def running(app) -> Iterator[str]:
    """``app`` served by uvicorn on a free loopback port until the block ends; yields the base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture(scope="session")
def serve():
    """:func:`running`, for a test that needs a server of its own (test modules cannot import this conftest)."""
    return running


@pytest.fixture(scope="session")
def base_url(verifier) -> Iterator[str]:
    """The service without an API key."""
    from verimap.serve import create_app

    with running(create_app(verifier)) as url:
        yield url


@pytest.fixture(scope="session")
def keyed_url(verifier) -> Iterator[str]:
    """The service with API key :data:`KEY`."""
    from verimap.serve import create_app

    with running(create_app(verifier, api_key=KEY)) as url:
        yield url


@pytest.fixture(scope="session")
def http(base_url) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=60) as client:
        yield client
