"""A tiny run of the relay benchmark harness, so it does not rot: real servers, the real C load generator.

No timing assertions: only that every stack relayed statuses to the right sessions, commands were
acknowledged end to end, memory was measured, and no server logged a traceback.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from bench import relay
from bench.relay_setup import NODE_DIR

from tests.conftest import need


def test_relay_benchmark_quick_run(tmp_path: Path) -> None:
    need("gcc (builds bench/loadgen.c)", shutil.which("gcc") is not None)
    stacks = ["ours", "bare"]
    # Node joins only when its packages are already installed: the test never reaches for the registry.
    if shutil.which("node") and (NODE_DIR / "node_modules" / "ws").is_dir():
        stacks.append("node")
    out = tmp_path / "relay.json"

    status = relay.main(
        [
            "--quick",
            "--stacks",
            ",".join(stacks),
            "--reps",
            "1",
            "--accounts",
            "2",
            "--no-pin",
            "--reuse-server",
            "--out",
            str(out),
        ]
    )

    report = json.loads(out.read_text())
    assert status == 0, [r for r in report["records"] if "error" in r]
    for stack in stacks:
        runs = [r for r in report["records"] if r["stack"] == stack and r["test"] != "mem"]
        assert {r["test"] for r in runs} >= {"sat", "rate300"}, runs
        for run in runs:
            assert run["ready"] == run["agents"] + run["users"], run
            assert run["recv"] > 0, run
            assert run["misrouted"] == 0 and run["foreign"] == 0, run
            assert run["error_replies"] == 0 and run["closed"] == 0, run
        memory = next(r for r in report["records"] if r["stack"] == stack and r["test"] == "mem")
        assert memory["ok"] and memory["per_conn_kib"] is not None, memory
        assert stack in report["summary"] and report["table"].count("|") > 10
    command = next(r for r in report["records"] if r["stack"] == "ours" and r["test"] == "cmd")
    assert command["cmd_ok"] > 0 and command["cmd_error"] == 0, command
    assert command["acks_sent"] >= command["cmd_ok"], command
    for name, log in report["server_logs"].items():
        assert log["tracebacks"] == 0, (name, log["tail"])


def test_relay_benchmark_refuses_unknown_stack(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        relay.main(["--quick", "--stacks", "ours,nginx"])
    assert exit_info.value.code == 2
    assert "unknown stack(s): nginx" in capsys.readouterr().err
