"""Reporting of the relay benchmark: medians over repetitions, the markdown table, the machine."""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Sizes:
    """How big one run is."""

    accounts: int
    agents_per_account: int
    window: int
    rates: list[int]
    cmd_rate: int
    mem_sessions_per_account: int
    dur: float
    lat_dur: float
    warmup: float
    reps: int

    @property
    def agents(self) -> int:
        """Agents in total."""
        return self.accounts * self.agents_per_account


def summarise(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Median over repetitions of each (stack, test)."""
    summary: dict[str, dict[str, Any]] = {}
    for record in records:
        summary.setdefault(record["stack"], {}).setdefault(record["test"], []).append(record)
    out: dict[str, dict[str, Any]] = {}
    for stack, tests in summary.items():
        out[stack] = {}
        for test, reps in tests.items():
            good = [r for r in reps if "error" not in r]
            if test == "mem":
                out[stack][test] = {
                    k: v for k, v in reps[0].items() if k.startswith(("per_", "rss_", "conn"))
                }
                continue
            if not good:
                out[stack][test] = {"error": reps[0].get("error")}
                continue

            def median(get: Any, rows: list[dict[str, Any]] = good) -> float:
                return float(statistics.median(get(r) for r in rows))

            out[stack][test] = {
                "reps": len(good),
                "recv_rate": median(lambda r: r["recv_rate"]),
                "offered": median(lambda r: r.get("offered") or 0),
                "recv_rate_min": min(r["recv_rate"] for r in good),
                "recv_rate_max": max(r["recv_rate"] for r in good),
                "p50_us": median(lambda r: r["lat_us"]["p50"]),
                "p99_us": median(lambda r: r["lat_us"]["p99"]),
                "p99_worst_us": max(r["lat_us"]["p99"] for r in good),
                "server_cpu": median(lambda r: r["server_cpu"]),
                # Server CPU per relayed message: steadier than msgs/s when other work shares core 0.
                "cpu_us_per_msg": median(lambda r: 1e6 * r["server_cpu"] / max(r["recv_rate"], 1e-9)),
                "loadgen_cpu": median(lambda r: r["loadgen_cpu"]),
                # Core 0 busy beyond the server itself: other processes competing with the server.
                "core0_other": median(lambda r: max(0.0, r.get("core0_busy", 0) - r["server_cpu"])),
                "core0_steal": median(lambda r: r.get("core0_steal", 0)),
                "misrouted": sum(r.get("misrouted", 0) for r in good),
                "error_replies": sum(r.get("error_replies", 0) for r in good),
                "closed": sum(r.get("closed", 0) for r in good),
            }
    return out


def _fmt_rate(row: dict[str, Any] | None) -> str:
    if not row or "recv_rate" not in row:
        return (row or {}).get("error") or "-"
    low, high = row["recv_rate_min"] / 1000, row["recv_rate_max"] / 1000
    return f"{row['recv_rate'] / 1000:.1f}k ({low:.1f}-{high:.1f}k)"


def _fmt_lat(row: dict[str, Any] | None) -> str:
    if not row or "p50_us" not in row:
        return (row or {}).get("error") or "-"
    # (!) the server did not keep up with the offered load: the latency is queueing, not relaying.
    overload = " (!)" if row.get("offered") and row["recv_rate"] < 0.98 * row["offered"] else ""
    return f"{row['p50_us']:.0f} / {row['p99_us']:.0f} µs (worst p99 {row['p99_worst_us']:.0f}){overload}"


def table(summary: dict[str, dict[str, Any]], sizes: Sizes) -> str:
    """The markdown table printed at the end (and kept in the JSON)."""
    stacks = [s for s in ("ours", "bare", "node") if s in summary]
    names = {"ours": "Printerlynx backend", "bare": "bare FastAPI/uvicorn sansio", "node": "bare Node ws"}
    lines = ["| measure | " + " | ".join(names[s] for s in stacks) + " |", "|---" * (len(stacks) + 1) + "|"]

    def row(label: str, cell: Any) -> None:
        lines.append(f"| {label} | " + " | ".join(cell(summary[s]) for s in stacks) + " |")

    conns = f"{sizes.agents} agents / {sizes.accounts} sessions"
    row(f"throughput, closed loop ({conns}), msgs/s", lambda s: _fmt_rate(s.get("sat")))
    row("server CPU / other load on core 0 / loadgen CPU (sat)", lambda s: _cpu(s.get("sat")))
    row("server CPU µs per relayed message (sat)", lambda s: _per_msg(s.get("sat")))
    for rate in sizes.rates:
        row(f"latency p50 / p99 at {rate} msg/s", lambda s, r=rate: _fmt_lat(s.get(f"rate{r}")))
    row(
        f"command round trip p50 / p99 at {sizes.cmd_rate}/s",
        lambda s: _fmt_lat(s.get("cmd")) if "cmd" in s else "n/a",
    )
    row("KiB per idle connection (agents / sessions)", lambda s: _mem(s.get("mem")))
    if "ours" in summary and "bare" in summary:
        ours, bare = summary["ours"].get("sat", {}), summary["bare"].get("sat", {})
        if "recv_rate" in ours and "recv_rate" in bare:
            lines.append(f"\nours / bare same-stack throughput: {ours['recv_rate'] / bare['recv_rate']:.2f}")
    return "\n".join(lines)


def _cpu(row: dict[str, Any] | None) -> str:
    if not row or "server_cpu" not in row:
        return "-"
    return f"{row['server_cpu']:.2f} / {row['core0_other']:.2f} / {row['loadgen_cpu']:.2f}"


def _per_msg(row: dict[str, Any] | None) -> str:
    return f"{row['cpu_us_per_msg']:.0f}" if row and "cpu_us_per_msg" in row else "-"


def _mem(row: dict[str, Any] | None) -> str:
    if not row or "per_conn_kib" not in row:
        return "-"
    return (
        f"{row['per_conn_kib']} ({row['per_agent_kib']} / {row['per_session_kib']}) of {row['connections']}"
    )


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    versions: dict[str, str] = {}
    for package in ("fastapi", "starlette", "uvicorn", "websockets", "pydantic", "orjson", "sqlalchemy"):
        try:
            from importlib.metadata import version

            versions[package] = version(package)
        except Exception:
            versions[package] = "?"
    node = shutil.which("node")
    if node:
        versions["node"] = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": versions,
    }
