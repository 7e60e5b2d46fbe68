"""``verimap serve`` on Ray Serve: N replicas of the same app behind Ray's HTTP proxy (``pip install 'verimap[ray]'``).

The service keeps no state of its own (the corpus lives in a vector store such as a ``chroma run`` server, the
token cache in each replica's memory, read through a shared token file where there is one), so replicas scale
reads and Ray routes, queues and restarts them. Each replica builds the app of :mod:`verimap.serve.app` from
:class:`~verimap.serve.settings.Settings` as it starts, model loaded first: Ray sends it traffic only then.

From the shell (Ray's own CLI; ``key=value`` arguments go to :func:`build`)::

    serve run verimap.serve.ray_serve:build num_replicas=2 threads=1

From Python::

    from ray import serve
    from verimap.serve.ray_serve import deployment

    serve.run(deployment(num_replicas=2), route_prefix="/")
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from typing import Any

from verimap.optional import require

require("ray", install="'verimap[ray]'", who="verimap's Ray Serve deployment")

from ray import serve  # noqa: E402

from verimap.config import KEYS, check, load_config  # noqa: E402
from verimap.serve.settings import Settings  # noqa: E402


def deployment(settings: Settings | None = None, **options: Any) -> serve.Application:
    """The bound application, ready for ``serve.run``: each replica builds its own app and verifier.

    :param settings: the service's settings (default: the shipped model, no key, default limits).
    :param options: Ray Serve deployment options (``num_replicas``, ``ray_actor_options``, ``max_ongoing_requests``,
        ...). Each replica reserves one CPU unless ``ray_actor_options`` says otherwise.
    """
    settings = settings or Settings()

    def build_app():  # run by Ray in each replica as it starts, so the app (and its model) is never pickled
        return settings.app(settings.load_verifier())

    @serve.deployment(name="verimap")
    @serve.ingress(build_app)
    class VerimapReplica:
        """One replica: its own verifier and token cache behind :func:`verimap.serve.app.create_app`."""

    return VerimapReplica.options(**options).bind()


def build(args: dict[str, str]) -> serve.Application:
    """``serve run verimap.serve.ray_serve:build key=value ...``: ``num_replicas``, ``num_cpus`` (per replica), the
    :class:`~verimap.serve.settings.Settings` fields (``api_key_env``, ``token_file``, ``threads``, ``max_documents``,
    ...) and ``verimap.toml`` keys (``weights``, ``encoder``, ``threshold``, ``mode``, ...) over the file ``config``
    names (default: ``./verimap.toml`` if present), as the CLI reads them."""
    args = dict(args)
    options: dict[str, Any] = {}
    if "num_replicas" in args:
        options["num_replicas"] = int(args.pop("num_replicas"))
    if "num_cpus" in args:
        options["ray_actor_options"] = {"num_cpus": float(args.pop("num_cpus"))}
    cfg = load_config(args.pop("config", None))
    overrides = {k: _value(args.pop(k)) for k in list(args) if k in KEYS}
    cfg = check(replace(cfg, **overrides))
    settings = Settings.from_dict({"config": asdict(cfg), **{k: _value(v) for k, v in args.items()}})
    return deployment(settings, **options)


def _value(text: str) -> Any:
    """A ``key=value`` argument as JSON when it reads as JSON (numbers, ``null``), else the string."""
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text
