"""compute_nodes.storage_id gets a server default, so a writer that does not know the column
can insert a row; storage_pools counts such a row as its host's own storage.

0004 made storage_id NOT NULL without a default: an INSERT that leaves it out (a tracker of
a release before 0004, any other writer of Nova's columns) failed. The default is 'local:',
an empty host part, since a default cannot name the row's host; the view reads it as
'local:HOST', the value the host's own tracker writes at its next audit.

From this revision on, each migration names the oldest revision whose daemons still write
correctly into the schema it leaves (`oldest_writer`, recorded by db sync in
alembic_version); tests/functional/db/test_expand_only.py holds every migration to it.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None
oldest_writer = "0006"  # expand-only since: a server default, a view

DEFAULT = "local:"

VIEW = """
VIEW storage_pools AS
SELECT {storage} AS storage_id,
       COUNT(DISTINCT host) AS hosts,
       MAX(local_gb) AS local_gb,
       MAX(local_gb_used) AS local_gb_used,
       MIN(local_gb - local_gb_used) AS free_gb,
       SUM(disk_overcommit_bytes) AS disk_overcommit_bytes,
       MIN(disk_available_least) AS disk_available_least,
       MAX(updated_at) AS updated_at
FROM compute_nodes
WHERE deleted = 0
GROUP BY {storage}
"""


def _create_view(storage: str) -> None:
    create = "CREATE SQL SECURITY INVOKER" if op.get_bind().dialect.name == "mysql" else "CREATE"
    op.execute(create + VIEW.format(storage=storage))


def upgrade() -> None:
    mysql = op.get_bind().dialect.name == "mysql"
    host_storage = "CONCAT('local:', host)" if mysql else "'local:' || host"
    op.execute("DROP VIEW storage_pools")
    with op.batch_alter_table("compute_nodes") as batch:
        batch.alter_column(
            "storage_id",
            existing_type=sa.String(255),
            existing_nullable=False,
            server_default=DEFAULT,
        )
    _create_view(f"CASE WHEN storage_id = '{DEFAULT}' THEN {host_storage} ELSE storage_id END")


def downgrade() -> None:
    op.execute("DROP VIEW storage_pools")
    with op.batch_alter_table("compute_nodes") as batch:
        batch.alter_column(
            "storage_id",
            existing_type=sa.String(255),
            existing_nullable=False,
            server_default=None,
        )
    _create_view("storage_id")
