"""Password hashing (argon2id, off the event loop), user JWTs and agent tokens."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import secrets
import time
from dataclasses import dataclass

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from printerlynx.server.errors import InvalidInput, Unauthenticated

JWT_ALGORITHM = "HS256"
JWT_ISSUER = "Printerlynx"
AGENT_TOKEN_PREFIX = "plx_"
MIN_PASSWORD_CHARS = 8
# Argon2 hashes any length, but a megabyte password is an attack on CPU, not a password.
MAX_PASSWORD_BYTES = 1024

_password_hash = PasswordHash((Argon2Hasher(),))


@functools.cache
def _dummy_hash() -> str:
    """A real hash of a random password: checking it makes "unknown user" cost what "wrong password" does."""
    return _password_hash.hash(secrets.token_urlsafe(16))


def check_password_rules(password: str) -> None:
    """Refuse passwords that are too short or absurdly long (before any hashing)."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInput(f"password must be at least {MIN_PASSWORD_CHARS} characters")
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise InvalidInput(f"password must be at most {MAX_PASSWORD_BYTES} bytes")


async def hash_password(password: str) -> str:
    """Argon2id hash of ``password``, computed in a worker thread."""
    return await asyncio.to_thread(_password_hash.hash, password)


async def verify_password(password: str, password_hash: str | None) -> bool:
    """Whether ``password`` matches; a missing hash still costs one verification."""
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        return False
    return await asyncio.to_thread(_password_hash.verify, password, password_hash or _dummy_hash()) and (
        password_hash is not None
    )


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a verified user token says."""

    account_uuid: str
    token_version: int
    issued_at: int
    expires_at: int


def issue_user_token(secret: str, account_uuid: str, token_version: int, ttl: int) -> str:
    """A signed HS256 JWT for the account at its current token version."""
    now = int(time.time())
    claims = {"sub": account_uuid, "iss": JWT_ISSUER, "iat": now, "exp": now + ttl, "ver": token_version}
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)


def decode_user_token(secret: str, token: str) -> TokenClaims:
    """Verify signature, algorithm, issuer, expiry and required claims, or raise ``Unauthenticated``."""
    if token.startswith(AGENT_TOKEN_PREFIX):
        raise Unauthenticated("an agent token is not a user token")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[JWT_ALGORITHM],
            issuer=JWT_ISSUER,
            options={"require": ["exp", "iat", "iss", "sub"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("token expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthenticated("invalid token") from exc
    subject = claims.get("sub")
    version = claims.get("ver", 0)
    if not isinstance(subject, str) or not isinstance(version, int):
        raise Unauthenticated("invalid token")
    return TokenClaims(subject, version, int(claims["iat"]), int(claims["exp"]))


def new_agent_token() -> str:
    """A fresh agent token: recognisable prefix and 256 random bits."""
    return AGENT_TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_agent_token(token: str) -> str:
    """SHA-256 hex of an agent token (tokens are random, so no salt or slow hash is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()
