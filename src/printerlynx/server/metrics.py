"""Prometheus metrics of one backend process (a registry per process, not the global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "printerlynx_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=REGISTRY
)
HTTP_LATENCY = Histogram(
    "printerlynx_http_request_seconds", "HTTP request latency", ["method", "route"], registry=REGISTRY
)
WS_CONNECTIONS = Gauge(
    "printerlynx_ws_connections", "Open WebSocket connections", ["endpoint"], registry=REGISTRY
)
WS_MESSAGES = Counter(
    "printerlynx_ws_messages_total", "WebSocket messages received", ["endpoint", "type"], registry=REGISTRY
)
WS_DROPPED = Counter(
    "printerlynx_ws_slow_consumers_dropped_total", "Connections dropped for not reading", registry=REGISTRY
)
COMMANDS = Counter(
    "printerlynx_commands_total", "Commands relayed to agents", ["type", "status"], registry=REGISTRY
)
UPLOADED_BYTES = Counter("printerlynx_uploaded_bytes_total", "Bytes of print files stored", registry=REGISTRY)
