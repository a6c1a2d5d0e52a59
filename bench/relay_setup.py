"""Plumbing of the relay benchmark: servers under test, the load generator, accounts and token files.

Token file (read by ``bench/loadgen.c``), one connection identity a line::

    U <account_index> <user JWT>
    A <account_index> <agent_uuid> <agent token>
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
NODE_DIR = BENCH_DIR / "node"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stack_command(stack: str, loop: str) -> list[str]:
    """The command line of a server of ``stack``; ``{port}`` is filled in at start."""
    python = sys.executable
    if stack == "ours":
        if loop == "asyncio":  # exactly what ships: ``printerlynx serve``
            return [python, "-m", "printerlynx.cli", "serve", "--port", "{port}"]
        return [python, "-m", "bench.relay_setup", "serve-ours", "--port", "{port}", "--loop", loop]
    if stack == "bare":
        return [python, "-m", "bench.relay_bare", "--port", "{port}", "--loop", loop]
    if stack == "node":
        return ["node", str(NODE_DIR / "server.js"), "{port}"]
    raise ValueError(f"unknown stack {stack!r}")


class ServerRun:
    """One server process (pinned to core 0 when asked), started fresh and stopped after one run."""

    def __init__(self, command: list[str], env: dict[str, str], log_path: Path, pin: bool) -> None:
        self.port = free_port()
        self.command = [part.replace("{port}", str(self.port)) for part in command]
        if pin:
            self.command = ["taskset", "-c", "0", *self.command]
        python_path = os.pathsep.join(filter(None, [str(REPO_DIR), os.environ.get("PYTHONPATH")]))
        self.env = {**os.environ, "PYTHONPATH": python_path, "PYTHONUNBUFFERED": "1", **env}
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """HTTP base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The server's pid (taskset execs the server, so it is the child's)."""
        assert self.process is not None
        return self.process.pid

    def rss_kib(self) -> int:
        """Resident set size now, KiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return -1

    def __enter__(self) -> ServerRun:
        with self.log_path.open("ab") as log:
            log.write(f"--- {time.strftime('%H:%M:%S')} {' '.join(self.command)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.command, env=self.env, cwd=REPO_DIR, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early; see {self.log_path}")
            with contextlib.suppress(OSError), urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                if r.status == 200:
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not become healthy; see {self.log_path}")

    def cpu_seconds(self) -> float:
        """CPU time the server used so far (all threads)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Wait until the server has finished handling the last run's disconnects (CPU quiet for 0.5 s).

        A SIGTERM in the middle of thousands of disconnects would measure shutdown, not the relay.
        """
        deadline = time.monotonic() + timeout
        with contextlib.suppress(OSError, IndexError, ValueError):
            before = self.cpu_seconds()
            while time.monotonic() < deadline:
                time.sleep(0.5)
                now = self.cpu_seconds()
                if now - before < 0.05:
                    return
                before = now

    def stop(self) -> None:
        """Wait for quiet, SIGTERM, then kill if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.wait_idle()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def build_loadgen(workdir: Path) -> Path:
    """Compile ``bench/loadgen.c`` into the work directory."""
    binary = workdir / "loadgen"
    subprocess.run(["gcc", "-O2", "-o", str(binary), str(BENCH_DIR / "loadgen.c")], check=True)
    return binary


def install_node(log: Callable[[str], None]) -> bool:
    """``npm ci`` into ``bench/node`` once; False when Node or npm is missing."""
    if not (NODE_DIR / "node_modules" / "ws").is_dir():
        npm = "npm"
        try:
            log("npm ci in bench/node")
            subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, capture_output=True
            )
        except (OSError, subprocess.CalledProcessError):
            return False
    try:
        subprocess.run(["node", "--version"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


def write_bare_tokens(path: Path, accounts: int, agents_per_account: int) -> Path:
    """Tokens for the bare relays, which trust them: ``u.<account>`` and ``a.<account>.<agent_uuid>``."""
    lines = [f"U {i} u.{i}" for i in range(accounts)]
    for i in range(accounts):
        for _ in range(agents_per_account):
            agent_uuid = str(uuid.uuid4())
            lines.append(f"A {i} {agent_uuid} a.{i}.{agent_uuid}")
    path.write_text("\n".join(lines) + "\n")
    return path


async def _create_accounts(base_url: str, accounts: int, agents_per_account: int) -> list[str]:
    import httpx

    limit = asyncio.Semaphore(8)
    run = uuid.uuid4().hex[:6]
    password = "bench horse battery staple"

    async def one(client: httpx.AsyncClient, index: int) -> list[str]:
        async with limit:
            username = f"bench_{run}_{index}"
            response = await client.post(
                "/api/v1/auth/register",
                json={"username": username, "email": f"{username}@example.com", "password": password,
                      "password_confirmation": password},
            )  # fmt: skip
            response.raise_for_status()
            token = response.json()["token"]
            lines = [f"U {index} {token}"]
            headers = {"Authorization": f"Bearer {token}"}
            for number in range(agents_per_account):
                response = await client.post(
                    "/api/v1/agents", json={"name": f"bench-{index}-{number}"}, headers=headers
                )
                response.raise_for_status()
                body = response.json()
                lines.append(f"A {index} {body['uuid']} {body['token']}")
            return lines

    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        per_account = await asyncio.gather(*(one(client, i) for i in range(accounts)))
    users = [lines[0] for lines in per_account]
    agents = [line for lines in per_account for line in lines[1:]]
    return users + agents


def create_accounts(base_url: str, accounts: int, agents_per_account: int, path: Path) -> Path:
    """Register ``accounts`` accounts with ``agents_per_account`` agents each through REST; write tokens."""
    lines = asyncio.run(_create_accounts(base_url, accounts, agents_per_account))
    path.write_text("\n".join(lines) + "\n")
    return path


def serve_ours(port: int, loop: str) -> None:
    """Our backend exactly as ``printerlynx serve`` runs it, but on another event loop."""
    import uvicorn

    from printerlynx.server.logging import configure_logging
    from printerlynx.server.runner import uvicorn_config
    from printerlynx.server.settings import Settings

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    uvicorn.Server(uvicorn_config(settings, "127.0.0.1", port, loop=loop)).run()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="serve-ours: our backend on another event loop")
    parser.add_argument("what", choices=["serve-ours"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--loop", default="uvloop")
    options = parser.parse_args()
    serve_ours(options.port, options.loop)
