"""Relay benchmark: our backend | the bare same-stack relay | a bare Node ``ws`` relay, side by side.

Each server runs pinned to core 0 (``taskset -c 0``), the C epoll load generator ``bench/loadgen.c`` to
core 1, and every load-generator run gets a freshly started server. Measured:

* ``sat``  relay throughput at saturation (closed loop): statuses delivered to sessions per second;
* ``rate`` p50/p99 latency agent → session at a fixed offered load (open loop, scheduled timestamps);
* ``cmd``  command round trip session → agent → OK back at the session (our backend only);
* ``mem``  RSS growth per idle authenticated connection.

Our backend gets real accounts and agents created through REST before the run (one session per account,
``--agents-per-account`` agents each). The send time travels in ``printer_identifier`` ("Demo@<ns>")
because ``PrinterStatus`` drops unknown keys. ``PRINTERLYNX_WS_RATE_PER_SECOND``/``_BURST`` are raised
so the closed loop measures the relay, not the per-connection limiter (at 2,000 agents and 30k msg/s an
agent sends ~15 msg/s, under the default 50/s, so the full-size numbers are the same either way).

Usage: ``python -m bench.relay [--quick] [--stacks ours,bare,node] [--broker memory|redis]``;
prints a table and writes ``bench/results/relay.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.relay_report import Sizes, machine, summarise, table
from bench.relay_setup import (
    BENCH_DIR,
    ServerRun,
    build_loadgen,
    create_accounts,
    install_node,
    stack_command,
    write_bare_tokens,
)

RESULTS_DIR = BENCH_DIR / "results"
REDIS_URL = os.environ.get("PRINTERLYNX_BENCH_REDIS", "redis://127.0.0.1:6379/15")
GOALS = {
    "sat_msgs": 30_000,
    "sat_vs_bare": 0.8,
    "p99_at_5k_us": 5_000,
    "kib_per_conn": 32,
    "cmd_p99_us": 5_000,
}


FULL = Sizes(200, 10, 4000, [2000, 5000], 200, 40, 8.0, 6.0, 2.0, 3)
QUICK = Sizes(4, 5, 40, [300], 50, 3, 1.0, 1.0, 0.3, 1)


@dataclass
class Bench:
    """One benchmark session: options, paths and the records gathered so far."""

    args: argparse.Namespace
    sizes: Sizes
    workdir: Path
    loadgen: Path
    pin: bool
    records: list[dict[str, Any]] = field(default_factory=list)
    shared: ServerRun | None = None
    shared_stack: str = ""

    @property
    def ours_dir(self) -> Path:
        """Where our backend keeps its database (``--ours-data`` keeps accounts between runs)."""
        return Path(self.args.ours_data) if self.args.ours_data else self.workdir / "ours"

    def log(self, message: str) -> None:
        """Progress on stderr."""
        print(time.strftime("%H:%M:%S"), message, file=sys.stderr, flush=True)

    def env_for(self, stack: str) -> dict[str, str]:
        """Environment of a server of ``stack``."""
        if stack != "ours":
            return {}
        env = {
            "PRINTERLYNX_DATA_DIR": str(self.ours_dir / "data"),
            "PRINTERLYNX_LOG_LEVEL": "WARNING",
            "PRINTERLYNX_WS_RATE_PER_SECOND": "1000000",
            "PRINTERLYNX_WS_RATE_BURST": "1000000",
            "PRINTERLYNX_LOGIN_ATTEMPTS_PER_MINUTE": "100000",
        }
        if self.args.broker == "redis":
            env["PRINTERLYNX_BROKER_URL"] = REDIS_URL
        if self.args.database_url:
            env["PRINTERLYNX_DATABASE_URL"] = self.args.database_url
        return env

    def new_server(self, stack: str, pin: bool | None = None) -> ServerRun:
        """A server of ``stack`` (pinned to core 0 unless told otherwise), not started yet."""
        command = stack_command(stack, self.args.loop)
        log_path = self.workdir / f"server-{stack}.log"
        return ServerRun(command, self.env_for(stack), log_path, self.pin if pin is None else pin)

    @contextlib.contextmanager
    def server(self, stack: str, pin: bool | None = None) -> Iterator[ServerRun]:
        """A freshly started server for one run; with ``--reuse-server`` (smoke runs) one per stack."""
        if not self.args.reuse_server:
            with self.new_server(stack, pin) as server:
                yield server
            return
        if self.shared is None or self.shared_stack != stack:
            self.stop_shared()
            self.shared, self.shared_stack = self.new_server(stack, pin).__enter__(), stack
        yield self.shared

    def stop_shared(self) -> None:
        """Stop the server kept by ``--reuse-server``."""
        if self.shared is not None:
            self.shared.stop()
            self.shared = None

    def loadgen_command(self, port: int, tokens: Path, **options: Any) -> list[str]:
        """The load generator's command line (pinned to core 1)."""
        prefix = ["taskset", "-c", "1"] if self.pin else []
        opts = [f"{key}={value}" for key, value in options.items()]
        return [*prefix, str(self.loadgen), f"port={port}", f"tokens={tokens}", *opts]

    def run_loadgen(self, server: ServerRun, tokens: Path, timeout: float, **options: Any) -> dict[str, Any]:
        """Run one measurement; the last JSON line of the load generator is its result."""
        command = self.loadgen_command(server.port, tokens, spid=server.pid, **options)
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": "load generator timed out"}
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        result: dict[str, Any] = (
            json.loads(lines[-1]) if lines else {"error": f"no result (rc {done.returncode})"}
        )
        if done.stderr.strip():
            result["stderr"] = done.stderr.strip()[-600:]
        return result

    def record(self, stack: str, test: str, rep: int, result: dict[str, Any], **extra: Any) -> None:
        """Keep one result and say what it was."""
        self.records.append({"stack": stack, "test": test, "rep": rep, **extra, **result})
        lat = result.get("lat_us", {})
        self.log(
            f"{stack:5s} {test:9s} rep{rep} rate={result.get('recv_rate')} p50={lat.get('p50')} "
            f"p99={lat.get('p99')} srv_cpu={result.get('server_cpu')} lg_cpu={result.get('loadgen_cpu')} "
            f"core0={result.get('core0_busy')} misrouted={result.get('misrouted')} "
            f"errors={result.get('error_replies')} "
            f"{result.get('error', '')}{result.get('per_conn_kib', '')}"
        )


def measure_stack(bench: Bench, stack: str, tokens: Path) -> None:
    """Throughput, latency, (commands) and memory of one stack."""
    sizes, tests = bench.sizes, bench.args.tests.split(",")
    common = {"agents": sizes.agents, "users": sizes.accounts, "warmup": sizes.warmup}
    for rep in range(sizes.reps if "sat" in tests else 0):
        with bench.server(stack) as server:
            result = bench.run_loadgen(
                server, tokens, sizes.dur + 180, mode="sat", window=sizes.window, duration=sizes.dur, **common
            )
            result["server_rss_kib"] = server.rss_kib()
        bench.record(stack, "sat", rep, result)
    for rate in sizes.rates if "rate" in tests else []:
        for rep in range(sizes.reps):
            with bench.server(stack) as server:
                result = bench.run_loadgen(
                    server,
                    tokens,
                    sizes.lat_dur + 180,
                    mode="rate",
                    rate=rate,
                    duration=sizes.lat_dur,
                    **common,
                )
            bench.record(stack, f"rate{rate}", rep, result, offered=rate)
    if stack == "ours" and "cmd" in tests:
        for rep in range(sizes.reps):
            with bench.server(stack) as server:
                result = bench.run_loadgen(
                    server,
                    tokens,
                    sizes.lat_dur + 180,
                    mode="cmd",
                    rate=sizes.cmd_rate,
                    duration=sizes.lat_dur,
                    **common,
                )
            bench.record(stack, "cmd", rep, result, offered=sizes.cmd_rate)
    if "mem" in tests:
        bench.record(stack, "mem", 0, measure_memory(bench, stack, tokens))
    bench.stop_shared()


def measure_memory(bench: Bench, stack: str, tokens: Path) -> dict[str, Any]:
    """RSS growth per idle authenticated connection: agents first, then extra sessions of the accounts."""
    sizes = bench.sizes
    warm_agents, warm_users = min(50, sizes.agents // 4), min(50, sizes.accounts)
    more_agents = sizes.agents - warm_agents
    more_users = sizes.accounts * sizes.mem_sessions_per_account - warm_users
    holders: list[subprocess.Popen[str]] = []
    result: dict[str, Any] = {"agents": sizes.agents, "sessions": warm_users + more_users}
    with bench.server(stack) as server:

        def hold(agents: int, agent_off: int, users: int, user_off: int) -> str:
            command = bench.loadgen_command(
                server.port, tokens, mode="idle", agents=agents, agent_off=agent_off, users=users,
                user_off=user_off, hold=600, conc=100, setup_timeout=300,
            )  # fmt: skip
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            holders.append(process)
            ready = process.stdout.readline().strip() if process.stdout else ""
            time.sleep(0.5 if bench.args.quick else 2.0)  # let the server settle before reading RSS
            return ready

        try:
            time.sleep(0.5)
            result["rss_fresh_kib"] = server.rss_kib()
            result["ready_warm"] = hold(warm_agents, 0, warm_users, 0)
            result["rss_warm_kib"] = server.rss_kib()
            result["ready_agents"] = hold(more_agents, warm_agents, 0, 0)
            result["rss_agents_kib"] = server.rss_kib()
            result["ready_sessions"] = hold(0, 0, more_users, warm_users)
            result["rss_all_kib"] = server.rss_kib()
        finally:
            for process in holders:
                process.terminate()
            for process in holders:
                process.communicate(timeout=10)  # reaps it and closes its pipes
    ready = all(
        str(result.get(key, "")).startswith("READY")
        for key in ("ready_warm", "ready_agents", "ready_sessions")
    )
    result["ok"] = ready
    if ready:
        growth = result["rss_all_kib"] - result["rss_warm_kib"]
        result["connections"] = more_agents + more_users + warm_agents + warm_users
        result["per_conn_kib"] = round(growth / (more_agents + more_users), 2)
        result["per_agent_kib"] = round(
            (result["rss_agents_kib"] - result["rss_warm_kib"]) / max(more_agents, 1), 2
        )
        result["per_session_kib"] = round(
            (result["rss_all_kib"] - result["rss_agents_kib"]) / max(more_users, 1), 2
        )
    else:
        result["error"] = "idle connections did not all authenticate"
    return result


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench.relay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run, numbers mean nothing")
    parser.add_argument("--stacks", default="ours,bare,node", help="comma list of ours,bare,node")
    parser.add_argument("--tests", default="sat,rate,cmd,mem", help="comma list of sat,rate,cmd,mem")
    parser.add_argument(
        "--broker",
        choices=["memory", "redis"],
        default="memory",
        help="our backend's broker (redis: one instance on Redis; two instances: bench/broker.py)",
    )
    parser.add_argument("--database-url", default=None, help="our backend's database (default: SQLite file)")
    parser.add_argument(
        "--loop", choices=["asyncio", "uvloop"], default="asyncio", help="event loop of Python servers"
    )
    parser.add_argument("--reps", type=int, default=None, help="repetitions of each run (default 3, quick 1)")
    parser.add_argument("--accounts", type=int, default=None, help="accounts (= sessions in sat/rate runs)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server/loadgen to cores 0/1")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "relay.json")
    parser.add_argument(
        "--reuse-server", action="store_true", help="one server per stack for every run (smoke runs only)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory (server logs, tokens)")
    parser.add_argument(
        "--ours-data", default=None, help="directory keeping our backend's accounts between runs"
    )
    args = parser.parse_args(argv)
    unknown = set(args.stacks.split(",")) - {"ours", "bare", "node"}
    if unknown:
        parser.error(f"unknown stack(s): {', '.join(sorted(unknown))} (choose from ours, bare, node)")
    unknown = set(args.tests.split(",")) - {"sat", "rate", "cmd", "mem"}
    if unknown:
        parser.error(f"unknown test(s): {', '.join(sorted(unknown))} (choose from sat, rate, cmd, mem)")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the relay benchmark; 0 when every run produced a result."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    sizes = QUICK if args.quick else FULL
    if args.reps is not None:
        sizes.reps = args.reps
    if args.accounts is not None:
        sizes.accounts = args.accounts
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 10,000 idle connections need the fds
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
    if pin:
        os.sched_setaffinity(0, {1})  # keep this driver off the server's core
    workdir = Path(tempfile.mkdtemp(prefix="plx-bench-relay-"))
    bench = Bench(args, sizes, workdir, build_loadgen(workdir), pin)
    stacks = [s for s in args.stacks.split(",") if s]
    started = time.time()
    try:
        for stack in stacks:
            if stack == "node" and not install_node(bench.log):
                bench.records.append({"stack": "node", "test": "sat", "rep": 0, "error": "node/npm missing"})
                continue
            if stack == "ours":
                tokens = bench.ours_dir / f"tokens-{sizes.accounts}x{sizes.agents_per_account}.txt"
                if not tokens.exists():
                    bench.ours_dir.mkdir(parents=True, exist_ok=True)
                    with bench.server("ours", pin=False) as server:
                        bench.log(
                            f"creating {sizes.accounts} accounts x {sizes.agents_per_account} agents (REST)"
                        )
                        create_accounts(server.url, sizes.accounts, sizes.agents_per_account, tokens)
            else:
                tokens = write_bare_tokens(
                    workdir / "tokens-bare.txt", sizes.accounts, sizes.agents_per_account
                )
            measure_stack(bench, stack, tokens)
    finally:
        bench.stop_shared()
        logs = {}
        for path in workdir.glob("server-*.log"):
            text = path.read_text(errors="replace")
            logs[path.name] = {"tracebacks": text.count("Traceback"), "tail": text[-3000:]}
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    summary = summarise(bench.records)
    text = table(summary, sizes)
    print(text)
    report = {"benchmark": "relay", "quick": args.quick, "broker": args.broker, "loop": args.loop,
              "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)), "machine": machine(),
              "sizes": vars(sizes), "pinned": pin, "goals": GOALS, "summary": summary, "table": text,
              "records": bench.records, "server_logs": logs}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0 if all("error" not in r for r in bench.records) else 1


if __name__ == "__main__":
    sys.exit(main())
