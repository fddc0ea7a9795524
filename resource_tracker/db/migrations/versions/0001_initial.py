"""The schema as first shipped (made by create_all, before migrations): services, compute_nodes.

compute_nodes has every column of Nova's table under Nova's names, then our additions.
A database made before migrations existed holds exactly this; db sync stamps it 0001.

Revision ID: 0001
Revises:
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

MEDIUMTEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
# Any: create_table() takes these as **kw, beside keyword arguments of other types
TABLE_OPTIONS: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}


def soft_delete_columns() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime),
        sa.Column("updated_at", sa.DateTime),
        sa.Column("deleted_at", sa.DateTime),
        sa.Column("deleted", sa.Integer, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "services",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("binary", sa.String(255), nullable=False),
        sa.Column("report_count", sa.Integer, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        *soft_delete_columns(),
        sa.UniqueConstraint("host", "binary", "deleted", name="uniq_services0host0binary0deleted"),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "compute_nodes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("service_id", sa.Integer, sa.ForeignKey("services.id"), nullable=False),
        sa.Column("vcpus", sa.Integer, nullable=False),
        sa.Column("memory_mb", sa.Integer, nullable=False),
        sa.Column("local_gb", sa.Integer, nullable=False),
        sa.Column("vcpus_used", sa.Integer, nullable=False),
        sa.Column("memory_mb_used", sa.Integer, nullable=False),
        sa.Column("local_gb_used", sa.Integer, nullable=False),
        sa.Column("hypervisor_type", MEDIUMTEXT, nullable=False),
        sa.Column("hypervisor_version", sa.Integer, nullable=False),
        sa.Column("cpu_info", MEDIUMTEXT, nullable=False),
        sa.Column("disk_available_least", sa.Integer),
        sa.Column("free_ram_mb", sa.Integer),
        sa.Column("free_disk_gb", sa.Integer),
        sa.Column("current_workload", sa.Integer),
        sa.Column("running_vms", sa.Integer),
        sa.Column("hypervisor_hostname", sa.String(255)),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("reserved_host_memory_mb", sa.Integer),
        sa.Column("reserved_host_disk_mb", sa.Integer),
        sa.Column("reserved_host_cpus", sa.Integer),
        sa.Column("cpu_allocation_ratio", sa.Double),
        sa.Column("ram_allocation_ratio", sa.Double),
        sa.Column("disk_allocation_ratio", sa.Double),
        *soft_delete_columns(),
        sa.UniqueConstraint(
            "host",
            "hypervisor_hostname",
            "deleted",
            name="uniq_compute_nodes0host0hypervisor_hostname0deleted",
        ),
        sa.UniqueConstraint("uuid", name="uniq_compute_nodes0uuid"),
        **TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("compute_nodes")
    op.drop_table("services")
