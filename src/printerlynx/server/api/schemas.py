"""Request and response bodies of the REST API shared by several routers."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from printerlynx.protocol.messages import canonical_uuid

T = TypeVar("T")

Username = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9_.\-]{3,64}$")]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        max_length=320,
        pattern=r"^[^@\s\x00-\x1f]{1,64}@[^@\s\x00-\x1f]+\.[^@\s\x00-\x1f]+$",
    ),
]
# Long enough to never truncate a real passphrase; longer bodies are refused before hashing.
Password = Annotated[str, Field(min_length=1, max_length=1024)]


class StrictBody(BaseModel):
    """Request bodies refuse unknown fields so typos fail loudly."""

    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    """The one error shape: ``{"error": {"code", "message", "details"?}}``."""

    class Error(BaseModel):
        """What went wrong."""

        code: str
        message: str
        details: object | None = None

    error: Error


class TokenOut(BaseModel):
    """A user token."""

    token: str
    token_type: str = "bearer"
    expires_in: int


class Page(BaseModel, Generic[T]):
    """A page of a list: ``items`` and the ``total`` across pages."""

    items: list[T]
    total: int
    limit: int
    offset: int


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 413, 415, 416, 422, 429, 503)
}


UUIDPath = Annotated[str, Path(min_length=32, max_length=36), AfterValidator(canonical_uuid)]
