"""Typed domain errors with stable codes; one place maps them to HTTP and WebSocket replies."""

from __future__ import annotations

from typing import Any


class PrinterlynxError(Exception):
    """Base of every expected failure: a stable ``code``, an HTTP status and a human message."""

    code = "error"
    http_status = 400

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(PrinterlynxError):
    """The request is well formed but its values are not acceptable."""

    code = "invalid_input"
    http_status = 422


class Unauthenticated(PrinterlynxError):
    """Missing, invalid, expired or revoked credentials."""

    code = "unauthenticated"
    http_status = 401


class Forbidden(PrinterlynxError):
    """Authenticated, but this credential may not do this."""

    code = "forbidden"
    http_status = 403


class NotFound(PrinterlynxError):
    """No such object for this account (another account's objects are not found either)."""

    code = "not_found"
    http_status = 404


class Conflict(PrinterlynxError):
    """The object exists already or is in a state that does not allow this."""

    code = "conflict"
    http_status = 409


class TooLarge(PrinterlynxError):
    """The request body is over its limit."""

    code = "too_large"
    http_status = 413


class UnsupportedMedia(PrinterlynxError):
    """The uploaded content is not a print file."""

    code = "unsupported_media"
    http_status = 415


class RangeNotSatisfiable(PrinterlynxError):
    """The requested byte range lies outside the file."""

    code = "range_not_satisfiable"
    http_status = 416


class RateLimited(PrinterlynxError):
    """Too many attempts; try again later."""

    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int = 60) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(PrinterlynxError):
    """A dependency (agent, database, broker) cannot be reached right now."""

    code = "unavailable"
    http_status = 503
