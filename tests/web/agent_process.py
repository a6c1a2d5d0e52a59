"""The real agent (``printerlynx agent``) with virtual printers, as a subprocess of the test."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.servers import ServerProcess


class AgentProcess:
    """``printerlynx agent --server … --token … --printer NAME=virtual …`` with its own state directory."""

    def __init__(self, server: ServerProcess, token: str, printers: list[str]) -> None:
        self.server = server
        self.token = token
        self.printers = printers
        self.directory = Path(tempfile.mkdtemp(prefix="plx-agent-"))
        self.log_path = self.directory / "agent.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> AgentProcess:
        """Start the agent; it connects (and reconnects) by itself."""
        command = [sys.executable, "-m", "printerlynx.cli", "agent", "--server", self.server.url]
        command += ["--token", self.token, "--backoff-cap", "2"]
        command += ["--state-dir", str(self.directory), "--data-dir", str(self.directory / "files")]
        for name in self.printers:
            command += ["--printer", f"{name}=virtual"]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        return self

    def log(self) -> str:
        """Everything the agent logged."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """Stop it (SIGTERM, then kill), check it never logged a traceback, and clean up."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        text = self.log()
        shutil.rmtree(self.directory, ignore_errors=True)
        assert "Traceback" not in text, text[-5000:]
