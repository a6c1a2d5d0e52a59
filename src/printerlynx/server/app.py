"""The app factory: routers, lifespan, error mapping and middleware, all built from one ``Settings``."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from printerlynx import __version__
from printerlynx.server.api import accounts, agent_files, agents, auth, health, jobs, printers, printfiles
from printerlynx.server.broker import create_broker
from printerlynx.server.context import AppContext
from printerlynx.server.db.migrate import upgrade_async
from printerlynx.server.db.session import create_engine, create_sessionmaker
from printerlynx.server.errors import PrinterlynxError, RateLimited
from printerlynx.server.metrics import HTTP_LATENCY, HTTP_REQUESTS
from printerlynx.server.settings import Settings
from printerlynx.server.storage import create_storage
from printerlynx.server.ws import endpoints as ws_endpoints
from printerlynx.server.ws.hub import Hub

logger = logging.getLogger("printerlynx.server")
WEB_DIR = Path(__file__).resolve().parent.parent / "web"


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The one error shape of the REST API."""
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}


async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PrinterlynxError)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    if exc.http_status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return JSONResponse(error_body(exc.code, exc.message, exc.details), exc.http_status, headers=headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Echo where and why, never the (possibly huge or secret) input itself.
    details = [
        {
            "loc": list(error.get("loc", ())),
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in exc.errors()
    ]
    first = details[0] if details else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(part) for part in first["loc"] if part != "body")
    message = f"{where}: {first['msg']}" if where else str(first["msg"])
    return JSONResponse(error_body("validation_error", message, details), 422)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated", 403: "forbidden"}
    code = codes.get(exc.status_code, "http_error")
    return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=exc.headers)


async def _unexpected_error(_request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unexpected error", exc_info=exc)
    return JSONResponse(error_body("internal_error", "internal server error"), 500)


class MetricsMiddleware:
    """Counts HTTP requests by route template (pure ASGI: WebSockets pass straight through)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the request and count its status."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_code = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            HTTP_REQUESTS.labels(scope["method"], template, str(status_code)).inc()
            HTTP_LATENCY.labels(scope["method"], template).observe(time.perf_counter() - started)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the backend application; nothing is connected until the lifespan starts."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        database_url = settings.resolved_database_url
        await upgrade_async(database_url)
        engine = create_engine(database_url)
        broker = create_broker(settings.broker_url)
        await broker.start()
        context = AppContext(
            settings=settings,
            engine=engine,
            sessionmaker=create_sessionmaker(engine),
            broker=broker,
            storage=create_storage(settings.storage_url, settings.data_dir),
            jwt_secret=settings.resolved_jwt_secret(),
        )
        context.hub = Hub(context)
        await context.hub.start()
        app.state.context = context
        logger.info(
            "Printerlynx %s ready (database %s, broker %s)",
            __version__,
            engine.url.drivername,
            settings.broker_url.split("://")[0],
        )
        try:
            yield
        finally:
            await context.hub.stop()
            await broker.stop()
            await engine.dispose()

    app = FastAPI(
        title="Printerlynx",
        version=__version__,
        lifespan=lifespan,
        description='Run a fleet of 3D printers from anywhere. Errors: `{"error": {"code", "message"}}`.',
    )
    app.add_exception_handler(PrinterlynxError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    for module in (auth, accounts, agents, printfiles, agent_files, printers, jobs, health):
        app.include_router(module.router)
    app.include_router(ws_endpoints.router)
    if settings.allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.allowed_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.add_middleware(MetricsMiddleware)
    if (WEB_DIR / "index.html").exists():
        app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web")
    return app
