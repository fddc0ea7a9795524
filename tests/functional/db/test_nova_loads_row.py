"""Nova 34's own ComputeNode loads our row as SELECT * returns it, nothing filled in by hand,
on SQLite and MariaDB: every column of Nova's compute_nodes model is there (revision 0007
added metrics, extra_resources and mapped), with values in Nova's format."""

from __future__ import annotations

import datetime
import uuid

from sqlalchemy import insert, text

from resource_tracker.audit.tracker import HostPolicy
from resource_tracker.db.api import Database
from resource_tracker.db.models import services
from tests.functional.db.test_schema import migrate
from tests.functional.test_audit import make_tracker
from tests.support import nova
from tests.support.nodes import StatementLog

# Loads each row with ComputeNode._from_db_object (which reads db_compute[key] for every
# field: a missing column is a KeyError; a NULL ratio would send an online update to a
# database it does not have), then a scheduler HostState from it, as the scheduler does.
LOAD = """
import datetime, json, sys
from nova import context, objects
from nova.db.main import models
from nova.scheduler.host_manager import HostState

objects.register_all()
rows = json.load(sys.stdin)
answers = []
for row in rows:
    for key in ("created_at", "updated_at", "deleted_at"):
        if row[key] is not None:
            row[key] = datetime.datetime.fromisoformat(row[key])
    missing = sorted(c.name for c in models.ComputeNode.__table__.columns if c.name not in row)
    compute = objects.ComputeNode._from_db_object(
        context.get_admin_context(), objects.ComputeNode(), row
    )
    state = HostState(compute.host, compute.hypervisor_hostname, None)
    state._update_from_compute_node(compute)
    answers.append({
        "missing": missing,
        "metrics": compute.metrics,
        "mapped": compute.mapped,
        "stats": dict(compute.stats) if "stats" in compute else None,
        "vcpus": compute.vcpus,
        "ratios": [compute.cpu_allocation_ratio, compute.ram_allocation_ratio],
        "host_metrics": len(state.metrics),
        "num_instances": state.num_instances,
    })
print(json.dumps(answers))
"""


def select_all(database: Database) -> list[dict]:
    """Every column of every compute_nodes row, as the driver returns it (times as text)."""
    with database.engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM compute_nodes ORDER BY id")).mappings()
        return [
            {
                key: value.isoformat() if isinstance(value, datetime.datetime) else value
                for key, value in row.items()
            }
            for row in rows
        ]


def test_nova_loads_an_audited_row_as_it_is(mixed_host, database):
    make_tracker(mixed_host, database).audit(HostPolicy())

    (row,) = select_all(database)
    (loaded,) = nova.run(LOAD, [row])

    assert loaded["missing"] == []
    assert (row["metrics"], row["extra_resources"], row["mapped"]) == ("[]", None, 0)
    assert (loaded["metrics"], loaded["mapped"], loaded["host_metrics"]) == ("[]", 0, 0)
    assert loaded["vcpus"] == row["vcpus"] and loaded["ratios"] == [4.0, 1.0]
    assert loaded["num_instances"] == 4


def test_mapped_is_nova_manages_and_metrics_written_only_on_change(mixed_host, database):
    make_tracker(mixed_host, database).audit(HostPolicy())
    with database.engine.begin() as connection:  # nova-manage cell_v2 discover_hosts
        connection.execute(text("UPDATE compute_nodes SET mapped = 1"))
    statements = StatementLog(database.engine)

    again = make_tracker(mixed_host, database).audit(HostPolicy())

    assert not again.changed and statements.count("UPDATE compute_nodes ") == 0
    (row,) = select_all(database)
    assert (row["mapped"], row["metrics"]) == (1, "[]")
    (loaded,) = nova.run(LOAD, [row])
    assert loaded["mapped"] == 1


def test_rows_of_older_writers_get_nova_defaults(db_url):
    """Rows inserted by a writer that names none of the new columns (one before 0007, one
    after): mapped 0, metrics NULL, which Nova reads as no metrics."""
    with Database(db_url) as database:
        migrate(database, "0006")
        with database.engine.begin() as connection:
            connection.execute(
                insert(services).values(
                    id=1, host="compute-1", binary="resource-tracker", report_count=1,
                    disabled=False, deleted=0,
                )
            )  # fmt: skip
            connection.execute(
                text(OLD_WRITER_INSERT), {"name": "node-1", "uuid": str(uuid.uuid4())}
            )
        migrate(database, "head")
        with database.engine.begin() as connection:
            connection.execute(
                text(OLD_WRITER_INSERT), {"name": "node-2", "uuid": str(uuid.uuid4())}
            )

        rows = select_all(database)

    assert [(r["mapped"], r["metrics"], r["extra_resources"]) for r in rows] == [
        (0, None, None)
    ] * 2
    loaded = nova.run(LOAD, rows)
    assert [(entry["metrics"], entry["mapped"], entry["host_metrics"]) for entry in loaded] == [
        (None, 0, 0)
    ] * 2
    assert [entry["missing"] for entry in loaded] == [[], []]


OLD_WRITER_INSERT = (
    "INSERT INTO compute_nodes (service_id, uuid, host, deleted, storage_id, "
    "hypervisor_hostname, vcpus, memory_mb, local_gb, vcpus_used, memory_mb_used, "
    "local_gb_used, free_disk_gb, hypervisor_type, hypervisor_version, cpu_info, "
    "supported_instances, stats, cpu_allocation_ratio, ram_allocation_ratio, "
    "disk_allocation_ratio) VALUES (1, :uuid, 'compute-1', 0, 'local:compute-1', :name, "
    "2, 1, 1, 0, 0, 0, 1, 'QEMU', 1, '{}', '[]', '{}', 4.0, 1.0, 1.0)"
)
