"""Devices: the pci_devices table (Nova's), compute_nodes.pci_stats and mdev_capacity.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

MEDIUMTEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


def upgrade() -> None:
    with op.batch_alter_table("compute_nodes") as batch:
        batch.add_column(sa.Column("pci_stats", MEDIUMTEXT, nullable=True))
        batch.add_column(sa.Column("mdev_capacity", MEDIUMTEXT, nullable=True))
    op.create_table(
        "pci_devices",
        sa.Column("created_at", sa.DateTime),
        sa.Column("updated_at", sa.DateTime),
        sa.Column("deleted_at", sa.DateTime),
        sa.Column("deleted", sa.Integer, nullable=False),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(36)),
        sa.Column(
            "compute_node_id", sa.Integer, sa.ForeignKey("compute_nodes.id"), nullable=False
        ),
        sa.Column("address", sa.String(12), nullable=False),
        sa.Column("vendor_id", sa.String(4), nullable=False),
        sa.Column("product_id", sa.String(4), nullable=False),
        sa.Column("dev_type", sa.String(8), nullable=False),
        sa.Column("dev_id", sa.String(255)),
        sa.Column("label", sa.String(255), nullable=False),
        sa.Column("status", sa.String(36), nullable=False),
        sa.Column("request_id", sa.String(36)),
        sa.Column("extra_info", sa.Text),
        sa.Column("instance_uuid", sa.String(36)),
        sa.Column("numa_node", sa.Integer),
        sa.Column("parent_addr", sa.String(12)),
        sa.UniqueConstraint(
            "compute_node_id",
            "address",
            "deleted",
            name="uniq_pci_devices0compute_node_id0address0deleted",
        ),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
    )
    op.create_index(
        "ix_pci_devices_compute_node_id_deleted", "pci_devices", ["compute_node_id", "deleted"]
    )
    op.create_index(
        "ix_pci_devices_instance_uuid_deleted", "pci_devices", ["instance_uuid", "deleted"]
    )
    op.create_index(
        "ix_pci_devices_compute_node_id_parent_addr_deleted",
        "pci_devices",
        ["compute_node_id", "parent_addr", "deleted"],
    )


def downgrade() -> None:
    op.drop_table("pci_devices")
    with op.batch_alter_table("compute_nodes") as batch:
        batch.drop_column("mdev_capacity")
        batch.drop_column("pci_stats")
