"""The agent's configuration: command line and TOML file, and the stable identity of each printer.

A printer is named on the command line as ``NAME=serial:/dev/ttyUSB0@115200`` or ``NAME=virtual`` (with
simulator options: ``NAME=virtual:speed=5,advanced_ok=true``), or in the TOML file as a ``[[printers]]``
table whose other keys are passed to ``PrinterConfig`` (e.g. ``virtual = { speed = 5 }``).

Each NAME keeps its ``printer_uuid`` across restarts through a small state file (``printers.json`` in the
state directory): the backend's printers, jobs and dashboards know a printer by that uuid, so it must
never change behind their back.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import tomllib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOKEN_ENV = "PRINTERLYNX_AGENT_TOKEN"
DEFAULT_BAUD = 115200
MAX_PRINTER_NAME = 255
STATE_FILE = "printers.json"
_ADAPTERS = {"serial": "SERIAL", "virtual": "VIRTUAL"}
_BAUD_SUFFIX = re.compile(r"^(?P<port>.+)@(?P<baud>\d+)$")


class ConfigError(ValueError):
    """The configuration is wrong; the message says what and where."""


@dataclass(frozen=True, slots=True)
class PrinterSpec:
    """One printer as configured: its NAME, adapter and port, plus printer options passed through."""

    name: str
    adapter: str  # "SERIAL" | "VIRTUAL"
    port: str
    baud: int = DEFAULT_BAUD
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def interface(self) -> str:
        """``printer_adapter_interface``: the port path, or "virtual"."""
        return "virtual" if self.adapter == "VIRTUAL" else self.port


@dataclass(slots=True)
class AgentConfig:
    """Everything the agent needs to run."""

    server: str
    token: str
    printers: list[PrinterSpec]
    state_dir: Path
    data_dir: Path
    log_level: str = "INFO"

    @property
    def ws_url(self) -> str:
        """The backend's agent socket: ``ws(s)://…/api/v1/ws/agent`` derived from ``server``."""
        base = self.server.rstrip("/")
        scheme, rest = base.split("://", 1)
        return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/api/v1/ws/agent"


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/printerlynx-agent`` (``~/.local/state/printerlynx-agent``)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "printerlynx-agent"


def _check_name(name: str, where: str) -> str:
    name = name.strip()
    if not name:
        raise ConfigError(f"{where}: the printer needs a NAME")
    if len(name) > MAX_PRINTER_NAME or any(ord(char) < 32 or ord(char) == 127 for char in name):
        raise ConfigError(f"{where}: NAME must be at most {MAX_PRINTER_NAME} printable characters")
    return name


def parse_printer(text: str) -> PrinterSpec:
    """``NAME=serial:PORT[@BAUD]`` or ``NAME=virtual[:KEY=VALUE,…]`` → a ``PrinterSpec``."""
    where = f"--printer {text!r}"
    name, sep, target = text.partition("=")
    if not sep:
        raise ConfigError(f"{where}: expected NAME=serial:PORT[@BAUD] or NAME=virtual")
    name = _check_name(name, where)
    kind, _, port = target.strip().partition(":")
    adapter = _ADAPTERS.get(kind.lower())
    if adapter is None:
        raise ConfigError(f"{where}: unknown adapter {kind!r} (use serial or virtual)")
    if adapter == "VIRTUAL":
        options = {"virtual": _parse_options(port, where)} if port else {}
        return PrinterSpec(name, adapter, "virtual", options=options)
    baud = DEFAULT_BAUD
    match = _BAUD_SUFFIX.match(port)
    if match:
        port, baud = match["port"], int(match["baud"])
    if not port:
        raise ConfigError(f"{where}: a serial printer needs a port, e.g. serial:/dev/ttyUSB0@115200")
    return PrinterSpec(name, adapter, port, _check_baud(baud, where))


def _parse_options(text: str, where: str) -> dict[str, Any]:
    """``speed=5,advanced_ok=true`` → ``{"speed": 5, "advanced_ok": True}`` (simulator options)."""
    options: dict[str, Any] = {}
    for item in text.split(","):
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{where}: virtual options are KEY=VALUE separated by commas")
        value: Any = raw.strip()
        lowered = value.lower()
        if lowered in ("true", "false"):
            value = lowered == "true"
        else:
            for kind in (int, float):
                with contextlib.suppress(ValueError):
                    value = kind(value)
                    break
        options[key.strip()] = value
    return options


def _check_baud(baud: Any, where: str) -> int:
    if not isinstance(baud, int) or isinstance(baud, bool) or not 300 <= baud <= 4_000_000:
        raise ConfigError(f"{where}: baud must be a number between 300 and 4000000")
    return baud


def _printer_from_table(table: Any, index: int) -> PrinterSpec:
    where = f"[[printers]] #{index + 1}"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table")
    options = dict(table)
    name = _check_name(str(options.pop("name", "")), where)
    kind = str(options.pop("adapter", "serial")).lower()
    adapter = _ADAPTERS.get(kind)
    if adapter is None:
        raise ConfigError(f"{where}: unknown adapter {kind!r} (use serial or virtual)")
    port = str(options.pop("port", "virtual" if adapter == "VIRTUAL" else ""))
    if not port:
        raise ConfigError(f"{where}: a serial printer needs a port")
    baud = _check_baud(options.pop("baud", DEFAULT_BAUD), where)
    return PrinterSpec(name, adapter, port, baud, options)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc


def _check_server(server: str) -> str:
    server = server.strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+(/\S*)?$", server):
        raise ConfigError(f"--server must be an http:// or https:// URL, got {server!r}")
    return server


def load_config(
    *,
    config_file: Path | None = None,
    server: str | None = None,
    token: str | None = None,
    printers: list[str] | None = None,
    state_dir: Path | None = None,
    data_dir: Path | None = None,
    log_level: str | None = None,
    environ: dict[str, str] | None = None,
) -> AgentConfig:
    """Merge the TOML file, the command line (which wins) and ``PRINTERLYNX_AGENT_TOKEN``."""
    env = os.environ if environ is None else environ
    file: dict[str, Any] = _read_toml(config_file) if config_file else {}
    specs = [_printer_from_table(table, i) for i, table in enumerate(file.get("printers", []))]
    specs += [parse_printer(text) for text in printers or []]
    names = [spec.name for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f"printer names must be unique: {', '.join(duplicates)}")
    if not specs:
        raise ConfigError("no printers configured: add --printer NAME=serial:PORT@BAUD or NAME=virtual")
    server_url = server or file.get("server")
    if not server_url:
        raise ConfigError("--server is required (the backend's URL, e.g. http://printerlynx.local:3000)")
    agent_token = token or file.get("token") or env.get(TOKEN_ENV)
    if not agent_token:
        raise ConfigError(f"an agent token is required: --token, 'token' in the config file, or {TOKEN_ENV}")
    state = Path(state_dir or file.get("state_dir") or default_state_dir()).expanduser()
    data = Path(data_dir or file.get("data_dir") or state / "files").expanduser()
    return AgentConfig(
        server=_check_server(str(server_url)),
        token=str(agent_token).strip(),
        printers=specs,
        state_dir=state,
        data_dir=data,
        log_level=str(log_level or file.get("log_level") or "INFO").upper(),
    )


def printer_uuids(state_dir: Path, names: list[str]) -> dict[str, str]:
    """Each NAME's stable uuid: read from the state file, new ones made and saved (atomically)."""
    path = state_dir / STATE_FILE
    known: dict[str, str] = {}
    if path.exists():
        try:
            loaded = json.loads(path.read_text())
            known = {str(k): str(uuid.UUID(v)) for k, v in loaded.get("printers", {}).items()}
        except (OSError, ValueError, AttributeError, TypeError) as exc:
            raise ConfigError(
                f"{path} is damaged ({exc}); fix or remove it (printers get new uuids)"
            ) from exc
    missing = [name for name in names if name not in known]
    if missing:
        known.update({name: str(uuid.uuid4()) for name in missing})
        _write_atomically(path, json.dumps({"printers": known}, indent=2, sort_keys=True) + "\n")
    return {name: known[name] for name in names}


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
