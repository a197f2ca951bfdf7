"""Prometheus metrics of the agent, served over HTTP when ``ike-agent run --metrics-listen``.

Theory of operation: what changes on the hot path (RPCs by operation and outcome, the commit
latency histogram, the time of the last commit) is counted by ``prometheus_client`` objects as
it happens. What is state (sessions open, the configuration generation, and every metric an
extension such as the IKE negotiator offers through
:class:`agent.extensions.MetricsExtension`) is read only when Prometheus scrapes, so it costs
nothing between scrapes. The HTTP endpoint runs in ``prometheus_client``'s server thread; the
state is read on the asyncio loop (:class:`LoopCollector` hands the read over and waits), so
that no sessions dictionary or SA table is walked while the loop changes it. The text format
itself comes from ``prometheus_client`` (no hand-written exposition).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer, make_wsgi_app

from agent.datastore.subscriber import ConfigSnapshot

log = logging.getLogger("agent.metrics")

# Commit latency buckets (seconds): a small commit is a few ms, 100,000 policies some 100 ms.
COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# A scrape waits this long for the loop to read the state; a stuck loop gives a failed scrape.
SCRAPE_TIMEOUT = 5.0
# The HTTP endpoint: requests served at once (more are closed) and a socket timeout per request.
MAX_CONCURRENT_SCRAPES = 4
REQUEST_TIMEOUT = 10.0

StateReader = Callable[[], Iterable[Metric]]


class LoopCollector:
    """A ``prometheus_client`` collector whose metrics are produced by ``reader`` on ``loop``
    (the scrape's thread waits for them)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, reader: StateReader) -> None:
        self._loop = loop
        self._reader = reader

    def collect(self) -> Iterable[Metric]:
        try:
            if asyncio.get_running_loop() is self._loop:  # called on the loop (tests)
                return list(self._reader())
        except RuntimeError:
            pass
        result: concurrent.futures.Future[list[Metric]] = concurrent.futures.Future()

        def read() -> None:
            try:
                result.set_result(list(self._reader()))
            except Exception as exc:  # reported to the scrape, not the loop
                result.set_exception(exc)

        self._loop.call_soon_threadsafe(read)
        return result.result(timeout=SCRAPE_TIMEOUT)


class AgentMetrics:
    """The agent's metrics, in a registry of their own (no process-global registry)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.rpcs = Counter(
            "ike_agent_netconf_rpcs",
            "NETCONF RPCs answered, by operation and outcome (ok or rpc-error)",
            ["operation", "outcome"],
            registry=self.registry,
        )
        self.commit_seconds = Histogram(
            "ike_agent_netconf_commit_duration_seconds",
            "Time to answer a successful <commit> (validation, subscribers, persistence)",
            buckets=COMMIT_BUCKETS,
            registry=self.registry,
        )
        self.last_commit = Gauge(
            "ike_agent_netconf_last_commit_timestamp_seconds",
            "When the running configuration last changed (Unix time; 0: not since start)",
            registry=self.registry,
        )

    def rpc_answered(self, operation: str, ok: bool, seconds: float) -> None:
        self.rpcs.labels(operation, "ok" if ok else "rpc-error").inc()
        if ok and operation == "commit":
            self.commit_seconds.observe(seconds)

    def add_state(self, loop: asyncio.AbstractEventLoop, reader: StateReader) -> None:
        """Metrics read from the loop's state at each scrape."""
        self.registry.register(LoopCollector(loop, reader))

    def commit_subscriber(self) -> CommitTimes:
        return CommitTimes(self.last_commit)


class CommitTimes:
    """Commit subscriber recording when running last changed (commit, confirmed-commit
    rollback, copy-config to running: whatever goes through the commit pipeline)."""

    def __init__(self, gauge: Gauge, clock: Callable[[], float] = time.time) -> None:
        self._gauge = gauge
        self._clock = clock

    def prepare(self, snapshot: ConfigSnapshot) -> None:
        pass

    def commit(self, snapshot: ConfigSnapshot) -> None:
        self._gauge.set(self._clock())

    def abort(self, snapshot: ConfigSnapshot) -> None:
        pass


def gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class _QuietHandler(WSGIRequestHandler):
    """No line on standard error per scrape (wsgiref logs each request there)."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _BoundedServer(ThreadingWSGIServer):
    """At most MAX_CONCURRENT_SCRAPES requests at once; each socket times out."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._slots = threading.BoundedSemaphore(MAX_CONCURRENT_SCRAPES)
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            request.settimeout(REQUEST_TIMEOUT)
            super().process_request_thread(request, client_address)  # type: ignore[misc]
        finally:
            self._slots.release()


class MetricsEndpoint:
    """``GET /metrics`` (any path, as prometheus_client serves it) in a background thread."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server_class = type("MetricsServer", (_BoundedServer,), {"address_family": family})
        self._httpd: WSGIServer = make_server(
            host, port, make_wsgi_app(registry), server_class, handler_class=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="metrics", daemon=True
        )
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        sockname: Sequence[Any] = self._httpd.socket.getsockname()
        return str(sockname[0]), int(sockname[1])

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
