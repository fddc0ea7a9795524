"""compute_nodes.hypervisor_hostname NOT NULL, so the identity key holds.

A unique key treats NULLs as distinct (MySQL and SQLite alike): with a NULL name, any number
of live rows of one host could stand side by side. No tracker writes a NULL name; a row that
has one anyway can never match what a driver reports, so it is soft-deleted (deleted = id,
which keeps it clear of the unique key) and named after its host.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from resource_tracker.db.dialect import utc_now

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

nodes = sa.table(
    "compute_nodes",
    sa.column("id", sa.Integer),
    sa.column("host", sa.String),
    sa.column("hypervisor_hostname", sa.String),
    sa.column("deleted", sa.Integer),
    sa.column("deleted_at", sa.DateTime),
)


def upgrade() -> None:
    op.execute(
        nodes.update()
        .where(nodes.c.hypervisor_hostname.is_(None), nodes.c.deleted == 0)
        .values(deleted=nodes.c.id, deleted_at=utc_now())
    )
    op.execute(
        nodes.update()
        .where(nodes.c.hypervisor_hostname.is_(None))
        .values(hypervisor_hostname=nodes.c.host)
    )
    with op.batch_alter_table("compute_nodes") as batch:
        batch.alter_column("hypervisor_hostname", existing_type=sa.String(255), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("compute_nodes") as batch:
        batch.alter_column("hypervisor_hostname", existing_type=sa.String(255), nullable=True)
