"""print_job state rules: PAUSE only while printing, RESUME only while paused, CANCEL in either."""

from __future__ import annotations

import uuid

from tests.relay_helpers import connect_agent, create_agent, is_type
from tests.servers import Api, ServerProcess, user_ws, wait_for


def _job(state: str) -> dict[str, object]:
    return {
        "print_file_uuid": str(uuid.uuid4()),
        "name": "cube.gcode",
        "size": 1000,
        "progress": 0.25,
        "job_uuid": str(uuid.uuid4()),
        "state": state,
    }


def test_pause_resume_cancel_follow_the_reported_state(server: ServerProcess, api: Api) -> None:
    info = create_agent(api)
    agent = connect_agent(server, info)
    printer = agent.printers[0]
    dashboard = user_ws(server, api.token)
    dashboard.recv_until(is_type("printer_status"))

    def ask(kind: str) -> dict[str, object]:
        dashboard.send("print_job", {"type": kind, "agent_uuid": info.uuid, "printer_uuid": printer}, kind)
        return dashboard.recv_until(lambda m: m.get("id") == kind)["data"]

    # Nothing running: nothing to pause, resume or cancel.
    for kind in ("PAUSE", "RESUME", "CANCEL"):
        reply = ask(kind)
        assert reply["status"] == "ERROR" and "not running" in str(reply["message"])
    printing = _job("printing")
    agent.report(printer, "busy", printing)
    dashboard.recv_until(is_type("printer_status", status="busy"))
    assert ask("RESUME")["status"] == "ERROR"
    # START on a busy printer is refused before it reaches the agent.
    dashboard.send(
        "print_job",
        {
            "type": "START",
            "agent_uuid": info.uuid,
            "printer_uuid": printer,
            "print_file_uuid": str(uuid.uuid4()),
        },
        "s",
    )
    reply = dashboard.recv_until(lambda m: m.get("id") == "s")["data"]
    assert reply["status"] == "ERROR" and "busy" in reply["message"]
    # PAUSE while printing reaches the agent with the job's uuid.
    dashboard.send("print_job", {"type": "PAUSE", "agent_uuid": info.uuid, "printer_uuid": printer}, "p")
    forwarded = agent.expect_command("print_job")
    assert forwarded["data"] == {"type": "PAUSE", "printer_uuid": printer, "job_uuid": printing["job_uuid"]}
    agent.ack(forwarded)
    assert dashboard.recv_until(lambda m: m.get("id") == "p")["data"] == {"status": "OK"}
    agent.report(printer, "busy", {**printing, "state": "paused"})
    dashboard.recv_until(is_type("printer_status"))
    assert ask("PAUSE")["status"] == "ERROR"
    dashboard.send("print_job", {"type": "RESUME", "agent_uuid": info.uuid, "printer_uuid": printer}, "r")
    agent.ack(agent.expect_command("print_job"))
    assert dashboard.recv_until(lambda m: m.get("id") == "r")["data"] == {"status": "OK"}
    dashboard.send("print_job", {"type": "CANCEL", "agent_uuid": info.uuid, "printer_uuid": printer}, "c")
    agent.ack(agent.expect_command("print_job"), "ERROR", "printer is unavailable")
    assert dashboard.recv_until(lambda m: m.get("id") == "c")["data"] == {
        "status": "ERROR",
        "message": "printer is unavailable",
    }
    for client in (agent.client, dashboard):
        client.close()


def test_start_needs_the_accounts_own_file(server: ServerProcess, api: Api) -> None:
    info = create_agent(api)
    agent = connect_agent(server, info)
    dashboard = user_ws(server, api.token)
    dashboard.recv_until(is_type("printer_status"))
    dashboard.send(
        "print_job",
        {
            "type": "START",
            "agent_uuid": info.uuid,
            "printer_uuid": agent.printers[0],
            "print_file_uuid": str(uuid.uuid4()),
        },
        1,
    )
    reply = dashboard.recv_until(lambda m: m.get("id") == 1)
    assert reply["data"] == {"status": "ERROR", "message": "print file not found"}
    unknown = str(uuid.uuid4())
    dashboard.send(
        "print_job",
        {
            "type": "START",
            "agent_uuid": info.uuid,
            "printer_uuid": unknown,
            "print_file_uuid": str(uuid.uuid4()),
        },
        2,
    )
    reply = dashboard.recv_until(lambda m: m.get("id") == 2)
    assert reply["data"] == {"status": "ERROR", "message": "printer not found"}
    for client in (agent.client, dashboard):
        client.close()


def test_job_progress_is_persisted_from_reports(server: ServerProcess, api: Api) -> None:
    info = create_agent(api)
    agent = connect_agent(server, info)
    printer = agent.printers[0]
    # Statuses are written in the background within about a second of arriving.
    response = wait_for(lambda: api.get(f"/api/v1/printers/{printer}"), lambda r: r.status_code == 200)
    body = response.json()
    assert body["status"] == "available" and body["agent_online"] is True
    assert body["last_status"]["printer_identifier"] == "MK3"
    listed = api.get("/api/v1/printers").json()
    assert [item["uuid"] for item in listed] == [printer]
    dashboard = user_ws(server, api.token)
    dashboard.recv_until(is_type("printer_status"))
    agent.close()
    dashboard.recv_until(is_type("agent_status", status="offline"))
    body = api.get(f"/api/v1/printers/{printer}").json()
    assert body["status"] == "unavailable" and body["agent_online"] is False
    dashboard.close()


def test_printers_of_another_account_are_not_found(server: ServerProcess, api: Api, other_api: Api) -> None:
    info = create_agent(other_api)
    agent = connect_agent(server, info)
    watcher = user_ws(server, other_api.token)
    watcher.recv_until(is_type("printer_status"))
    assert api.get(f"/api/v1/printers/{agent.printers[0]}").status_code == 404
    assert api.get("/api/v1/printers").json() == []
    assert api.get(f"/api/v1/agents/{info.uuid}").status_code == 404
    assert api.get("/api/v1/jobs").json()["items"] == []
    for client in (agent.client, watcher):
        client.close()
