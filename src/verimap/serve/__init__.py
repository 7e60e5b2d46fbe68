"""``verimap serve``: the verifier behind HTTP, in the rerank formats existing clients speak (Cohere's
``/v1/rerank`` and ``/v2/rerank``, text-embeddings-inference's ``/rerank``), plus ``/verify``, ``/explain``,
``/health``, ``/info`` and ``/metrics``. Needs ``pip install 'verimap[serve]'``.

- :mod:`verimap.serve.app`: :func:`create_app`, the FastAPI app (the routes translate JSON to one core call).
- :mod:`verimap.serve.wire`: the request and response shapes, and the errors that name the field.
- :mod:`verimap.serve.settings`: how each worker process or replica builds its app.
- :mod:`verimap.serve.ray_serve`: the same app as a Ray Serve deployment (``pip install 'verimap[ray]'``).

docs/serve.md has the routes, the limits and the client examples.
"""

from __future__ import annotations

from verimap.serve.app import create_app

__all__ = ["create_app"]
