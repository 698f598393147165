"""Routing: an index that covers the load count (``routing.roster.count_load``).

The tick counts every agent's open requests by type under the agents' locks once per
chunk of the queue; with this index the count reads the index alone instead of every
ticket row (100,000 open requests: about half the time on SQLite and PostgreSQL). The
index is routing's, on the core table, because only routing's query needs it.

Revision ID: routing_0003_load_index
Revises: routing_0002_credits
"""

from __future__ import annotations

from alembic import op

revision = "routing_0003_load_index"
down_revision = "routing_0002_credits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_routing_tickets_load", "tickets", ["assignee_id", "status", "type", "deleted"])


def downgrade() -> None:
    op.drop_index("ix_routing_tickets_load", table_name="tickets")
