"""compute_nodes values for db tests, a counter of the statements a Database sends, and an
operator who changes rows between a reconcile's read and its write."""

from __future__ import annotations

import dataclasses
import threading

from sqlalchemy import Engine, event, text

from resource_tracker.resources import ComputeNodeValues

NODE = ComputeNodeValues(
    hypervisor_hostname="node-1",
    hypervisor_type="QEMU",
    hypervisor_version=8002000,
    cpu_info='{"arch": "x86_64"}',
    vcpus=64,
    vcpus_used=20,
    memory_mb=262143,
    memory_mb_used=40960,
    local_gb=999,
    local_gb_used=300,
    free_ram_mb=220671,
    free_disk_gb=699,
    disk_available_least=645,
    current_workload=1,
    running_vms=5,
    reserved_host_memory_mb=512,
    reserved_host_disk_mb=0,
    reserved_host_cpus=0,
    cpu_allocation_ratio=4.0,
    ram_allocation_ratio=1.5,
    disk_allocation_ratio=1.1,
)


def node(**changes) -> ComputeNodeValues:
    return dataclasses.replace(NODE, **changes)


class StatementLog:
    """Every statement an engine sends, with white space folded."""

    def __init__(self, engine: Engine):
        self.statements: list[str] = []
        self._lock = threading.Lock()
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, _connection, _cursor, statement, _parameters, _context, _many) -> None:
        with self._lock:
            self.statements.append(" ".join(statement.split()))

    def count(self, start: str) -> int:
        """How many statements began with `start`, e.g. 'UPDATE compute_nodes '."""
        return sum(statement.startswith(start) for statement in self.statements)

    def clear(self) -> None:
        self.statements.clear()


def change_after_select(engine: Engine, operator: Engine, select: str, update: str) -> None:
    """The first time `engine` sends a statement starting with `select`, `operator` (another
    engine: a session of its own) runs and commits `update`, before `engine` goes on."""
    once = threading.Event()

    def after_select(_connection, _cursor, statement, *_):
        if statement.startswith(select) and not once.is_set():
            once.set()
            with operator.begin() as connection:
                connection.execute(text(update))

    event.listen(engine, "after_cursor_execute", after_select)
