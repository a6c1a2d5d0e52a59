"""docs/protocol.md is checked against the real server: every example has the shape of a real frame."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import msgspec
import orjson

from printerlynx.protocol import messages
from tests.relay_helpers import connect_agent, create_agent, is_type, printer_status
from tests.servers import Api, ServerProcess, agent_ws, register, user_ws

DOC = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"
EXAMPLE = re.compile(r"<!-- example: (?P<name>[\w.]+) -->\s*```json\n(?P<body>.*?)```", re.DOTALL)
# Fields a real frame may leave out when it has nothing to say (documented as optional extensions).
OPTIONAL = {
    "job_uuid",
    "message",
    "target_temperature",
    "elapsed",
    "remaining",
    "started_at",
    "ended_at",
    "id",
    "command",
}


def examples() -> dict[str, dict[str, Any]]:
    """Every ``<!-- example: name -->`` JSON block of the protocol doc."""
    found = {match["name"]: orjson.loads(match["body"]) for match in EXAMPLE.finditer(DOC.read_text())}
    assert len(found) >= 25, sorted(found)
    return found


def same_shape(documented: Any, real: Any, where: str = "") -> None:
    """Real keys are all documented; documented keys are all present unless optional; statuses equal."""
    if isinstance(documented, dict) and isinstance(real, dict):
        undocumented = set(real) - set(documented)
        assert not undocumented, f"{where}: keys not in the doc: {undocumented}"
        missing = set(documented) - set(real) - OPTIONAL
        assert not missing, f"{where}: documented keys missing from the real frame: {missing}"
        for key in set(documented) & set(real):
            if key in ("type", "status") and isinstance(documented[key], str):
                assert documented[key] == real[key], f"{where}.{key}: {documented[key]!r} != {real[key]!r}"
            if documented[key] is not None and real[key] is not None:
                same_shape(documented[key], real[key], f"{where}.{key}")
    elif documented is not None and real is not None:
        numbers = (int, float)
        if isinstance(documented, numbers) and isinstance(real, numbers):
            return
        assert type(documented) is type(real), (
            f"{where}: {type(documented).__name__} != {type(real).__name__}"
        )


def test_requests_in_the_doc_are_valid_messages() -> None:
    docs = examples()
    messages.PrintJobRequest.model_validate(docs["user.print_job.request"]["data"])
    messages.PrinterCommandRequest.model_validate(docs["user.printer_command.request"]["data"])
    msgspec.convert(docs["agent.printer_status"]["data"], messages.PrinterStatus)
    msgspec.convert(docs["user.printer_status.busy"]["data"], messages.PrinterStatus)
    messages.AgentPrintJob.model_validate(docs["agent.print_job.start"]["data"])
    messages.AgentPrintJob.model_validate(docs["agent.print_job.pause"]["data"])
    messages.AgentPrinterCommand.model_validate(docs["agent.printer_command"]["data"])
    messages.PrinterResponse.model_validate(docs["agent.printer_response"]["data"])
    for name in (
        "agent.print_job.ack",
        "agent.printer_command.ack",
        "user.print_job.ok",
        "user.print_job.error",
    ):
        messages.Ack.model_validate(docs[name]["data"])


def test_examples_match_real_frames(sqlite_server: ServerProcess) -> None:
    docs = examples()
    server = sqlite_server
    real: dict[str, dict[str, Any]] = {}

    api: Api = register(server)
    info = create_agent(api, "Demo")

    bad = user_ws(server)
    bad.send("authentication", {"token": "nope"})
    real["user.authentication.error"] = bad.recv()
    bad.close()
    bad_agent = agent_ws(server)
    bad_agent.send("authentication", {"token": "plx_nope"})
    real["agent.authentication.error"] = bad_agent.recv()
    bad_agent.close()

    dashboard = user_ws(server)
    dashboard.send("authentication", {"token": api.token})
    real["user.authentication.ok"] = dashboard.recv()
    real["user.agent_status.offline"] = dashboard.recv()
    agent_client = agent_ws(server)
    agent_client.send("authentication", {"token": info.token})
    real["agent.authentication.success"] = agent_client.recv()
    printer = str(uuid.uuid4())
    status = {**docs["agent.printer_status"]["data"], "printer_uuid": printer}
    agent_client.send("printer_status", status)
    real["user.agent_status.online"] = dashboard.recv_until(is_type("agent_status", status="online"))
    real["user.printer_status.available"] = dashboard.recv_until(is_type("printer_status"))

    command = {
        **docs["user.printer_command.request"]["data"],
        "agent_uuid": info.uuid,
        "printer_uuid": printer,
    }
    dashboard.send("printer_command", command, 7)
    real["agent.printer_command"] = forwarded = agent_client.recv_until(is_type("printer_command"))
    agent_client.send("printer_command", {"status": "OK"}, forwarded["id"])
    real["user.printer_command.ok"] = dashboard.recv_until(lambda m: m.get("id") == 7)
    agent_client.send("printer_response", {**docs["agent.printer_response"]["data"], "printer_uuid": printer})
    real["user.printer_response"] = dashboard.recv_until(is_type("printer_response"))

    busy = {**docs["user.printer_status.busy"]["data"], "printer_uuid": printer}
    busy.pop("agent_uuid")
    agent_client.send("printer_status", busy)
    real["user.printer_status.busy"] = dashboard.recv_until(is_type("printer_status", status="busy"))
    dashboard.send("print_job", {"type": "PAUSE", "agent_uuid": info.uuid, "printer_uuid": printer}, "p")
    real["agent.print_job.pause"] = pause = agent_client.recv_until(is_type("print_job"))
    real["agent.print_job.ack"] = {"type": "print_job", "id": pause["id"], "data": {"status": "OK"}}
    agent_client.send("print_job", {"status": "OK"}, pause["id"])
    dashboard.recv_until(lambda m: m.get("id") == "p")
    dashboard.send(
        "print_job",
        {
            "type": "START",
            "agent_uuid": info.uuid,
            "printer_uuid": printer,
            "print_file_uuid": str(uuid.uuid4()),
        },
        "start-1",
    )
    real["user.print_job.error"] = dashboard.recv_until(lambda m: m.get("id") == "start-1")
    dashboard.send("launch", {}, "x")
    real["user.error"] = dashboard.recv_until(lambda m: m.get("id") == "x")

    agent_client.close()
    dashboard.recv_until(is_type("agent_status", status="offline"))
    real["user.printer_status.unavailable"] = dashboard.recv_until(is_type("printer_status"))
    dashboard.send("printer_command", command, 7)
    real["user.printer_command.error"] = dashboard.recv_until(lambda m: m.get("id") == 7)

    # A START end to end, when print files can be uploaded.
    agent = connect_agent(server, info)
    upload = api.post(
        "/api/v1/printfiles", files={"file": ("File.gcode", b"G28\nG1 X10 Y10\n", "text/plain")}
    )
    if upload.status_code == 201:
        dashboard.recv_until(is_type("printer_status", printer_uuid=agent.printers[0]))
        dashboard.send(
            "print_job",
            {
                "type": "START",
                "agent_uuid": info.uuid,
                "printer_uuid": agent.printers[0],
                "print_file_uuid": upload.json()["uuid"],
            },
            "start-1",
        )
        real["agent.print_job.start"] = start = agent.expect_command("print_job")
        agent.ack(start)
        real["user.print_job.ok"] = dashboard.recv_until(lambda m: m.get("id") == "start-1")
    agent.close()
    dashboard.close()

    for name, frame in real.items():
        same_shape(docs[name], frame, name)
    client_side = {
        "user.authentication.request",
        "agent.authentication.request",
        "user.print_job.request",
        "user.printer_command.request",
        "agent.printer_status",
        "agent.printer_command.ack",
        "agent.printer_response",
    }
    unchecked = set(docs) - set(real) - client_side
    if upload.status_code == 201:
        assert not unchecked, unchecked
    # Requests as documented are what our own helpers send.
    same_shape(docs["agent.printer_status"]["data"], printer_status(printer), "agent.printer_status")
