"""Accounts and agents over REST: profile changes, CRUD, ownership."""

from __future__ import annotations

import uuid

from tests.relay_helpers import create_agent
from tests.servers import Api, ServerProcess, register


def test_update_profile_and_conflicts(server: ServerProcess, api: Api, other_api: Api) -> None:
    other = other_api.get("/api/v1/accounts/me").json()
    response = api.put("/api/v1/accounts/me", json={"email": "new-address@example.com"})
    assert response.status_code == 200 and response.json()["email"] == "new-address@example.com"
    response = api.put("/api/v1/accounts/me", json={"username": other["username"]})
    assert response.status_code == 409
    response = api.put("/api/v1/accounts/me", json={"email": "not an email"})
    assert response.status_code == 422
    response = api.put("/api/v1/accounts/me", json={"unknown": 1})
    assert response.status_code == 422


def test_password_change_requires_the_old_password(server: ServerProcess, api: Api) -> None:
    response = api.put(
        "/api/v1/accounts/me/password",
        json={
            "old_password": "wrong password",
            "password": "brand new pass",
            "password_confirmation": "brand new pass",
        },
    )
    assert response.status_code == 422
    assert api.get("/api/v1/accounts/me").status_code == 200


def test_agent_crud(server: ServerProcess, api: Api) -> None:
    info = create_agent(api, "Basement")
    body = api.get(f"/api/v1/agents/{info.uuid}").json()
    assert body["name"] == "Basement" and body["online"] is False and body["last_seen_at"] is None
    assert set(body) == {"uuid", "name", "description", "created_at", "last_seen_at", "online"}
    renamed = api.put(f"/api/v1/agents/{info.uuid}", json={"name": "Attic", "description": "upstairs"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Attic"
    assert [item["uuid"] for item in api.get("/api/v1/agents").json()] == [info.uuid]
    assert api.put(f"/api/v1/agents/{info.uuid}", json={"name": ""}).status_code == 422
    assert api.put(f"/api/v1/agents/{info.uuid}", json={"name": "bad\nname"}).status_code == 422
    assert api.delete(f"/api/v1/agents/{info.uuid}").status_code == 204
    assert api.get(f"/api/v1/agents/{info.uuid}").status_code == 404
    assert api.get("/api/v1/agents/not-a-uuid").status_code == 422


def test_another_accounts_agent_is_invisible(server: ServerProcess, api: Api, other_api: Api) -> None:
    theirs = create_agent(other_api)
    for method, path in [("GET", ""), ("PUT", ""), ("DELETE", ""), ("POST", "/token")]:
        kwargs = {"json": {"name": "mine now"}} if method == "PUT" else {}
        response = api.request(method, f"/api/v1/agents/{theirs.uuid}{path}", **kwargs)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "not_found"
    assert other_api.get(f"/api/v1/agents/{theirs.uuid}").json()["name"] == "Workshop"
    assert api.get(f"/api/v1/agents/{uuid.uuid4()}").status_code == 404


def test_account_deletion_removes_everything(server: ServerProcess) -> None:
    api = register(server)
    create_agent(api)
    assert api.delete("/api/v1/accounts/me").status_code == 204
    login = server.http.post("/api/v1/auth/login", json={"username": api.username, "password": api.password})
    assert login.status_code == 401
    # The username is free again.
    again = register(server, username=api.username)
    assert again.get("/api/v1/agents").json() == []


def test_health_and_metrics(server: ServerProcess) -> None:
    health = server.http.get("/health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok", "storage": "ok"}}
    metrics = server.http.get("/metrics")
    assert metrics.status_code == 200 and "printerlynx_http_requests_total" in metrics.text
    assert server.http.get("/openapi.json").json()["info"]["title"] == "Printerlynx"
    assert server.http.get("/docs").status_code == 200
