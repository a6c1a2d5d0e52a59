"""Registration, login, logout and token checks against a real server."""

from __future__ import annotations

import time

import jwt

from tests.servers import Api, ServerProcess, register


def test_register_login_me(server: ServerProcess) -> None:
    api = register(server, password="a long passphrase")
    me = api.get("/api/v1/accounts/me").json()
    assert set(me) == {"uuid", "username", "email"}
    login = server.http.post(
        "/api/v1/auth/login", json={"username": me["username"], "password": "a long passphrase"}
    )
    assert login.status_code == 200
    assert Api(server, login.json()["token"]).get("/api/v1/accounts/me").json() == me


def test_register_conflict_and_validation(server: ServerProcess, api: Api) -> None:
    username = api.get("/api/v1/accounts/me").json()["username"]
    body = {
        "username": username.upper(),
        "email": "x@example.com",
        "password": "12345678",
        "password_confirmation": "12345678",
    }
    response = server.http.post("/api/v1/auth/register", json=body)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    body = {**body, "username": "fresh_name_1", "password_confirmation": "different"}
    response = server.http.post("/api/v1/auth/register", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
    short = {**body, "password": "short", "password_confirmation": "short"}
    assert server.http.post("/api/v1/auth/register", json=short).status_code == 422


def test_unknown_user_and_wrong_password_look_the_same(server: ServerProcess, api: Api) -> None:
    me = api.get("/api/v1/accounts/me").json()
    wrong = server.http.post("/api/v1/auth/login", json={"username": me["username"], "password": "nopenope"})
    unknown = server.http.post("/api/v1/auth/login", json={"username": "nobody_here", "password": "nopenope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_logout_revokes_token(server: ServerProcess, api: Api) -> None:
    assert api.post("/api/v1/auth/logout").status_code == 204
    response = api.get("/api/v1/accounts/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_forged_tokens_are_refused(server: ServerProcess, api: Api) -> None:
    me = api.get("/api/v1/accounts/me").json()
    now = int(time.time())
    claims = {"sub": me["uuid"], "iss": "Printerlynx", "iat": now, "exp": now + 60, "ver": 0}
    forged = [
        jwt.encode(claims, "x" * 32, algorithm="HS256"),  # wrong secret
        jwt.encode(claims, None, algorithm="none"),  # alg none
        jwt.encode({**claims, "iss": "Other"}, "x" * 32, algorithm="HS256"),
        api.token[:-2] + ("AA" if not api.token.endswith("AA") else "BB"),  # tampered signature
        "not-a-token",
    ]
    for token in forged:
        assert Api(server, token).get("/api/v1/accounts/me").status_code == 401, token
    assert server.http.get("/api/v1/accounts/me").status_code == 401
