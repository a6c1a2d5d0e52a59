"""``/health`` and ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from printerlynx.server.api.deps import ContextDep
from printerlynx.server.metrics import REGISTRY

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health(context: ContextDep) -> JSONResponse:
    """200 when the database, broker and storage answer; 503 naming what does not."""
    checks: dict[str, str] = {}
    try:
        async with context.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:  # any failure of the database is a failed check, not a crash
        checks["database"] = "unavailable"
    checks["broker"] = "ok" if await context.broker.healthy() else "unavailable"
    checks["storage"] = "ok" if await context.storage.healthy() else "unavailable"
    healthy = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks}, 200 if healthy else 503
    )


@router.get("/metrics")
async def metrics() -> Response:
    """Prometheus text exposition."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
