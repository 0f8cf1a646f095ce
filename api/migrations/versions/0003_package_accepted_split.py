"""packages.accepted_split: the rank of the split offer a broker accepted

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Null for every package stored before: none of them was accepted as a split.
    with op.batch_alter_table("packages") as batch:
        batch.add_column(sa.Column("accepted_split", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("packages") as batch:
        batch.drop_column("accepted_split")
