"""Real backend processes on free ports, real clients, real databases: the test harness."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

PG_ADMIN_URL = os.environ.get("PRINTERLYNX_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("PRINTERLYNX_TEST_REDIS", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _reachable(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def postgres_available() -> bool:
    """Whether the machine's PostgreSQL answers."""
    return _reachable("127.0.0.1", 5432)


def redis_available() -> bool:
    """Whether the machine's Redis answers."""
    return _reachable("127.0.0.1", 6379)


def _psql(sql: str) -> None:
    subprocess.run(
        ["psql", PG_ADMIN_URL, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql],
        check=True,
        capture_output=True,
        timeout=60,
    )


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test server; dropped afterwards."""
    name = f"plx_{uuid.uuid4().hex[:12]}"
    _psql(f"CREATE DATABASE {name}")
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            _psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class ServerProcess:
    """``printerlynx serve`` in a subprocess with its own data directory and log file."""

    def __init__(
        self, env: dict[str, str] | None = None, data_dir: Path | None = None, port: int | None = None
    ):
        self.port = port or free_port()
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="plx-test-"))
        self.log_path = self.data_dir / "server.log"
        self.env = {
            **os.environ,
            "PRINTERLYNX_DATA_DIR": str(self.data_dir),
            "PRINTERLYNX_LOG_LEVEL": "INFO",
            "PRINTERLYNX_LOGIN_ATTEMPTS_PER_MINUTE": "1000",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self._http: httpx.Client | None = None

    @property
    def http(self) -> httpx.Client:
        """One keep-alive HTTP client for every request to this server (closed by ``stop``)."""
        if self._http is None:
            self._http = httpx.Client(base_url=self.url, timeout=30)
        return self._http

    @property
    def url(self) -> str:
        """HTTP base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """WebSocket base URL."""
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        """Start and wait until ``/health`` answers 200."""
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps writing to it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "printerlynx.cli", "serve", "--port", str(self.port)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            time.sleep(0.05)
        raise RuntimeError(f"server did not become healthy:\n{self.log()}")

    def stop(self) -> None:
        """Stop gracefully (SIGTERM), then kill if it hangs."""
        if self._http is not None:
            self._http.close()
            self._http = None
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def kill(self) -> None:
        """Die at once, as a crashed instance would."""
        if self._http is not None:
            self._http.close()
            self._http = None
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    def log(self) -> str:
        """Everything the server logged so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def assert_no_traceback(self) -> None:
        """Bad input must never produce a traceback in the log."""
        text = self.log()
        assert "Traceback" not in text, text[-5000:]


class Api:
    """An HTTP client for one account (or none) against a server."""

    def __init__(self, server: ServerProcess, token: str | None = None):
        self.server = server
        self.token = token
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def close(self) -> None:
        """Nothing to release: requests share the server's client."""

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Any request, with this account's token."""
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.server.http.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """GET."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        """POST."""
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        """PUT."""
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        """DELETE."""
        return self.request("DELETE", path, **kwargs)


def register(
    server: ServerProcess, username: str | None = None, password: str = "correct horse battery"
) -> Api:
    """Register a fresh account and return an ``Api`` signed in as it."""
    username = username or f"user_{uuid.uuid4().hex[:10]}"
    response = server.http.post(
        "/api/v1/auth/register",
        json={
            "username": username,
            "email": f"{username}@example.com",
            "password": password,
            "password_confirmation": password,
        },
        timeout=30,
    )
    assert response.status_code == 201, response.text
    api = Api(server, response.json()["token"])
    api.username = username  # type: ignore[attr-defined]
    api.password = password  # type: ignore[attr-defined]
    return api


class WsClient:
    """A real WebSocket client speaking the envelope."""

    def __init__(self, url: str, **kwargs: Any):
        # Entered as a context manager (websockets >= 17.1 warns otherwise); ``close`` exits it.
        self._context = connect(url, open_timeout=10, max_size=2**22, **kwargs)
        self.conn: ClientConnection = self._context.__enter__()

    def send(self, message_type: str, data: Any = None, request_id: str | int | None = None) -> None:
        """Send one envelope."""
        body: dict[str, Any] = {"type": message_type}
        if data is not None:
            body["data"] = data
        if request_id is not None:
            body["id"] = request_id
        self.conn.send(orjson.dumps(body).decode())

    def send_raw(self, text: str | bytes) -> None:
        """Send any frame."""
        self.conn.send(text)

    def recv(self, timeout: float = 10) -> dict[str, Any]:
        """Receive one message."""
        message: dict[str, Any] = orjson.loads(self.conn.recv(timeout))
        return message

    def recv_until(self, predicate: Any, timeout: float = 10) -> dict[str, Any]:
        """Receive until ``predicate(message)`` holds; other messages are skipped."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("expected message did not arrive")
            message = self.recv(remaining)
            if predicate(message):
                return message

    def drain(self, wait: float = 0.2) -> list[dict[str, Any]]:
        """Everything that arrives within ``wait`` seconds."""
        messages = []
        with contextlib.suppress(TimeoutError):
            while True:
                messages.append(self.recv(wait))
        return messages

    def close(self) -> None:
        """Close politely."""
        self._context.__exit__(None, None, None)


def closed_with(client: WsClient, timeout: float = 10) -> int | None:
    """Read until the server closes; return its close code."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            client.recv(max(0.01, deadline - time.monotonic()))
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None
    except TimeoutError:
        pass
    raise AssertionError("server did not close the connection")


def user_ws(server: ServerProcess, token: str | None = None, **kwargs: Any) -> WsClient:
    """A dashboard connection, authenticated when a token is given."""
    client = WsClient(server.ws_url + "/api/v1/ws", **kwargs)
    if token is not None:
        client.send("authentication", {"token": token})
        reply = client.recv()
        assert reply == {"type": "authentication", "data": {"status": "OK"}}, reply
    return client


def agent_ws(server: ServerProcess, token: str | None = None, **kwargs: Any) -> WsClient:
    """An agent connection, authenticated when a token is given."""
    client = WsClient(server.ws_url + "/api/v1/ws/agent", **kwargs)
    if token is not None:
        client.send("authentication", {"token": token})
        reply = client.recv()
        assert reply == {"type": "authentication", "data": {"status": "success"}}, reply
    return client


def wait_for(fetch: Any, done: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Call ``fetch()`` until ``done(result)`` holds (for effects that are eventually consistent)."""
    deadline = time.monotonic() + timeout
    while True:
        result = fetch()
        if done(result) or time.monotonic() > deadline:
            return result
        time.sleep(interval)
