"""Alembic's environment: run the migrations on the connection that db sync hands over."""

from alembic import context
from sqlalchemy import create_engine

from resource_tracker.db.models import metadata
from resource_tracker.db.schema import (
    REVISION_TABLE,
    not_the_writers,
    record_writers,
    views_kept_working,
)

config = context.config


def run(connection) -> None:
    # render_as_batch: SQLite alters a column by copying the table; MySQL gets a plain ALTER.
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        version_table=REVISION_TABLE,
        include_name=not_the_writers,
    )
    with views_kept_working(connection), context.begin_transaction():
        context.run_migrations()
        record_writers(connection, context.get_context().get_current_revision())


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:  # `alembic -x url=...` from a developer's shell, e.g. for `revision --autogenerate`
    engine = create_engine(context.get_x_argument(as_dictionary=True)["url"])
    with engine.begin() as connection:
        run(connection)
