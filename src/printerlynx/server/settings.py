"""The one settings object: every knob of the backend, from ``PRINTERLYNX_*`` variables and ``.env``."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIN_SECRET_BYTES = 32


class Settings(BaseSettings):
    """Backend configuration; the embedded default needs none of it."""

    model_config = SettingsConfigDict(env_prefix="PRINTERLYNX_", env_file=".env", extra="ignore")

    data_dir: Path = Path("./printerlynx-data")
    database_url: str | None = None
    broker_url: str = "memory://"
    storage_url: str | None = None
    jwt_secret: str | None = None
    jwt_ttl: int = Field(default=7 * 24 * 3600, ge=60, le=365 * 24 * 3600)
    max_upload_bytes: int = Field(default=1 << 30, ge=1)
    # Comma-separated (or a JSON list) in the environment.
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    public_url: str | None = None
    # Limits of the live relay (DESIGN.md "Limits").
    ws_auth_timeout: float = 10.0
    ws_max_message_bytes: int = 64 * 1024
    ws_ping_interval: float = 20.0
    ws_ping_timeout: float = 20.0
    ws_send_queue: int = 256
    ws_rate_per_second: float = 50.0
    ws_rate_burst: int = 200
    command_timeout: float = 10.0
    login_attempts_per_minute: int = 10

    @field_validator("jwt_secret")
    @classmethod
    def _secret_long_enough(cls, value: str | None) -> str | None:
        if value is not None and len(value.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"PRINTERLYNX_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")
        return value

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)
            return [origin.strip().rstrip("/") for origin in value.split(",") if origin.strip()]
        return value

    @property
    def resolved_database_url(self) -> str:
        """The database URL; the embedded default is a SQLite file in the data directory."""
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+asyncpg://" + url.split("://", 1)[1]
            elif url.startswith("sqlite://") and not url.startswith("sqlite+aiosqlite://"):
                url = "sqlite+aiosqlite://" + url.split("://", 1)[1]
            return url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'printerlynx.db').resolve()}"

    def resolved_jwt_secret(self) -> str:
        """The JWT secret: configured, or generated once and kept in the data directory."""
        if self.jwt_secret:
            return self.jwt_secret
        path = self.data_dir / "jwt-secret"
        if path.exists():
            value = path.read_text().strip()
            if len(value.encode()) >= MIN_SECRET_BYTES:
                return value
        self.data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text(value)
        return value
