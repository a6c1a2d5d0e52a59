"""The bare same-stack relay: FastAPI on uvicorn (``ws="websockets-sansio"``), nothing else.

It speaks the same frames as the backend on the same paths, so ``bench/loadgen.c`` drives both alike, but
it does none of the work the product does: tokens are not checked (``u.<account>`` for a session,
``a.<account>.<agent_uuid>`` for an agent), nothing is validated, persisted or cached, and a status is
sent straight to the owner's sockets (no per-connection queue). It parses the frame, stamps the
connection's ``agent_uuid``, serialises once with orjson and fans out — the floor under our relay on this
stack. Run: ``python -m bench.relay_bare --port 8000 [--loop asyncio|uvloop]``.
"""

from __future__ import annotations

import argparse
from typing import Any

import orjson
import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

AUTH_OK_USER = '{"type":"authentication","data":{"status":"OK"}}'
AUTH_OK_AGENT = '{"type":"authentication","data":{"status":"success"}}'


def create_app() -> FastAPI:
    """The bare relay: one dict of sessions per account, two WebSocket routes and a health check."""
    app = FastAPI(title="printerlynx-bare-relay")
    sessions: dict[str, set[WebSocket]] = {}

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok"}

    async def authenticate(websocket: WebSocket) -> list[str]:
        message = orjson.loads(await websocket.receive_text())
        token: str = message["data"]["token"]
        return token.split(".")

    @app.websocket("/api/v1/ws")
    async def user_endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            _, account = await authenticate(websocket)
        except WebSocketDisconnect:
            return
        group = sessions.setdefault(account, set())
        group.add(websocket)
        try:
            await websocket.send_text(AUTH_OK_USER)
            while True:
                await websocket.receive_text()
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            group.discard(websocket)

    @app.websocket("/api/v1/ws/agent")
    async def agent_endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            _, account, agent_uuid = await authenticate(websocket)
            await websocket.send_text(AUTH_OK_AGENT)
            while True:
                message = orjson.loads(await websocket.receive_text())
                message["data"]["agent_uuid"] = agent_uuid  # stamped from the connection, as ours does
                targets = sessions.get(account)
                if targets:
                    text = orjson.dumps(message).decode()
                    for target in tuple(targets):
                        await target.send_text(text)
        except (WebSocketDisconnect, RuntimeError):
            pass

    return app


def main() -> None:
    """Serve the bare relay on 127.0.0.1."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--loop", default="asyncio", choices=["asyncio", "uvloop", "auto"])
    args = parser.parse_args()
    uvicorn.run(
        create_app(),
        host="127.0.0.1",
        port=args.port,
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        loop=args.loop,
        log_level="warning",
        access_log=False,
        backlog=4096,
    )


if __name__ == "__main__":
    main()
