"""A record's bindings are found by (model, local id), whatever the backend: the outbox
looks up every backend a changed record is bound to. The unique key of a local record's
binding led with the backend, so that look-up scanned every binding (a pass changing a
thousand requests of 100,000 read the table once per 500 of them); it now leads with
the model and the local id and still keeps one binding per backend.

Revision ID: sync_0005
Revises: sync_0004
"""

from __future__ import annotations

from alembic import op

revision = "sync_0005"
down_revision = "sync_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bindings") as batch:  # SQLite: the table is rebuilt
        batch.drop_constraint("uq_bindings_local", type_="unique")
        batch.create_unique_constraint("uq_bindings_local", ["model", "local_id", "backend"])


def downgrade() -> None:
    with op.batch_alter_table("bindings") as batch:
        batch.drop_constraint("uq_bindings_local", type_="unique")
        batch.create_unique_constraint("uq_bindings_local", ["backend", "model", "local_id"])
