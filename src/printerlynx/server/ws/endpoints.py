"""The two WebSocket endpoints: accept, authenticate within the deadline, then read and dispatch.

The read loop only decodes, rate-limits and dispatches; handlers live in ``user.py`` and ``agent.py``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket
from pydantic import ValidationError

from printerlynx.protocol.envelope import Envelope, EnvelopeError, decode_envelope
from printerlynx.protocol.messages import Authentication
from printerlynx.server.context import AppContext
from printerlynx.server.errors import PrinterlynxError, Unavailable
from printerlynx.server.metrics import WS_CONNECTIONS, WS_MESSAGES
from printerlynx.server.services import accounts, agents
from printerlynx.server.ws import agent as agent_handlers
from printerlynx.server.ws import user as user_handlers
from printerlynx.server.ws.connection import CLOSE_AUTH_TIMEOUT, CLOSE_POLICY, Connection
from printerlynx.server.ws.hub import AgentConnection, Hub, UserConnection, agent_status_body
from printerlynx.server.ws.registry import Registry, error_frame, frame

logger = logging.getLogger("printerlynx.ws")
router = APIRouter()
CLOSE_TRY_AGAIN = 1013

AUTH = "authentication"


class _Disconnected(Exception):
    """The peer closed the socket."""


async def _receive_text(websocket: WebSocket) -> str:
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise _Disconnected
    text = message.get("text")
    if text is None:
        raw: bytes = message.get("bytes") or b""
        text = raw.decode("utf-8", errors="replace")
    return text


def _origin_allowed(websocket: WebSocket, allowed: list[str]) -> bool:
    """Browsers send ``Origin``; it must be listed, or be this server itself when nothing is listed."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser: scripts and agents
    if allowed:
        return "*" in allowed or origin.rstrip("/") in allowed
    return urlsplit(origin).netloc == websocket.headers.get("host", "")


async def _authenticate(websocket: WebSocket, context: AppContext) -> tuple[Envelope, str]:
    """Wait (within the deadline) for the authentication message; returns it and its token."""
    async with asyncio.timeout(context.settings.ws_auth_timeout):
        text = await _receive_text(websocket)
    envelope = decode_envelope(text)
    if envelope.type != AUTH:
        raise EnvelopeError("authenticate first", AUTH, envelope.id)
    try:
        token = Authentication.model_validate(envelope.data).token
    except ValidationError as exc:
        raise EnvelopeError("token is required", AUTH, envelope.id) from exc
    return envelope, token


async def _read_loop(connection: Connection, registry: Registry[Any], endpoint: str) -> None:
    websocket = connection.websocket
    reply = connection.send
    while not connection.closed.is_set():
        text = await _receive_text(websocket)
        try:
            envelope = decode_envelope(text)
        except EnvelopeError as exc:
            reply(error_frame(exc.message_type or "error", exc.message, exc.request_id))
            continue
        if not connection.rate_limit.take():
            reply(error_frame(envelope.type, "rate limit exceeded; slow down", envelope.id))
            continue
        WS_MESSAGES.labels(endpoint, envelope.type if envelope.type in registry.routes else "unknown").inc()
        if envelope.type == AUTH:
            reply(error_frame(AUTH, "already authenticated", envelope.id))
            continue
        await registry.dispatch(connection, envelope, reply)
        # Frames that arrived together are handed over without a suspension point; yield once per message
        # so the writers of the sessions this message fanned out to get to run before the next one.
        await asyncio.sleep(0)


def _new_connection(cls: type[Connection], websocket: WebSocket, context: AppContext) -> Any:
    settings = context.settings
    return cls(websocket, settings.ws_send_queue, settings.ws_rate_per_second, settings.ws_rate_burst)


@router.websocket("/api/v1/ws")
async def user_endpoint(websocket: WebSocket) -> None:
    """Dashboards and scripts: authenticate with the account's JWT, then commands and live status."""
    context: AppContext = websocket.app.state.context
    if not _origin_allowed(websocket, context.settings.allowed_origins):
        await websocket.close(CLOSE_POLICY, "origin not allowed")
        return
    await websocket.accept()
    connection: UserConnection = _new_connection(UserConnection, websocket, context)
    connection.start()
    hub = context.hub
    registered = False
    WS_CONNECTIONS.labels("user").inc()
    try:
        try:
            envelope, token = await _authenticate(websocket, context)
            async with context.sessionmaker() as session:
                account = await accounts.authenticate(session, context.jwt_secret, token)
        except TimeoutError:
            connection.close(CLOSE_AUTH_TIMEOUT, "authentication timeout")
            return
        except (EnvelopeError, PrinterlynxError) as exc:
            request_id = exc.request_id if isinstance(exc, EnvelopeError) else envelope.id
            connection.send(frame(AUTH, {"status": "ERROR", "message": exc.message}, request_id))
            connection.close(CLOSE_POLICY, "authentication failed")
            return
        connection.account_uuid = account.uuid
        connection.send(frame(AUTH, {"status": "OK"}, envelope.id))
        # Subscribe before reading the snapshot, so nothing that happens in between is missed.
        await hub.add_session(connection)
        registered = True
        await _send_snapshot(hub, connection)
        await _read_loop(connection, user_handlers.registry, "user")
    except _Disconnected:
        pass
    except Unavailable:  # the broker (Redis) is down: no snapshot can be made; the client retries
        connection.close(CLOSE_TRY_AGAIN, "service unavailable, try again later")
    finally:
        WS_CONNECTIONS.labels("user").dec()
        if registered:
            await hub.remove_session(connection)
        await connection.finish()


async def _send_snapshot(hub: Hub, connection: UserConnection) -> None:
    """One ``agent_status`` per agent of the account, then the last status of every printer online."""
    async with hub.context.sessionmaker() as session:
        rows = await agents.list_for(session, connection.account_uuid)
    presence = await hub.broker.get_presence([row.uuid for row in rows])
    for row in rows:
        online = row.uuid in presence
        connection.send(
            frame("agent_status", agent_status_body(row.uuid, row.name, "online" if online else "offline"))
        )
    for row in rows:
        if row.uuid in presence:
            for data in (await hub.broker.get_printer_statuses(row.uuid)).values():
                connection.send(data.decode())


@router.websocket("/api/v1/ws/agent")
async def agent_endpoint(websocket: WebSocket) -> None:
    """Agents: authenticate with the agent token, then report status and acknowledge commands."""
    context: AppContext = websocket.app.state.context
    await websocket.accept()
    connection: AgentConnection = _new_connection(AgentConnection, websocket, context)
    connection.start()
    hub = context.hub
    registered = False
    WS_CONNECTIONS.labels("agent").inc()
    try:
        try:
            envelope, token = await _authenticate(websocket, context)
            async with context.sessionmaker() as session:
                agent = await agents.authenticate(session, token)
                await agents.touch(session, agent.uuid)
        except TimeoutError:
            connection.close(CLOSE_AUTH_TIMEOUT, "authentication timeout")
            return
        except (EnvelopeError, PrinterlynxError) as exc:
            request_id = exc.request_id if isinstance(exc, EnvelopeError) else envelope.id
            # The spec's agent replies are lower case and always say "Invalid token".
            connection.send(frame(AUTH, {"status": "error", "message": "Invalid token"}, request_id))
            connection.close(CLOSE_POLICY, "authentication failed")
            return
        connection.init_agent(agent.account_uuid, agent.uuid, agent.name)
        connection.send(frame(AUTH, {"status": "success"}, envelope.id))
        registered = True  # before add_agent: if the broker fails half-way, remove_agent undoes it
        await hub.add_agent(connection)
        logger.info("agent %s (%s) connected", agent.name, agent.uuid)
        await _read_loop(connection, agent_handlers.registry, "agent")
    except _Disconnected:
        pass
    except Unavailable:  # the broker (Redis) is down: the agent retries (1013 is "try again later")
        connection.close(CLOSE_TRY_AGAIN, "service unavailable, try again later")
    finally:
        WS_CONNECTIONS.labels("agent").dec()
        if registered:
            logger.info(
                "agent %s disconnected (%s)", connection.agent_name, connection.close_code or "peer closed"
            )
            try:
                await hub.remove_agent(connection)
            except Unavailable:  # the broker announces it offline when it is back (sweep_presence)
                logger.warning("agent %s left while the broker was unavailable", connection.agent_uuid)
            async with context.sessionmaker() as session:
                await agents.touch(session, connection.agent_uuid)
        await connection.finish()
