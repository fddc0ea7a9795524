"""Storage identity and over-commit per host, and the storage_pools view over them.

compute_nodes.storage_id names the storage a host's instance disks are on: 'local:HOST' for
its own, or an id every host sharing a network file system or a Ceph pool reports alike.
disk_overcommit_bytes is the host's own domains' over-commit there, so the rows of one
storage add up. Rows written before have local storage: they get 'local:HOST' and 0, and
their tracker rewrites both at its next audit.

storage_pools has one row per storage of the live rows, so fleet totals count a shared
storage once. A view, not a table the reconcile keeps: it costs the trackers nothing and is
never stale. On MySQL it runs with the privileges of whoever queries it (SQL SECURITY
INVOKER), so it keeps working if the user that ran db sync is dropped.

A later migration that makes SQLite copy compute_nodes (batch_alter_table) keeps this view
working: env.py sets legacy_alter_table, so the rename at the end of the copy is allowed.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

nodes = sa.table(
    "compute_nodes",
    sa.column("host", sa.String),
    sa.column("storage_id", sa.String),
)

VIEW = """
VIEW storage_pools AS
SELECT storage_id,
       COUNT(DISTINCT host) AS hosts,
       MAX(local_gb) AS local_gb,
       MAX(local_gb_used) AS local_gb_used,
       MIN(local_gb - local_gb_used) AS free_gb,
       SUM(disk_overcommit_bytes) AS disk_overcommit_bytes,
       MIN(disk_available_least) AS disk_available_least,
       MAX(updated_at) AS updated_at
FROM compute_nodes
WHERE deleted = 0
GROUP BY storage_id
"""


def upgrade() -> None:
    with op.batch_alter_table("compute_nodes") as batch:
        batch.add_column(sa.Column("storage_id", sa.String(255)))
        batch.add_column(
            sa.Column("disk_overcommit_bytes", sa.BigInteger, nullable=False, server_default="0")
        )
    op.execute(nodes.update().values(storage_id=sa.literal("local:") + nodes.c.host))
    with op.batch_alter_table("compute_nodes") as batch:
        batch.alter_column("storage_id", existing_type=sa.String(255), nullable=False)
        batch.create_index("compute_nodes_storage_id_deleted_idx", ["storage_id", "deleted"])
    mysql = op.get_bind().dialect.name in ("mysql", "mariadb")
    op.execute(("CREATE SQL SECURITY INVOKER" if mysql else "CREATE") + VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW storage_pools")
    with op.batch_alter_table("compute_nodes") as batch:
        batch.drop_index("compute_nodes_storage_id_deleted_idx")
        batch.drop_column("disk_overcommit_bytes")
        batch.drop_column("storage_id")
