"""compute_nodes holds any host that can exist, and names compare byte for byte.

- The sizes become BIGINT. INT ends at 2^31 - 1: a file system of 2 EiB (XFS goes to 8) has
  more GB, and the over-commit of two 2 EiB sparse qcow2 images takes disk_available_least
  below -2^31 GB. MariaDB then refused the whole row (1264) and every audit failed.
- On MySQL/MariaDB the names in the unique keys (compute_nodes host and hypervisor_hostname,
  services host and binary) get the utf8mb4_bin collation. Under the default
  case-insensitive one, a hypervisor renamed from 'Node-1' to 'node-1' matched its old row in
  the database but not in Python, so the reconcile renamed the row and then soft-deleted it:
  the host had no live row for a period. Binary is how Python and SQLite compare (and
  utf8mb4_general_ci also equates 'e' and 'é'); going from case-insensitive to binary only
  makes keys more distinct, so no existing row can collide.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BIG = {
    "memory_mb": False,
    "local_gb": False,
    "memory_mb_used": False,
    "local_gb_used": False,
    "disk_available_least": True,
    "free_ram_mb": True,
    "free_disk_gb": True,
}  # column: nullable
NAMES = {"compute_nodes": ("host", "hypervisor_hostname"), "services": ("host", "binary")}


def upgrade() -> None:
    with op.batch_alter_table("compute_nodes") as batch:
        for name, nullable in BIG.items():
            batch.alter_column(
                name, type_=sa.BigInteger(), existing_type=sa.Integer(), nullable=nullable
            )
    _set_name_collation("utf8mb4_bin")


def downgrade() -> None:
    _set_name_collation(None)
    with op.batch_alter_table("compute_nodes") as batch:
        for name, nullable in BIG.items():
            batch.alter_column(
                name, type_=sa.Integer(), existing_type=sa.BigInteger(), nullable=nullable
            )


def _set_name_collation(collation: str | None) -> None:
    """MySQL/MariaDB only: SQLite compares text byte for byte already."""
    if op.get_bind().dialect.name not in ("mysql", "mariadb"):
        return
    for table, columns in NAMES.items():
        for column in columns:
            op.alter_column(
                table,
                column,
                type_=mysql.VARCHAR(255, charset="utf8mb4", collation=collation),
                existing_type=sa.String(255),
                nullable=False,
            )
