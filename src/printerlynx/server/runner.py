"""How the backend is served: uvicorn with the WebSocket settings DESIGN.md asks for."""

from __future__ import annotations

import uvicorn

from printerlynx.server.app import create_app
from printerlynx.server.settings import Settings


def uvicorn_config(settings: Settings, host: str, port: int, **overrides: object) -> uvicorn.Config:
    """Uvicorn on the sans-I/O websockets backend, no compression, 64 KiB frames, 20 s pings."""
    options: dict[str, object] = {
        "host": host,
        "port": port,
        "ws": "websockets-sansio",
        "ws_max_size": settings.ws_max_message_bytes,
        "ws_ping_interval": settings.ws_ping_interval,
        "ws_ping_timeout": settings.ws_ping_timeout,
        "ws_per_message_deflate": False,
        "log_config": None,
        "access_log": False,
        "proxy_headers": True,
        "timeout_graceful_shutdown": 5,
    }
    options.update(overrides)
    return uvicorn.Config(create_app(settings), **options)  # type: ignore[arg-type]


def serve(settings: Settings, host: str, port: int) -> None:
    """Run the backend until interrupted."""
    uvicorn.Server(uvicorn_config(settings, host, port)).run()
