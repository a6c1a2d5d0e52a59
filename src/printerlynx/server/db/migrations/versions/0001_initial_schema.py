"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-28 12:18:09.909890
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "accounts",
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("token_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("uuid"),
        sa.UniqueConstraint("email"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_login_attempts_key_at", ["key", "at"], unique=False)

    op.create_table(
        "agents",
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("account_uuid", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_uuid"], ["accounts.uuid"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("uuid"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agents_account_uuid"), ["account_uuid"], unique=False)

    op.create_table(
        "jobs",
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("account_uuid", sa.String(length=36), nullable=False),
        sa.Column("agent_uuid", sa.String(length=36), nullable=False),
        sa.Column("printer_uuid", sa.String(length=36), nullable=False),
        sa.Column("print_file_uuid", sa.String(length=36), nullable=True),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("file_size", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_uuid"], ["accounts.uuid"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("uuid"),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_account_created", ["account_uuid", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_jobs_account_uuid"), ["account_uuid"], unique=False)
        batch_op.create_index(batch_op.f("ix_jobs_agent_uuid"), ["agent_uuid"], unique=False)
        batch_op.create_index(batch_op.f("ix_jobs_printer_uuid"), ["printer_uuid"], unique=False)
        batch_op.create_index(batch_op.f("ix_jobs_state"), ["state"], unique=False)

    op.create_table(
        "print_files",
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("account_uuid", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("file_type", sa.String(length=16), nullable=False),
        sa.Column("storage_key", sa.String(length=255), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("thumbnail", sa.LargeBinary(), nullable=True),
        sa.Column("thumbnail_mime", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_uuid"], ["accounts.uuid"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("uuid"),
    )
    with op.batch_alter_table("print_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_print_files_account_uuid"), ["account_uuid"], unique=False)

    op.create_table(
        "printers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("agent_uuid", sa.String(length=36), nullable=False),
        sa.Column("account_uuid", sa.String(length=36), nullable=False),
        sa.Column("identifier", sa.String(length=255), nullable=False),
        sa.Column("adapter_identifier", sa.String(length=64), nullable=True),
        sa.Column("adapter_interface", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("last_status", sa.JSON(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_uuid"], ["accounts.uuid"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["agent_uuid"], ["agents.uuid"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("agent_uuid", "uuid", name="uq_printers_agent_printer"),
    )
    with op.batch_alter_table("printers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_printers_account_uuid"), ["account_uuid"], unique=False)
        batch_op.create_index(batch_op.f("ix_printers_agent_uuid"), ["agent_uuid"], unique=False)
        batch_op.create_index(batch_op.f("ix_printers_uuid"), ["uuid"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("printers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_printers_uuid"))
        batch_op.drop_index(batch_op.f("ix_printers_agent_uuid"))
        batch_op.drop_index(batch_op.f("ix_printers_account_uuid"))

    op.drop_table("printers")
    with op.batch_alter_table("print_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_print_files_account_uuid"))

    op.drop_table("print_files")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_state"))
        batch_op.drop_index(batch_op.f("ix_jobs_printer_uuid"))
        batch_op.drop_index(batch_op.f("ix_jobs_agent_uuid"))
        batch_op.drop_index(batch_op.f("ix_jobs_account_uuid"))
        batch_op.drop_index("ix_jobs_account_created")

    op.drop_table("jobs")
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agents_account_uuid"))

    op.drop_table("agents")
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_login_attempts_key_at")

    op.drop_table("login_attempts")
    op.drop_table("accounts")
