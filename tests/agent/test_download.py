"""The downloader against a small real HTTP server that speaks Range and can drop a connection."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from printerlynx.agent.download import DownloadError, download_file, resolve_url

TOKEN = "plx_test_token"
BODY = os.urandom(300_000)
SHA = hashlib.sha256(BODY).hexdigest()


class FileServer(ThreadingHTTPServer):
    """Serves ``BODY`` at ``/file``; ``drops`` requests cut the body after ``drop_after`` bytes."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.body = BODY
        self.drops = 0
        self.drop_after = 100_000
        self.honour_range = True
        self.requests: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: FileServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        server = self.server
        server.requests.append({"path": self.path, "range": self.headers.get("Range")})
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.send_error(401)
            return
        if self.path != "/file":
            self.send_error(404)
            return
        body, start = server.body, 0
        match = re.match(r"bytes=(\d+)-$", self.headers.get("Range") or "")
        if match and server.honour_range:
            start = int(match[1])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if server.drops > 0:
            server.drops -= 1
            self.wfile.write(body[start : start + server.drop_after])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)  # the link drops mid-transfer
            return
        self.wfile.write(body[start:])


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    server = FileServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def fetch(server: FileServer, destination: Path, **kwargs: Any) -> Path:
    async def run() -> Path:
        async with httpx.AsyncClient(timeout=10) as client:
            options: dict[str, Any] = {"token": TOKEN, "size": len(BODY), "sha256": SHA, "retry_base": 0.01}
            options.update(kwargs)
            url = options.pop("url", None) or server.url + "/file"
            return await download_file(client, url, destination, **options)

    return asyncio.run(run())


def test_downloads_and_verifies(file_server: FileServer, tmp_path: Path) -> None:
    path = fetch(file_server, tmp_path / "job.gcode")
    assert path.read_bytes() == BODY
    assert not (tmp_path / "job.gcode.part").exists()
    assert file_server.requests == [{"path": "/file", "range": None}]


def test_resumes_with_range_after_dropped_connections(file_server: FileServer, tmp_path: Path) -> None:
    file_server.drops = 2
    path = fetch(file_server, tmp_path / "job.gcode")
    assert path.read_bytes() == BODY
    assert [request["range"] for request in file_server.requests] == [None, "bytes=100000-", "bytes=200000-"]


def test_restarts_when_server_ignores_range(file_server: FileServer, tmp_path: Path) -> None:
    file_server.drops, file_server.honour_range = 1, False
    assert fetch(file_server, tmp_path / "job.gcode").read_bytes() == BODY
    assert len(file_server.requests) == 2


def test_resumes_a_part_file_left_by_an_earlier_run(file_server: FileServer, tmp_path: Path) -> None:
    (tmp_path / "job.gcode.part").write_bytes(BODY[:12345])
    assert fetch(file_server, tmp_path / "job.gcode").read_bytes() == BODY
    assert file_server.requests[0]["range"] == "bytes=12345-"


def test_existing_verified_file_is_not_fetched_again(file_server: FileServer, tmp_path: Path) -> None:
    (tmp_path / "job.gcode").write_bytes(BODY)
    fetch(file_server, tmp_path / "job.gcode")
    assert file_server.requests == []


def test_checksum_mismatch_is_refused_and_cleaned_up(file_server: FileServer, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="checksum mismatch"):
        fetch(file_server, tmp_path / "job.gcode", sha256="0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_size_mismatch_is_refused(file_server: FileServer, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="more than the announced"):
        fetch(file_server, tmp_path / "job.gcode", size=len(BODY) - 1)
    with pytest.raises(DownloadError, match="size mismatch"):
        fetch(file_server, tmp_path / "job.gcode", size=len(BODY) + 1)


def test_bad_token_and_missing_file_fail_at_once(file_server: FileServer, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="401"):
        fetch(file_server, tmp_path / "a.gcode", token="wrong")
    with pytest.raises(DownloadError, match="404"):
        fetch(file_server, tmp_path / "b.gcode", url=file_server.url + "/nothing")
    assert len(file_server.requests) == 2


def test_gives_up_when_the_server_is_gone(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="attempts"):
        fetch(FileServer.__new__(FileServer), tmp_path / "job.gcode", url="http://127.0.0.1:9/file")


def test_resolve_url() -> None:
    assert resolve_url("http://h:3000/", "/api/v1/x") == "http://h:3000/api/v1/x"
    assert resolve_url("http://h:3000", "https://cdn/x") == "https://cdn/x"
    with pytest.raises(DownloadError):
        resolve_url("http://h", "relative/path")
