"""compute_nodes: the host's shape. Nova's numa_topology, supported_instances, stats and
host_ip, and our pcpus and pcpus_used (dedicated CPUs, which Nova reports only to placement).

The JSON columns are MEDIUMTEXT on MySQL (a NUMA topology of a large host outgrows TEXT's
64 KiB), TEXT on SQLite. All are NULL on existing rows until the next audit fills them.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

MEDIUMTEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")

COLUMNS = (
    ("numa_topology", MEDIUMTEXT),
    ("supported_instances", MEDIUMTEXT),
    ("stats", MEDIUMTEXT),
    ("host_ip", sa.String(45)),
    ("pcpus", sa.Integer),
    ("pcpus_used", sa.Integer),
)


def upgrade() -> None:
    for name, column_type in COLUMNS:
        op.add_column("compute_nodes", sa.Column(name, column_type))


def downgrade() -> None:
    with op.batch_alter_table("compute_nodes") as batch:
        for name, _column_type in reversed(COLUMNS):
            batch.drop_column(name)
