"""Cross-instance relay: two instances on Redis vs one instance with the in-process broker, same run.

Agents (asyncio ``websockets`` clients in one process) send ``printer_status`` at a fixed offered rate;
dashboards (another process) receive them. ``memory``: agents and dashboards on one instance (in-process
broker). ``redis``: agents on instance B, dashboards on instance A (every frame crosses Redis pub/sub).
Latency is send → receive, from a timestamp carried in the frame (``state.temperature.bed``, seconds
since the run's base time, wall clock shared by both client processes). Server CPU is read from /proc.

    python -m bench.broker [--agents 200] [--sessions 20] [--rates 1000,2500,5000] [--seconds 10]

Prints a table and writes ``bench/results/broker.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

import httpx
import orjson
import websockets

RESULTS = Path(__file__).resolve().parent / "results" / "broker.json"
PG_ADMIN_URL = os.environ.get("PRINTERLYNX_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("PRINTERLYNX_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Instance:
    """``printerlynx serve`` in a subprocess."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.data_dir = tempfile.mkdtemp(prefix="plx-bench-")
        self.env = {
            **os.environ,
            "PRINTERLYNX_DATA_DIR": self.data_dir,
            "PRINTERLYNX_LOG_LEVEL": "WARNING",
            "PRINTERLYNX_WS_RATE_PER_SECOND": "1000",
            "PRINTERLYNX_WS_RATE_BURST": "1000",
            "PRINTERLYNX_WS_SEND_QUEUE": "4096",
            "PRINTERLYNX_LOGIN_ATTEMPTS_PER_MINUTE": "1000",
            **env,
        }
        log = open(Path(self.data_dir) / "server.log", "wb")  # noqa: SIM115 - the child writes to it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "printerlynx.cli", "serve", "--port", str(self.port)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    break
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {self.data_dir}/server.log")
            time.sleep(0.1)

    @property
    def url(self) -> str:
        """HTTP base URL."""
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        """SIGTERM and wait."""
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.data_dir, ignore_errors=True)


@contextlib.contextmanager
def _postgres() -> Iterator[str]:
    name = f"plx_bench_{uuid.uuid4().hex[:10]}"
    subprocess.run(
        ["psql", PG_ADMIN_URL, "-q", "-c", f"CREATE DATABASE {name}"], check=True, capture_output=True
    )
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        subprocess.run(
            ["psql", PG_ADMIN_URL, "-q", "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
            check=False,
            capture_output=True,
        )


@contextlib.contextmanager
def deployment(mode: str) -> Iterator[tuple[Instance, Instance]]:
    """(instance for agents, instance for dashboards): the same one for ``memory``, B and A for ``redis``."""
    with _postgres() as database_url:
        env = {"PRINTERLYNX_DATABASE_URL": database_url, "PRINTERLYNX_JWT_SECRET": secrets.token_urlsafe(48)}
        if mode == "memory":
            single = Instance(env)
            try:
                yield single, single
            finally:
                single.stop()
            return
        env["PRINTERLYNX_BROKER_URL"] = f"{REDIS_URL}?prefix=plxbench{uuid.uuid4().hex[:8]}"
        a = Instance(env)
        b = Instance(env)
        try:
            yield b, a
        finally:
            a.stop()
            b.stop()


def _accounts(url: str, sessions: int, agents: int) -> tuple[list[str], list[tuple[int, str, str]]]:
    """``sessions`` accounts (one dashboard each) sharing ``agents`` agents round-robin."""
    tokens: list[str] = []
    agent_rows: list[tuple[int, str, str]] = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for _ in range(sessions):
            name = f"bench_{uuid.uuid4().hex[:10]}"
            body = {
                "username": name,
                "email": f"{name}@example.com",
                "password": "correct horse battery",
                "password_confirmation": "correct horse battery",
            }
            tokens.append(client.post("/api/v1/auth/register", json=body).json()["token"])
        for index in range(agents):
            owner = index % sessions
            reply = client.post(
                "/api/v1/agents",
                json={"name": f"agent{index}"},
                headers={"Authorization": f"Bearer {tokens[owner]}"},
            ).json()
            agent_rows.append((owner, reply["uuid"], reply["token"]))
    return tokens, agent_rows


async def _open(url: str, token: str) -> Any:
    ws = await websockets.connect(url, max_size=2**22, open_timeout=60, ping_interval=None)
    await ws.send(orjson.dumps({"type": "authentication", "data": {"token": token}}).decode())
    await ws.recv()
    return ws


def _run_mark(base: float) -> float:
    """Tags every frame of one run (carried as a temperature, so it must stay within 0..1000)."""
    return round(base % 1000, 3)


async def _close_all(sockets: list[Any]) -> None:
    async def close(ws: Any) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await ws.close()

    await asyncio.gather(*(close(ws) for ws in sockets))


async def _senders(
    url: str,
    tokens: list[str],
    rate: float,
    base: float,
    start: Any,
    seconds: float,
    ready: Any,
    go: EventType,
) -> int:
    sockets = [await _open(url + "/api/v1/ws/agent", token) for token in tokens]
    printers = [str(uuid.uuid4()) for _ in sockets]
    ready.put("agents")
    await asyncio.get_running_loop().run_in_executor(None, go.wait)
    interval = len(sockets) / rate
    begin, sent = start.value, 0

    async def run(index: int) -> None:
        nonlocal sent
        ws, due = sockets[index], begin + interval * index / len(sockets)
        end = begin + seconds
        while due < end:
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            frame = {
                "type": "printer_status",
                "data": {
                    "printer_uuid": printers[index],
                    "printer_identifier": "MK3",
                    "status": "available",
                    "printer_adapter_identifier": "SERIAL",
                    "printer_adapter_interface": "/dev/ttyUSB0",
                    "job": None,
                    "state": {"temperature": {"bed": time.time() - base, "tool1": _run_mark(base)}},
                },
            }
            try:
                await ws.send(orjson.dumps(frame).decode())
            except websockets.ConnectionClosed:
                return  # the server dropped this agent (counted as not sent)
            sent += 1
            due += interval

    await asyncio.gather(*(run(index) for index in range(len(sockets))))
    await asyncio.sleep(1)
    await _close_all(sockets)
    return sent


async def _receivers(
    url: str,
    tokens: list[str],
    base: float,
    start: Any,
    warmup: float,
    seconds: float,
    ready: Any,
    go: EventType,
) -> tuple[int, list[float]]:
    sockets = [await _open(url + "/api/v1/ws", token) for token in tokens]
    ready.put("dashboards")
    await asyncio.get_running_loop().run_in_executor(None, go.wait)
    window = (start.value + warmup - base, start.value + seconds - base)
    run_mark = _run_mark(base)
    latencies: list[float] = []
    received = 0
    stop_at = start.value + seconds + 2

    async def run(ws: Any) -> None:
        nonlocal received
        # One deadline for the whole loop: a ``wait_for`` per message would cost a task each.
        with contextlib.suppress(TimeoutError, websockets.ConnectionClosed):
            async with asyncio.timeout(stop_at - time.time()):
                async for raw in ws:
                    now = time.time() - base
                    message = orjson.loads(raw)
                    if message["type"] != "printer_status":
                        continue
                    state = message["data"].get("state") or {}
                    sent_at = (state.get("temperature") or {}).get("bed")
                    mark = (state.get("temperature") or {}).get("tool1")
                    # Frames still queued from the previous rate's run carry another mark: skip them.
                    if mark == run_mark and sent_at is not None and window[0] <= sent_at < window[1]:
                        received += 1
                        latencies.append(now - sent_at)

    await asyncio.gather(*(run(ws) for ws in sockets))
    await _close_all(sockets)
    return received, latencies


def _agent_process(*args: Any) -> None:
    out = args[-1]
    try:
        out.put(("sent", asyncio.run(_senders(*args[:-1]))))
    except Exception as exc:  # always answer, so the parent does not wait forever
        print(f"agents failed: {exc!r}", file=sys.stderr)
        out.put(("sent", 0))


def _dashboard_process(*args: Any) -> None:
    out = args[-1]
    try:
        out.put(("received", asyncio.run(_receivers(*args[:-1]))))
    except Exception as exc:
        print(f"dashboards failed: {exc!r}", file=sys.stderr)
        out.put(("received", (0, [])))


def run_load(
    agents_at: Instance,
    dashboards_at: Instance,
    instances: list[Instance],
    tokens: list[str],
    agent_tokens: list[str],
    rate: float,
    seconds: float,
    warmup: float,
) -> dict[str, Any]:
    """One measurement at ``rate`` offered messages per second."""
    context = mp.get_context("spawn")
    ready, out, go = context.Queue(), context.Queue(), context.Event()
    start = context.Value("d", 0.0)
    base = time.time()
    senders = context.Process(
        target=_agent_process,
        args=(agents_at.url.replace("http", "ws"), agent_tokens, rate, base, start, seconds, ready, go, out),
    )
    receivers = context.Process(
        target=_dashboard_process,
        args=(dashboards_at.url.replace("http", "ws"), tokens, base, start, warmup, seconds, ready, go, out),
    )
    receivers.start()
    senders.start()
    ready.get(timeout=300)
    ready.get(timeout=300)
    time.sleep(1)  # let the snapshots and "online" messages settle
    start.value = time.time() + 0.5
    cpu_before = [instance.cpu_seconds() for instance in instances]
    go.set()
    results = dict(out.get(timeout=seconds + 120) for _ in range(2))
    cpu = [
        after - before for after, before in zip([i.cpu_seconds() for i in instances], cpu_before, strict=True)
    ]
    senders.join(30)
    receivers.join(30)
    received, latencies = results["received"]
    measured = seconds - warmup
    latencies.sort()
    pick = (
        (lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000)
        if latencies
        else (lambda q: float("nan"))
    )
    return {
        "offered_per_s": rate,
        "sent_per_s": round(results["sent"] / seconds),
        "received_per_s": round(received / measured),
        "p50_ms": round(pick(0.50), 2),
        "p99_ms": round(pick(0.99), 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2) if latencies else None,
        "server_cpu_s_per_s": [round(value / (seconds + 3), 2) for value in cpu],
        # Server CPU (all instances) per message sent: comparable even when the clients saturate first.
        "server_cpu_us_per_msg": round(sum(cpu) / max(results["sent"], 1) * 1e6, 1),
    }


def main(argv: list[str] | None = None) -> int:
    """Run both modes at each rate; print the table and write the JSON."""
    parser = argparse.ArgumentParser(prog="bench.broker")
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--rates", default="1000,2500,5000")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--modes", default="memory,redis")
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    for mode in args.modes.split(","):
        with deployment(mode) as (agents_at, dashboards_at):
            instances = [agents_at] if agents_at is dashboards_at else [dashboards_at, agents_at]
            tokens, agent_rows = _accounts(dashboards_at.url, args.sessions, args.agents)
            for rate in (float(value) for value in args.rates.split(",")):
                result = run_load(
                    agents_at,
                    dashboards_at,
                    instances,
                    tokens,
                    [row[2] for row in agent_rows],
                    rate,
                    args.seconds,
                    args.warmup,
                )
                rows.append({"mode": mode, **result})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    header = (
        f"{'mode':<8}{'offered/s':>10}{'sent/s':>9}{'recv/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'CPU us/msg':>11}  server CPU s/s"
    )
    print(header)
    for row in rows:
        print(
            f"{row['mode']:<8}{row['offered_per_s']:>10.0f}{row['sent_per_s']:>9}{row['received_per_s']:>9}"
            f"{row['p50_ms']:>9}{row['p99_ms']:>9}{row['server_cpu_us_per_msg']:>11}"
            f"  {row['server_cpu_s_per_s']}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "agents": args.agents,
        "sessions": args.sessions,
        "seconds": args.seconds,
        "warmup": args.warmup,
        "cpus": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
    }
    RESULTS.write_text(json.dumps({"benchmark": "broker", "meta": meta, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
