"""Sync tables: bindings, checkpoints, outbox, sync runs.

Revision ID: sync_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "sync_0001"
down_revision = None
branch_labels = ("sync",)
depends_on = "core_0001"


def upgrade() -> None:
    op.create_table(
        "bindings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("backend", sa.String(length=100), nullable=False),
        sa.Column("model", sa.String(length=50), nullable=False),
        sa.Column("local_id", sa.Integer(), nullable=False),
        sa.Column("remote_id", sa.String(length=200), nullable=False),
        sa.Column("remote_version", sa.String(length=200), nullable=True),
        sa.Column("written_version", sa.String(length=200), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("exported_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bindings")),
        sa.UniqueConstraint("backend", "model", "local_id", name="uq_bindings_local"),
        sa.UniqueConstraint("backend", "model", "remote_id", name="uq_bindings_remote"),
    )
    op.create_table(
        "checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("backend", sa.String(length=100), nullable=False),
        sa.Column("stream", sa.String(length=100), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkpoints")),
        sa.UniqueConstraint("backend", "stream", name="uq_checkpoints_stream"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("backend", sa.String(length=100), nullable=False),
        sa.Column("model", sa.String(length=50), nullable=False),
        sa.Column("local_id", sa.Integer(), nullable=False),
        sa.Column("identity_key", sa.String(length=300), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("origin", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("identity_key", name="uq_outbox_identity"),
    )
    op.create_index("ix_outbox_pending", "outbox", ["state", "next_attempt_at"], unique=False)
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("backend", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("started", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("read", sa.Integer(), nullable=False),
        sa.Column("created_count", sa.Integer(), nullable=False),
        sa.Column("updated_count", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_runs")),
    )
    op.create_index(op.f("ix_sync_runs_backend"), "sync_runs", ["backend"], unique=False)


def downgrade() -> None:
    for table in ("sync_runs", "outbox", "checkpoints", "bindings"):
        op.drop_table(table)
