"""SQLAlchemy models: accounts, agents, print files, printers and jobs.

UUIDs are stored as 36-character strings so SQLite and PostgreSQL hold the same values; times are
UTC-aware on the way out whatever the engine keeps.
"""

from __future__ import annotations

import uuid as uuid_module
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """The current time, UTC-aware."""
    return datetime.now(UTC)


def new_uuid() -> str:
    """A fresh random UUID as text."""
    return str(uuid_module.uuid4())


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that always comes back UTC-aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    """Declarative base of every table."""

    type_annotation_map = {dict[str, Any]: JSON}


class Account(Base):
    """A person's account; ``token_version`` revokes every JWT issued before it changed."""

    __tablename__ = "accounts"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Agent(Base):
    """A program beside the printers; its token is kept only as a SHA-256 hash."""

    __tablename__ = "agents"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    account_uuid: Mapped[str] = mapped_column(ForeignKey("accounts.uuid", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(1000), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PrintFile(Base):
    """An uploaded G-code file: its bytes live in file storage under ``storage_key``."""

    __tablename__ = "print_files"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    account_uuid: Mapped[str] = mapped_column(ForeignKey("accounts.uuid", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    checksum: Mapped[str] = mapped_column(String(64))
    file_type: Mapped[str] = mapped_column(String(16))
    storage_key: Mapped[str] = mapped_column(String(255))
    file_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    thumbnail: Mapped[bytes | None] = mapped_column(nullable=True, deferred=True)
    thumbnail_mime: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Printer(Base):
    """A printer as last reported by its agent; ``uuid`` is the agent's stable printer id."""

    __tablename__ = "printers"
    __table_args__ = (UniqueConstraint("agent_uuid", "uuid", name="uq_printers_agent_printer"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), index=True)
    agent_uuid: Mapped[str] = mapped_column(ForeignKey("agents.uuid", ondelete="CASCADE"), index=True)
    account_uuid: Mapped[str] = mapped_column(ForeignKey("accounts.uuid", ondelete="CASCADE"), index=True)
    identifier: Mapped[str] = mapped_column(String(255), default="")
    adapter_identifier: Mapped[str | None] = mapped_column(String(64), nullable=True)
    adapter_interface: Mapped[str | None] = mapped_column(String(255), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="unavailable")
    last_status: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Job(Base):
    """One print of one file on one printer, from creation to its end."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_account_created", "account_uuid", "created_at"),)

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    account_uuid: Mapped[str] = mapped_column(ForeignKey("accounts.uuid", ondelete="CASCADE"), index=True)
    agent_uuid: Mapped[str] = mapped_column(String(36), index=True)
    printer_uuid: Mapped[str] = mapped_column(String(36), index=True)
    print_file_uuid: Mapped[str | None] = mapped_column(String(36), nullable=True)
    file_name: Mapped[str] = mapped_column(String(255))
    file_size: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16), default="created", index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LoginAttempt(Base):
    """Failed logins, so throttling holds across every instance sharing the database."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(400))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
