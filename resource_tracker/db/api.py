"""The database as the rest of the program sees it: schema, reconcile, queries.

Every write is one transaction: a reconcile that fails leaves the previous row in place.
Errors reaching the caller are DatabaseUnavailable with the URL's password masked.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone

from sqlalchemy import inspect, select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from resource_tracker.db import engine as db_engine
from resource_tracker.db.models import Base, ComputeNode, Service
from resource_tracker.exception import DatabaseUnavailable, SchemaNotCurrent
from resource_tracker.resources import ComputeNodeValues

BINARY = "resource-tracker"


def utcnow() -> datetime:
    """Naive UTC, as the DATETIME columns store it."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Database:
    def __init__(self, url: str):
        self.url = url
        self.engine = db_engine.make_engine(url)

    @property
    def masked_url(self) -> str:
        return db_engine.masked(self.url)

    def create_schema(self) -> None:
        directory = db_engine.sqlite_directory(self.url)
        if directory:
            os.makedirs(directory, exist_ok=True)
        with self._errors():
            Base.metadata.create_all(self.engine)

    def check_schema(self) -> None:
        """Raise SchemaNotCurrent unless the tables exist; DatabaseUnavailable if unreachable."""
        with self._errors():
            tables = set(inspect(self.engine).get_table_names())
        missing = set(Base.metadata.tables) - tables
        if missing:
            raise SchemaNotCurrent(
                f"database {self.masked_url} lacks {', '.join(sorted(missing))}; "
                "run: resource-tracker-manage db sync"
            )

    def reconcile_compute_node(self, host: str, values: ComputeNodeValues) -> bool:
        """Make the live row of (host, hypervisor_hostname) hold `values`; True if it changed."""
        now = utcnow()
        with self._errors(), Session(self.engine) as session, session.begin():
            service = self._beat(session, host, now)
            node = session.scalars(
                select(ComputeNode).filter_by(
                    host=host, hypervisor_hostname=values.hypervisor_hostname, deleted=0
                )
            ).one_or_none()
            columns = dataclasses.asdict(values)
            if node is None:
                session.add(
                    ComputeNode(
                        uuid=str(uuid.uuid4()),
                        host=host,
                        service_id=service.id,
                        created_at=now,
                        deleted=0,
                        **columns,
                    )
                )
                return True
            changed = {
                name: value for name, value in columns.items() if getattr(node, name) != value
            }
            for name, value in changed.items():
                setattr(node, name, value)
            if changed:
                node.updated_at = now
            return bool(changed)

    def compute_nodes(self, host: str | None = None) -> list[ComputeNode]:
        """Live compute_nodes rows, of one host or all, ordered by host."""
        query = select(ComputeNode).filter_by(deleted=0)
        if host is not None:
            query = query.filter_by(host=host)
        query = query.order_by(ComputeNode.host, ComputeNode.hypervisor_hostname)
        with self._errors(), Session(self.engine, expire_on_commit=False) as session:
            return list(session.scalars(query))

    def dispose(self) -> None:
        self.engine.dispose()

    def _beat(self, session: Session, host: str, now: datetime) -> Service:
        service = session.scalars(
            select(Service).filter_by(host=host, binary=BINARY, deleted=0)
        ).one_or_none()
        if service is None:
            service = Service(host=host, binary=BINARY, report_count=0, created_at=now)
            session.add(service)
        service.report_count += 1
        service.updated_at = now
        session.flush()
        return service

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except DBAPIError as error:
            raise DatabaseUnavailable(f"database {self.masked_url}: {error.orig}") from error
        except SQLAlchemyError as error:
            raise DatabaseUnavailable(f"database {self.masked_url}: {error}") from error
