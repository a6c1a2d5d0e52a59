"""The agent's download route: a job's file, fetched with the agent token, whole or resumed with Range.

The job is created the real way: an agent reports an available printer, a dashboard sends ``print_job``
START over the relay, the agent receives the forwarded command with its ``download_url`` and acknowledges.
"""

from __future__ import annotations

import hashlib
import uuid

from tests.relay_helpers import connect_agent, create_agent, is_type
from tests.servers import Api, ServerProcess, user_ws
from tests.test_printfiles import SAMPLES, api, error_code, other_api, upload

__all__ = ["api", "other_api"]  # module-scoped account fixtures, shared with test_printfiles


def test_agent_downloads_its_jobs_file(server: ServerProcess, api: Api, other_api: Api) -> None:
    data = (SAMPLES / "prusaslicer.gcode").read_bytes()
    print_file = upload(api, data).json()
    info = create_agent(api)
    agent = connect_agent(server, info)
    printer = agent.printers[0]
    dashboard = user_ws(server, api.token)
    dashboard.recv_until(is_type("printer_status"))
    request = {
        "type": "START",
        "agent_uuid": info.uuid,
        "printer_uuid": printer,
        "print_file_uuid": print_file["uuid"],
    }
    dashboard.send("print_job", request, "start-1")
    forwarded = agent.expect_command("print_job")
    job = forwarded["data"]
    assert job["sha256"] == print_file["checksum"] and job["size"] == len(data)
    assert job["download_url"] == f"/api/v1/agent/jobs/{job['job_uuid']}/file"
    agent.ack(forwarded)
    assert dashboard.recv_until(lambda m: m.get("id") == "start-1")["data"]["status"] == "OK"

    as_agent = Api(server, info.token)
    full = as_agent.get(job["download_url"])
    assert full.status_code == 200 and hashlib.sha256(full.content).hexdigest() == job["sha256"]
    assert full.headers["etag"] == f'"{job["sha256"]}"'
    resumed = as_agent.get(job["download_url"], headers={"Range": "bytes=1000-"})
    assert resumed.status_code == 206 and resumed.content == data[1000:]
    assert resumed.headers["content-range"] == f"bytes 1000-{len(data) - 1}/{len(data)}"
    beyond = as_agent.get(job["download_url"], headers={"Range": f"bytes={len(data)}-"})
    assert beyond.status_code == 416

    # A user token is not an agent token, and the other way round.
    assert api.get(job["download_url"]).status_code == 401
    assert as_agent.get(f"/api/v1/printfiles/{print_file['uuid']}/download").status_code == 401
    # Another agent of the same account, or of another account, does not see the job.
    sibling = Api(server, create_agent(api, "Sibling").token)
    stranger = Api(server, create_agent(other_api, "Stranger").token)
    for client in (sibling, stranger):
        response = client.get(job["download_url"])
        assert response.status_code == 404 and error_code(response) == "not_found"
    assert as_agent.get(f"/api/v1/agent/jobs/{uuid.uuid4()}/file").status_code == 404
    assert as_agent.get("/api/v1/agent/jobs/not-a-uuid/file").status_code == 422
    # Once the file is deleted, the job's download is gone too.
    assert api.delete(f"/api/v1/printfiles/{print_file['uuid']}").status_code == 204
    assert as_agent.get(job["download_url"]).status_code == 404
    for client in (agent.client, dashboard):
        client.close()
