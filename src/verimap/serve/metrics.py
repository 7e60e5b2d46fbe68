"""``GET /metrics``: Prometheus text format, one registry per app (so two apps in a process never mix counts).

- ``verimap_requests_total{endpoint, status}``: requests answered, by route (unknown paths count as ``other``).
- ``verimap_request_seconds{endpoint}``: latency histogram, from the first byte in to the last byte out.
- ``verimap_documents_total{endpoint}``: documents (or pairs) scored.
- ``verimap_token_cache_hits_total``, ``..._misses_total``, ``verimap_token_cache_hit_ratio``: the worker's token
  cache (:meth:`verimap.cache.TokenCache.stats`), read at scrape time.
- ``verimap_model_ready``: 1 once the model is loaded.

Each worker process (``--workers N``) and each Ray Serve replica keeps its own figures: scrape them one by one
(Ray Serve also exports its own request metrics).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

BUCKETS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


class _Live:
    """Figures read when scraped: the token cache's counters and whether the model is loaded."""

    def __init__(self, cache_stats: Callable[[], dict | None], ready: Callable[[], bool]) -> None:
        self.cache_stats = cache_stats
        self.ready = ready

    def collect(self) -> Iterator:
        yield GaugeMetricFamily("verimap_model_ready", "1 once the verifier is loaded", value=float(self.ready()))
        stats = self.cache_stats()
        if stats is None:
            return
        hits, misses = stats["hits"], stats["misses"]
        yield CounterMetricFamily("verimap_token_cache_hits", "token cache lookups served", value=hits)
        yield CounterMetricFamily("verimap_token_cache_misses", "token cache lookups encoded", value=misses)
        yield GaugeMetricFamily(
            "verimap_token_cache_hit_ratio",
            "hits / lookups since the worker started",
            value=hits / (hits + misses) if hits + misses else 0.0,
        )
        yield GaugeMetricFamily("verimap_token_cache_bytes", "bytes held in memory", value=stats["bytes"])


class Metrics:
    """The counters one app keeps; :meth:`render` is the ``/metrics`` body."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(
        self, endpoints: Callable[[], set[str]], cache_stats: Callable[[], dict | None], ready: Callable[[], bool]
    ) -> None:
        self.endpoints = endpoints
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "verimap_requests", "HTTP requests answered", ["endpoint", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "verimap_request_seconds", "request latency", ["endpoint"], buckets=BUCKETS, registry=self.registry
        )
        self.documents = Counter("verimap_documents", "documents or pairs scored", ["endpoint"], registry=self.registry)
        self.registry.register(_Live(cache_stats, ready))

    def endpoint(self, path: str) -> str:
        return path if path in self.endpoints() else "other"  # a label per random 404 path would grow forever

    def observe(self, path: str, status: int, seconds: float) -> None:
        endpoint = self.endpoint(path)
        self.requests.labels(endpoint, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)

    def scored(self, path: str, count: int) -> None:
        self.documents.labels(self.endpoint(path)).inc(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)
