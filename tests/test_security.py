"""Attacks on authentication: each point of the security list tries the attack against a real server."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator

import jwt
import pytest
from pydantic import ValidationError

from printerlynx.server.settings import Settings
from tests.relay_helpers import create_agent
from tests.servers import Api, ServerProcess, register


def _secret(server: ServerProcess) -> str:
    return (server.data_dir / "jwt-secret").read_text().strip()


def _claims(api: Api) -> dict[str, object]:
    return jwt.decode(api.token, options={"verify_signature": False})


def test_expired_and_incomplete_tokens_are_refused(sqlite_server: ServerProcess) -> None:
    api = register(sqlite_server)
    secret, claims = _secret(sqlite_server), _claims(api)
    now = int(time.time())
    cases = {
        "expired": {**claims, "iat": now - 120, "exp": now - 60},
        "no exp": {k: v for k, v in claims.items() if k != "exp"},
        "no iat": {k: v for k, v in claims.items() if k != "iat"},
        "no iss": {k: v for k, v in claims.items() if k != "iss"},
        "no sub": {k: v for k, v in claims.items() if k != "sub"},
        "other sub": {**claims, "sub": "7d4ce00f-d60a-4504-96ab-31a83f848722"},
        "old version": {**claims, "ver": -1},
    }
    for name, body in cases.items():
        token = jwt.encode(body, secret, algorithm="HS256")
        response = Api(sqlite_server, token).get("/api/v1/accounts/me")
        assert response.status_code == 401, name
        assert response.json()["error"]["code"] == "unauthenticated"
    # The right secret with another algorithm is still refused: HS256 is pinned.
    token = jwt.encode(claims, secret + "-padding-to-64-bytes" * 3, algorithm="HS512")
    assert Api(sqlite_server, token).get("/api/v1/accounts/me").status_code == 401
    token = jwt.encode(claims, secret, algorithm="HS384")
    assert Api(sqlite_server, token).get("/api/v1/accounts/me").status_code == 401
    # And the genuine token still works.
    assert api.get("/api/v1/accounts/me").status_code == 200


def test_agent_token_is_not_a_user_token(sqlite_server: ServerProcess) -> None:
    api = register(sqlite_server)
    agent = create_agent(api)
    response = Api(sqlite_server, agent.token).get("/api/v1/accounts/me")
    assert response.status_code == 401
    assert Api(sqlite_server, agent.token).get("/api/v1/agents").status_code == 401


def test_agent_tokens_are_random_prefixed_and_shown_once(sqlite_server: ServerProcess) -> None:
    api = register(sqlite_server)
    first, second = create_agent(api), create_agent(api)
    for token in (first.token, second.token):
        assert token.startswith("plx_") and len(token) >= 4 + 22  # >= 128 bits of base64url
    assert first.token != second.token
    listed = api.get("/api/v1/agents").json()
    assert all("token" not in item for item in listed)
    assert "token" not in api.get(f"/api/v1/agents/{first.uuid}").json()
    # Only a hash is stored: the token text appears nowhere in the database file.
    database = (sqlite_server.data_dir / "printerlynx.db").read_bytes()
    wal = sqlite_server.data_dir / "printerlynx.db-wal"
    stored = database + (wal.read_bytes() if wal.exists() else b"")
    assert first.token.encode() not in stored


def test_passwords_are_not_truncated(sqlite_server: ServerProcess) -> None:
    long_password = "p" * 100 + "tail"
    api = register(sqlite_server, password=long_password)
    login = sqlite_server.http.post(
        "/api/v1/auth/login", json={"username": api.username, "password": "p" * 100 + "TAIL"}
    )
    assert login.status_code == 401
    login = sqlite_server.http.post(
        "/api/v1/auth/login", json={"username": api.username, "password": long_password}
    )
    assert login.status_code == 200


def test_absurd_passwords_are_rejected_before_hashing(sqlite_server: ServerProcess) -> None:
    huge = "x" * 1_000_000
    body = {
        "username": "huge_pw_user",
        "email": "huge@example.com",
        "password": huge,
        "password_confirmation": huge,
    }
    response = sqlite_server.http.post("/api/v1/auth/register", json=body)
    assert response.status_code == 422
    response = sqlite_server.http.post("/api/v1/auth/login", json={"username": "x", "password": huge})
    assert response.status_code == 422


@pytest.fixture
def throttled() -> Iterator[ServerProcess]:
    """A server allowing 3 failed logins per account per minute."""
    process = ServerProcess({"PRINTERLYNX_LOGIN_ATTEMPTS_PER_MINUTE": "3"}).start()
    yield process
    process.stop()
    process.assert_no_traceback()
    shutil.rmtree(process.data_dir, ignore_errors=True)


def test_login_is_throttled_per_account_and_per_address(throttled: ServerProcess) -> None:
    api = register(throttled)
    for _ in range(3):
        wrong = throttled.http.post(
            "/api/v1/auth/login", json={"username": api.username, "password": "wrongwrong"}
        )
        assert wrong.status_code == 401
    blocked = throttled.http.post(
        "/api/v1/auth/login", json={"username": api.username, "password": api.password}
    )
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "rate_limited"
    assert int(blocked.headers["retry-after"]) > 0
    # Per address: failures against many different names from one address are throttled too (3 x 3).
    statuses = [
        throttled.http.post(
            "/api/v1/auth/login", json={"username": f"nobody{i}", "password": "wrongwrong"}
        ).status_code
        for i in range(12)
    ]
    assert 429 in statuses


def test_short_jwt_secret_is_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(jwt_secret="too short")
    assert Settings(jwt_secret="x" * 32).jwt_secret == "x" * 32


def test_error_shape_for_unknown_routes_and_methods(sqlite_server: ServerProcess) -> None:
    response = sqlite_server.http.get("/api/v1/nothing-here")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    response = sqlite_server.http.patch("/api/v1/auth/login")
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"
    response = sqlite_server.http.post(
        "/api/v1/auth/login", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "validation_error"
