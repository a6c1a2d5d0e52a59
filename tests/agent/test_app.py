"""The agent app against a small real WebSocket backend written here, so every protocol edge is reachable.

The backend here speaks ``/api/v1/ws/agent`` like the real one (authentication, ids, close codes) and
serves print files over HTTP; the printers are the real virtual printers. The full system is exercised in
``test_e2e.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import http
import itertools
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from printerlynx.agent.app import EXIT_REJECTED, EXIT_REVOKED, AgentApp, AgentStopped
from printerlynx.agent.config import load_config
from printerlynx.agent.slot import default_printer_factory

TOKEN = "plx_agent_test_token"
GCODE = b"".join(b"G1 X%d Y%d F6000\n" % (i, i) for i in range(40))


class Session:
    """One authenticated agent connection, seen from the backend's side."""

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.seen: list[dict[str, Any]] = []

    async def recv(self, timeout: float = 10) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            message: dict[str, Any] = orjson.loads(await self.ws.recv())
        self.seen.append(message)
        return message

    async def recv_until(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 15
    ) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                message = await self.recv(timeout)
                if predicate(message):
                    return message

    async def request(self, message_type: str, data: dict[str, Any]) -> dict[str, Any]:
        request_id = f"r{next(self.ids)}"
        await self.ws.send(orjson.dumps({"type": message_type, "id": request_id, "data": data}).decode())
        reply = await self.recv_until(lambda m: m.get("id") == request_id)
        assert reply["type"] == message_type
        data_out: dict[str, Any] = reply["data"]
        return data_out

    async def status_of(
        self, printer_uuid: str, predicate: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        message = await self.recv_until(
            lambda m: (
                m["type"] == "printer_status"
                and m["data"]["printer_uuid"] == printer_uuid
                and predicate(m["data"])
            )
        )
        data: dict[str, Any] = message["data"]
        return data


class Backend:
    """A WebSocket + HTTP server on a free port that authenticates agents and serves ``files``."""

    def __init__(self) -> None:
        self.token = TOKEN
        self.sessions: asyncio.Queue[Session] = asyncio.Queue()
        self.files: dict[str, bytes] = {}
        self.downloads: list[str | None] = []
        self.release = asyncio.Event()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path == "/api/v1/ws/agent":
            return None
        if request.path == "/files/slow":
            await self.release.wait()  # a download that is still going when the job is cancelled
        self.downloads.append(request.headers.get("Authorization"))
        body = self.files.get(request.path)
        if body is None or request.headers.get("Authorization") != f"Bearer {self.token}":
            return connection.respond(http.HTTPStatus.NOT_FOUND, "not found\n")
        headers = Headers([("Content-Length", str(len(body))), ("Content-Type", "text/plain")])
        return Response(200, "OK", headers, body)

    async def _handler(self, ws: ServerConnection) -> None:
        auth = orjson.loads(await ws.recv())
        if auth.get("type") != "authentication" or auth["data"].get("token") != self.token:
            await ws.send('{"type":"authentication","data":{"status":"error","message":"Invalid token"}}')
            await ws.close(1008, "authentication failed")
            return
        await ws.send('{"type":"authentication","data":{"status":"success"}}')
        await self.sessions.put(Session(ws))
        await ws.wait_closed()

    async def session(self, timeout: float = 15) -> Session:
        async with asyncio.timeout(timeout):
            return await self.sessions.get()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Backend]:
        async with serve(self._handler, "127.0.0.1", 0, process_request=self._http) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            try:
                yield self
            finally:
                self.release.set()


def make_app(backend: Backend, tmp_path: Path, printers: list[str] | None = None, **kwargs: Any) -> AgentApp:
    config = load_config(
        server=backend.url,
        token=TOKEN,
        printers=printers or ["MK3=virtual", "Ender=virtual"],
        state_dir=tmp_path / "state",
        environ={},
    )
    return AgentApp(config, default_printer_factory, backoff_base=0.05, backoff_cap=0.2, **kwargs)


def scenario(
    tmp_path: Path, body: Callable[[Backend, AgentApp], Coroutine[Any, Any, None]], **kwargs: Any
) -> None:
    """Run ``body`` with a backend and a running agent; the agent is stopped afterwards."""

    async def main() -> None:
        async with Backend().running() as backend:
            app = make_app(backend, tmp_path, **kwargs)
            running = asyncio.create_task(app.run())
            try:
                async with asyncio.timeout(60):
                    await body(backend, app)
            finally:
                running.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await running

    asyncio.run(main())


def uuid_of(app: AgentApp, name: str) -> str:
    return next(uuid for uuid, slot in app.slots.items() if slot.spec.name == name)


def test_reports_every_printer_after_authenticating(tmp_path: Path) -> None:
    async def body(backend: Backend, app: AgentApp) -> None:
        session = await backend.session()
        statuses = {}
        while len(statuses) < 2:
            message = await session.recv()
            assert message["type"] == "printer_status"
            statuses[message["data"]["printer_identifier"]] = message["data"]
        assert set(statuses) == {"MK3", "Ender"}
        mk3 = await session.status_of(uuid_of(app, "MK3"), lambda s: s["status"] == "available")
        assert mk3["printer_adapter_identifier"] == "VIRTUAL"
        assert mk3["printer_adapter_interface"] == "virtual"
        assert "bed" in mk3["state"]["temperature"]
        assert "agent_uuid" not in mk3

    scenario(tmp_path, body)


def test_printer_uuids_survive_a_restart(tmp_path: Path) -> None:
    async def main() -> None:
        async with Backend().running() as backend:
            first = make_app(backend, tmp_path)
            second = make_app(backend, tmp_path)
            assert set(first.slots) == set(second.slots)

    asyncio.run(main())


def test_bad_token_stops_with_a_clear_message(tmp_path: Path) -> None:
    async def main() -> None:
        async with Backend().running() as backend:
            backend.token = "plx_something_else"
            app = make_app(backend, tmp_path)
            with pytest.raises(AgentStopped) as stopped:
                async with asyncio.timeout(30):
                    await app.run()
            assert stopped.value.exit_code == EXIT_REJECTED
            assert "Invalid token" in stopped.value.message

    asyncio.run(main())


def test_revocation_stops_the_agent(tmp_path: Path) -> None:
    async def main() -> None:
        async with Backend().running() as backend:
            app = make_app(backend, tmp_path)
            running = asyncio.create_task(app.run())
            session = await backend.session()
            await session.ws.close(4003, "credentials revoked")
            with pytest.raises(AgentStopped) as stopped:
                async with asyncio.timeout(30):
                    await running
            assert stopped.value.exit_code == EXIT_REVOKED
            assert "revoked" in stopped.value.message

    asyncio.run(main())


def test_reconnects_after_replacement_and_lost_connections(tmp_path: Path, caplog: Any) -> None:
    caplog.set_level(logging.INFO, "printerlynx.agent")

    async def body(backend: Backend, app: AgentApp) -> None:
        session = await backend.session()
        await session.ws.close(4000, "replaced by a newer connection")
        session = await backend.session()
        await session.recv_until(lambda m: m["type"] == "printer_status")
        await session.ws.close(1012, "server restarting")
        session = await backend.session()
        # Every printer is reported again at once on the new connection.
        names = set()
        while len(names) < 2:
            names.add(
                (await session.recv_until(lambda m: m["type"] == "printer_status"))["data"][
                    "printer_identifier"
                ]
            )
        text = caplog.text
        assert "replaced by a newer connection" in text
        assert "reconnecting in" in text

    scenario(tmp_path, body)


def test_requests_are_answered_with_their_id(tmp_path: Path) -> None:
    async def body(backend: Backend, app: AgentApp) -> None:
        session = await backend.session()
        mk3 = uuid_of(app, "MK3")
        await session.status_of(mk3, lambda s: s["status"] == "available")
        unknown = "00000000-0000-4000-8000-000000000000"
        job = "11111111-1111-4111-8111-111111111111"
        reply = await session.request(
            "print_job", {"type": "PAUSE", "printer_uuid": unknown, "job_uuid": job}
        )
        assert reply == {"status": "ERROR", "message": "unknown printer"}
        reply = await session.request("print_job", {"type": "PAUSE", "printer_uuid": mk3})
        assert reply["status"] == "ERROR" and "job_uuid" in reply["message"]
        reply = await session.request("print_job", {"type": "PAUSE", "printer_uuid": mk3, "job_uuid": job})
        assert reply["status"] == "ERROR" and reply["message"]
        reply = await session.request("print_job", {"type": "START", "printer_uuid": mk3, "job_uuid": job})
        assert reply["status"] == "ERROR" and "START needs" in reply["message"]
        reply = await session.request("printer_command", {"printer_uuid": mk3, "command": "N1 G28*12"})
        assert reply["status"] == "ERROR" and "invalid printer_command" in reply["message"]
        # Malformed frames and the backend's own error replies are ignored; the link stays up.
        await session.ws.send("not json")
        await session.ws.send('{"type":"printer_status","data":{"status":"ERROR","message":"bad"}}')
        reply = await session.request("printer_command", {"printer_uuid": mk3, "command": "M105"})
        assert reply == {"status": "OK"}

    scenario(tmp_path, body)


def test_printer_command_answers_and_forwards_the_response(tmp_path: Path) -> None:
    async def body(backend: Backend, app: AgentApp) -> None:
        session = await backend.session()
        mk3 = uuid_of(app, "MK3")
        await session.status_of(mk3, lambda s: s["status"] == "available")
        reply = await session.request("printer_command", {"printer_uuid": mk3, "command": "M105"})
        assert reply == {"status": "OK"}
        # The lines go out as they arrive, before the acknowledgement.
        response = next(m for m in session.seen if m["type"] == "printer_response")
        assert response["data"]["printer_uuid"] == mk3
        assert response["data"]["command"] == "M105"
        assert any("T:" in line for line in response["data"]["lines"])

    scenario(tmp_path, body)


def start_body(job_uuid: str, printer_uuid: str, url: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {
        "type": "START",
        "printer_uuid": printer_uuid,
        "job_uuid": job_uuid,
        "print_file_uuid": "22222222-2222-4222-8222-222222222222",
        "name": "cube.gcode",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "download_url": url,
        **extra,
    }


def test_failed_download_is_reported_as_a_failed_job(tmp_path: Path) -> None:
    async def body(backend: Backend, app: AgentApp) -> None:
        session = await backend.session()
        mk3 = uuid_of(app, "MK3")
        await session.status_of(mk3, lambda s: s["status"] == "available")
        job = "33333333-3333-4333-8333-333333333333"
        backend.files["/files/cube"] = GCODE
        wrong = start_body(job, mk3, "/files/cube", GCODE, sha256="0" * 64)
        assert await session.request("print_job", wrong) == {"status": "OK"}
        failed = await session.status_of(mk3, lambda s: (s["job"] or {}).get("state") == "failed")
        assert failed["status"] == "available"
        assert failed["job"]["job_uuid"] == job
        assert "checksum mismatch" in failed["job"]["message"]
        assert failed["job"]["ended_at"]
        # Missing file: failed too, and the token went along with the request.
        other = "44444444-4444-4444-8444-444444444444"
        assert await session.request("print_job", start_body(other, mk3, "/files/none", GCODE)) == {
            "status": "OK"
        }
        failed = await session.status_of(
            mk3, lambda s: (s["job"] or {}).get("job_uuid") == other and s["job"]["state"] == "failed"
        )
        assert "404" in failed["job"]["message"]
        assert backend.downloads[-1] == f"Bearer {TOKEN}"

    scenario(tmp_path, body)


def test_job_runs_pauses_resumes_and_cancels(tmp_path: Path) -> None:
    async def body(backend: Backend, app: AgentApp) -> None:
        session = await backend.session()
        mk3 = uuid_of(app, "MK3")
        await session.status_of(mk3, lambda s: s["status"] == "available")
        job = "55555555-5555-4555-8555-555555555555"
        backend.files["/files/cube"] = GCODE * 50
        start = start_body(job, mk3, "/files/cube", GCODE * 50)
        assert await session.request("print_job", start) == {"status": "OK"}
        # A second START while the first is on its way is refused.
        again = await session.request(
            "print_job", {**start, "job_uuid": "66666666-6666-4666-8666-666666666666"}
        )
        assert again == {"status": "ERROR", "message": "printer is busy"}
        busy = await session.status_of(mk3, lambda s: s["status"] == "busy" and s["job"]["progress"] > 0)
        assert busy["job"]["job_uuid"] == job and busy["job"]["state"] == "printing"
        command = {"printer_uuid": mk3, "job_uuid": job}
        assert await session.request("print_job", {"type": "PAUSE", **command}) == {"status": "OK"}
        await session.status_of(mk3, lambda s: s["job"]["state"] == "paused")
        assert (await session.request("print_job", {"type": "PAUSE", **command}))["status"] == "ERROR"
        assert await session.request("print_job", {"type": "RESUME", **command}) == {"status": "OK"}
        await session.status_of(mk3, lambda s: s["job"]["state"] == "printing")
        assert await session.request("print_job", {"type": "CANCEL", **command}) == {"status": "OK"}
        ended = await session.status_of(mk3, lambda s: s["job"]["state"] == "cancelled")
        assert ended["status"] == "available"

    scenario(tmp_path, body)


def test_a_short_job_completes_and_stays_in_status(tmp_path: Path) -> None:
    async def body(backend: Backend, app: AgentApp) -> None:
        session = await backend.session()
        ender = uuid_of(app, "Ender")
        await session.status_of(ender, lambda s: s["status"] == "available")
        job = "77777777-7777-4777-8777-777777777777"
        backend.files["/files/small"] = GCODE
        assert await session.request("print_job", start_body(job, ender, "/files/small", GCODE)) == {
            "status": "OK"
        }
        done = await session.status_of(ender, lambda s: (s["job"] or {}).get("state") == "completed")
        assert done["status"] == "available" and done["job"]["progress"] == 1.0
        # Still there on a fresh connection: the backend learns how the job ended.
        await session.ws.close(1012, "server restarting")
        session = await backend.session()
        again = await session.status_of(ender, lambda s: True)
        assert again["job"]["job_uuid"] == job and again["job"]["state"] == "completed"

    scenario(tmp_path, body)


def test_demo_agent_is_created_once_and_its_token_kept(tmp_path: Path) -> None:
    from sqlalchemy import select

    from printerlynx.demo import TOKEN_FILE, ensure_demo_account, ensure_demo_agent
    from printerlynx.server.db.migrate import upgrade_async
    from printerlynx.server.db.models import Agent
    from printerlynx.server.db.session import create_engine, create_sessionmaker
    from printerlynx.server.settings import Settings

    async def main() -> None:
        settings = Settings(data_dir=tmp_path)
        await upgrade_async(settings.resolved_database_url)
        await ensure_demo_account(settings)
        token = await ensure_demo_agent(settings)
        assert token.startswith("plx_")
        assert (tmp_path / TOKEN_FILE).stat().st_mode & 0o077 == 0
        await ensure_demo_account(settings)
        assert await ensure_demo_agent(settings) == token
        # A lost token file: the same agent gets a new token rather than a second agent appearing.
        (tmp_path / TOKEN_FILE).unlink()
        rotated = await ensure_demo_agent(settings)
        assert rotated != token
        engine = create_engine(settings.resolved_database_url)
        async with create_sessionmaker(engine)() as session:
            names = [agent.name for agent in await session.scalars(select(Agent))]
        await engine.dispose()
        assert names == ["Demo agent"]

    asyncio.run(main())


def test_cancel_while_the_file_is_still_downloading(tmp_path: Path) -> None:
    async def body(backend: Backend, app: AgentApp) -> None:
        session = await backend.session()
        mk3 = uuid_of(app, "MK3")
        await session.status_of(mk3, lambda s: s["status"] == "available")
        job = "88888888-8888-4888-8888-888888888888"
        assert await session.request("print_job", start_body(job, mk3, "/files/slow", GCODE)) == {
            "status": "OK"
        }
        pending = await session.status_of(mk3, lambda s: s["status"] == "busy")
        assert pending["job"]["job_uuid"] == job and "downloading" in pending["job"]["message"]
        command = {"printer_uuid": mk3, "job_uuid": job}
        paused = await session.request("print_job", {"type": "PAUSE", **command})
        assert paused["status"] == "ERROR" and "still downloading" in paused["message"]
        assert await session.request("print_job", {"type": "CANCEL", **command}) == {"status": "OK"}
        ended = await session.status_of(mk3, lambda s: s["job"]["state"] == "cancelled")
        assert ended["status"] == "available"
        assert ended["job"]["message"] == "cancelled before printing began"

    scenario(tmp_path, body)
