"""Every column of Nova's compute_nodes: metrics, extra_resources, mapped.

Nova's ComputeNode object reads `metrics` and `mapped` from every row it loads
(objects.ComputeNode._from_db_object), so without them Nova could not load ours unaided.
Types and defaults are Nova's (nova/db/main/models.py): `metrics` and `extra_resources` TEXT,
NULL (MySQL refuses a literal default on TEXT; Nova's readers take NULL metrics as no
metrics), `mapped` INT defaulting to 0, which existing rows get too. The tracker writes
`metrics` ('[]', as Nova's tracker does with no monitors); `extra_resources` is not written
(Nova's object has no such field) and `mapped` belongs to `nova-manage cell_v2
discover_hosts`, which sets it to 1 once the host is in a cell.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None
oldest_writer = "0006"  # expand-only: nullable columns, a defaulted one


def upgrade() -> None:
    with op.batch_alter_table("compute_nodes") as batch:
        batch.add_column(sa.Column("metrics", sa.Text, nullable=True))
        batch.add_column(sa.Column("extra_resources", sa.Text, nullable=True))
        batch.add_column(sa.Column("mapped", sa.Integer, nullable=True, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("compute_nodes") as batch:
        batch.drop_column("mapped")
        batch.drop_column("extra_resources")
        batch.drop_column("metrics")
