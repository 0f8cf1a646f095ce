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
    # Dropped in place (SQLite has ALTER TABLE DROP COLUMN since 3.35): batch mode's
    # copy of the table would drop `packages` itself, which the jobs' foreign keys
    # refuse on SQLite (PRAGMA foreign_keys=ON) once any package has a job.
    with op.batch_alter_table("packages", recreate="never") as batch:
        batch.drop_column("accepted_split")
