"""The command line: ``printerlynx db upgrade`` and JSON logging."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.servers import ServerProcess


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    env = {**os.environ, "PRINTERLYNX_DATA_DIR": str(tmp_path)}
    for _ in range(2):  # idempotent
        result = subprocess.run(
            [sys.executable, "-m", "printerlynx.cli", "db", "upgrade"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "printerlynx.db") as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"accounts", "agents", "print_files", "printers", "jobs", "alembic_version"} <= tables


def test_json_logs_and_generated_secret_is_kept(tmp_path: Path) -> None:
    server = ServerProcess({"PRINTERLYNX_LOG_FORMAT": "json"}, data_dir=tmp_path).start()
    server.stop()
    records = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    assert any(record["message"].startswith("Printerlynx") for record in records)
    secret = (tmp_path / "jwt-secret").read_text()
    assert len(secret) >= 32 and (tmp_path / "jwt-secret").stat().st_mode & 0o077 == 0
    ServerProcess(data_dir=tmp_path).start().stop()
    assert (tmp_path / "jwt-secret").read_text() == secret


def test_refuses_a_short_configured_secret(tmp_path: Path) -> None:
    env = {**os.environ, "PRINTERLYNX_DATA_DIR": str(tmp_path), "PRINTERLYNX_JWT_SECRET": "short"}
    result = subprocess.run(
        [sys.executable, "-m", "printerlynx.cli", "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "PRINTERLYNX_JWT_SECRET" in result.stderr and "at least 32 bytes" in result.stderr
    assert "Traceback" not in result.stderr
