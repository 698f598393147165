"""Calendar data the plans stood on: a clock's notes, each calendar's working days, and why
a request was queued.

* ``sla_clocks.notes``: how the clock's times were computed when a reader must know it
  ("computed beyond ru-production's data (ends 2027-12-31)");
* ``sla_calendars``: each configured calendar's working periods per day around today, so
  ``sla.tick`` sees the days a calendar edit or a new year of data changed and re-plans the
  open requests whose due dates stand on them;
* ``sla_queue.reason``: what queued a request, recorded in the ledger when its plan changes.

Revision ID: sla_0003
Revises: sla_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "sla_0003"
down_revision = "sla_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sla_clocks") as batch:
        batch.add_column(sa.Column("notes", sa.JSON(), nullable=True))
    with op.batch_alter_table("sla_queue") as batch:
        batch.add_column(sa.Column("reason", sa.String(length=500), nullable=True))
    op.create_table(
        "sla_calendars",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("days", sa.JSON(), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sla_calendars")),
    )


def downgrade() -> None:
    op.drop_table("sla_calendars")
    with op.batch_alter_table("sla_queue") as batch:
        batch.drop_column("reason")
    with op.batch_alter_table("sla_clocks") as batch:
        batch.drop_column("notes")
