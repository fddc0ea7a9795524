"""The records db/api.py reads rows into have the tables' columns, in the tables' order
(`Record(*row)` of a `select(table)` row puts every value in its field), optional exactly
where a column may be NULL."""

from __future__ import annotations

import dataclasses

import pytest

from resource_tracker.db import models, records

TABLES = pytest.mark.parametrize(
    ("table", "record"),
    [
        (models.services, records.Service),
        (models.compute_nodes, records.ComputeNode),
        (models.pci_devices, records.PciDevice),
    ],
)


@TABLES
def test_a_record_has_its_tables_columns_in_order(table, record):
    assert [field.name for field in dataclasses.fields(record)] == table.c.keys()


@TABLES
def test_a_record_field_is_optional_exactly_where_its_column_may_be_null(table, record):
    optional = {field.name for field in dataclasses.fields(record) if "| None" in field.type}

    assert optional == {c.key for c in table.c if c.nullable and not c.primary_key}
