"""``/api/v1/printfiles``: upload, list, download, thumbnails (being built)."""

from __future__ import annotations

from fastapi import APIRouter

from printerlynx.server.api.schemas import ERROR_RESPONSES

router = APIRouter(prefix="/api/v1/printfiles", tags=["printfiles"], responses=ERROR_RESPONSES)
