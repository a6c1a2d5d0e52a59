"""The message-type → handler registry, and the one place that turns failures into ERROR replies."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec
import orjson
from pydantic import BaseModel, ValidationError

from printerlynx.protocol.envelope import Envelope
from printerlynx.server.errors import PrinterlynxError

logger = logging.getLogger("printerlynx.ws")

C = TypeVar("C")
Handler = Callable[[C, Envelope, Any], Awaitable[None]]

UNKNOWN_TYPE = "error"


@dataclass(frozen=True, slots=True)
class Route(Generic[C]):
    """A handler and the model its ``data`` is validated with."""

    model: type[BaseModel] | type[msgspec.Struct]
    handler: Handler[C]

    def parse(self, data: dict[str, Any]) -> Any:
        """Validate ``data`` with the route's model (msgspec Structs on hot paths, pydantic elsewhere)."""
        if issubclass(self.model, msgspec.Struct):
            return msgspec.convert(data, self.model)
        return self.model.model_validate(data)


class Registry(Generic[C]):
    """Maps each message ``type`` to one handler; the endpoint never grows an ``if type ==`` ladder."""

    def __init__(self, error_status: str = "ERROR") -> None:
        self.routes: dict[str, Route[C]] = {}
        self.error_status = error_status

    def register(
        self, message_type: str, model: type[BaseModel] | type[msgspec.Struct]
    ) -> Callable[[Handler[C]], Handler[C]]:
        """Decorator: ``@registry.register("print_job", PrintJobRequest)``."""

        def decorate(handler: Handler[C]) -> Handler[C]:
            self.routes[message_type] = Route(model, handler)
            return handler

        return decorate

    async def dispatch(self, connection: C, envelope: Envelope, reply: Callable[[str], None]) -> None:
        """Validate ``data`` with the type's model and run its handler; every failure becomes a reply."""
        route = self.routes.get(envelope.type)
        if route is None:
            reply(error_frame(UNKNOWN_TYPE, f"unknown message type: {envelope.type[:64]!r}", envelope.id))
            return
        try:
            payload = route.parse(envelope.data)
            await route.handler(connection, envelope, payload)
        except ValidationError as exc:
            reply(error_frame(envelope.type, describe_validation_error(exc), envelope.id))
        except msgspec.ValidationError as exc:
            reply(error_frame(envelope.type, str(exc), envelope.id))
        except PrinterlynxError as exc:
            reply(error_frame(envelope.type, exc.message, envelope.id))


def describe_validation_error(exc: ValidationError) -> str:
    """A short human sentence for the first validation problem (never echoing the input)."""
    errors = exc.errors(include_input=False, include_url=False)
    if not errors:
        return "invalid data"
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    message = str(first.get("msg", "invalid value"))
    return f"{where}: {message}" if where else message


def error_frame(message_type: str, message: str, request_id: str | int | None = None) -> str:
    """``{"type", "data": {"status": "ERROR", "message"}, "id"?}`` as text."""
    return frame(message_type, {"status": "ERROR", "message": message}, request_id)


def frame(message_type: str, data: dict[str, Any], request_id: str | int | None = None) -> str:
    """One text frame."""
    body: dict[str, Any] = {"type": message_type, "data": data}
    if request_id is not None:
        body["id"] = request_id
    return orjson.dumps(body).decode()
