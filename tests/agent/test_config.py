"""Agent configuration: printer specs, TOML, token sources, stable printer uuids."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import pytest

from printerlynx.agent.config import ConfigError, load_config, parse_printer, printer_uuids


def test_parse_serial_with_baud() -> None:
    spec = parse_printer("MK3=serial:/dev/ttyUSB0@250000")
    assert (spec.name, spec.adapter, spec.port, spec.baud) == ("MK3", "SERIAL", "/dev/ttyUSB0", 250000)
    assert spec.interface == "/dev/ttyUSB0"


def test_parse_serial_default_baud_and_url_port() -> None:
    assert parse_printer("A=serial:/dev/ttyACM0").baud == 115200
    spec = parse_printer("B=serial:socket://127.0.0.1:7000@57600")
    assert (spec.port, spec.baud) == ("socket://127.0.0.1:7000", 57600)


def test_parse_virtual() -> None:
    spec = parse_printer("Sim=virtual")
    assert (spec.adapter, spec.port, spec.interface) == ("VIRTUAL", "virtual", "virtual")
    assert spec.options == {}


def test_parse_virtual_with_simulator_options() -> None:
    spec = parse_printer("Sim=virtual:speed=2.5,extruders=2,advanced_ok=true,name=x")
    assert spec.options == {"virtual": {"speed": 2.5, "extruders": 2, "advanced_ok": True, "name": "x"}}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_printer("Sim=virtual:speed")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("noequals", "expected NAME="),
        ("=virtual", "needs a NAME"),
        ("X=usb:/dev/x", "unknown adapter"),
        ("X=serial:", "needs a port"),
        ("X=serial:/dev/x@12", "baud"),
        ("bad\x01name=virtual", "printable"),
    ],
)
def test_parse_refuses_bad_specs(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_printer(text)


def test_toml_file_with_printer_tables(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(
        'server = "https://plx.example.com/"\ntoken = "plx_file"\n'
        f'state_dir = "{tmp_path / "state"}"\n'
        '[[printers]]\nname = "MK3"\nadapter = "serial"\nport = "/dev/ttyUSB0"\nbaud = 115200\n'
        "rx_buffer_bytes = 64\n"
        '[[printers]]\nname = "Sim"\nadapter = "virtual"\n'
    )
    config = load_config(config_file=path, printers=["Extra=virtual"], environ={})
    assert config.server == "https://plx.example.com"
    assert config.ws_url == "wss://plx.example.com/api/v1/ws/agent"
    assert config.token == "plx_file"
    assert [p.name for p in config.printers] == ["MK3", "Sim", "Extra"]
    assert config.printers[0].options == {"rx_buffer_bytes": 64}
    assert config.state_dir == tmp_path / "state"
    assert config.data_dir == tmp_path / "state" / "files"


def test_command_line_wins_and_token_from_environment(tmp_path: Path) -> None:
    config = load_config(
        server="http://127.0.0.1:3000",
        printers=["A=virtual"],
        state_dir=tmp_path,
        environ={"PRINTERLYNX_AGENT_TOKEN": "plx_env"},
    )
    assert config.token == "plx_env"
    assert config.ws_url == "ws://127.0.0.1:3000/api/v1/ws/agent"
    config = load_config(
        server="http://h:1", token="plx_cli", printers=["A=virtual"], environ={"PRINTERLYNX_AGENT_TOKEN": "x"}
    )
    assert config.token == "plx_cli"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"token": "t", "printers": ["A=virtual"]}, "--server is required"),
        ({"server": "http://h", "printers": ["A=virtual"]}, "token is required"),
        ({"server": "http://h", "token": "t"}, "no printers"),
        ({"server": "ftp://h", "token": "t", "printers": ["A=virtual"]}, "http:// or https://"),
        ({"server": "http://h", "token": "t", "printers": ["A=virtual", "A=virtual"]}, "unique: A"),
    ],
)
def test_missing_or_wrong_settings_are_explained(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_config(environ={}, **kwargs)  # type: ignore[arg-type]


def test_unreadable_or_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(config_file=tmp_path / "missing.toml", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("server = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(config_file=bad, environ={})


def test_printer_uuids_are_stable_across_restarts(tmp_path: Path) -> None:
    first = printer_uuids(tmp_path, ["MK3", "Ender"])
    assert len(set(first.values())) == 2
    assert all(str(uuid.UUID(value)) == value for value in first.values())
    again = printer_uuids(tmp_path, ["Ender", "MK3", "New"])
    assert again["MK3"] == first["MK3"] and again["Ender"] == first["Ender"]
    stored = json.loads((tmp_path / "printers.json").read_text())["printers"]
    assert stored == again


def test_damaged_state_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "printers.json").write_text("{not json")
    with pytest.raises(ConfigError, match="damaged"):
        printer_uuids(tmp_path, ["A"])


def test_cli_explains_configuration_errors(capsys: pytest.CaptureFixture[str]) -> None:
    from printerlynx.cli import main

    assert main(["agent", "--server", "http://127.0.0.1:3000", "--printer", "A=usb"]) == 2
    assert "unknown adapter 'usb'" in capsys.readouterr().err


def test_cli_refuses_unknown_printer_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from printerlynx.cli import main

    argv = ["agent", "--server", "http://127.0.0.1:9", "--token", "plx_x", "--state-dir", str(tmp_path)]
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        assert main([*argv, "--printer", "A=virtual:warp=9"]) == 2
    finally:  # the CLI configures logging for the process: give pytest its own back
        root.handlers[:], root.level = handlers, level
    assert "unknown virtual printer option(s): warp" in capsys.readouterr().err
