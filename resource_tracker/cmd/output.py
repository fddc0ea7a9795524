"""How resource-tracker-manage prints what it lists and shows, with the habits of OpenStack's
clients (python-openstackclient, built on cliff): `-f table|json|yaml|csv|value`, `-c COLUMN`
(repeatable), tables as wide as the terminal and never cut when piped, legends and hints on
stderr so that stdout holds only the data.

A command hands over entries (JSON-ready dicts, what json and yaml print) and the Columns its
table shows; `-c` names a column by its heading or any field of the entries."""

from __future__ import annotations

import argparse
import csv
import decimal
import json
import shutil
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from resource_tracker.cmd import render
from resource_tracker.exception import ResourceTrackerError

FORMATS = ("table", "json", "yaml", "csv", "value")


class UsageError(ResourceTrackerError):
    """A command line that names what is not there (a column): exit status 2."""


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a listing's table: its heading, the entry field it shows as is (json
    and yaml print that field under its own name when -c picks the column), or else how its
    text is made from an entry."""

    heading: str
    field: str | None = None
    text: Callable[[dict], object] | None = None
    right: bool = False  # numbers
    shrink: bool = False  # may be cut to fit the width
    keep_end: bool = False  # a path: cut at its start

    def cell(self, entry: dict) -> object:
        return self.text(entry) if self.text is not None else entry.get(self.field or "")


def add_options(parser: argparse.ArgumentParser) -> None:
    """-f, -c and --max-width, as `openstack ... list` and `show` take them."""
    group = parser.add_argument_group("output formatters")
    group.add_argument(
        "-f",
        "--format",
        choices=FORMATS,
        default="table",
        help="output format (default: table); json and yaml print every field",
    )
    group.add_argument(
        "-c",
        "--column",
        action="append",
        dest="columns",
        metavar="COLUMN",
        help="show this column only (a table heading or a field name); repeat for more",
    )
    group.add_argument(
        "--max-width",
        type=_width,
        metavar="N",
        help="cut tables to N characters (default: the terminal's width; no limit when the "
        "output is not a terminal, or with 0)",
    )


def _width(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"not a width in characters: {text!r}")
    return value


def width(args) -> int:
    """How wide a table may be: --max-width, else the terminal's, else 0 (no limit)."""
    if args.max_width is not None:
        return args.max_width
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else 0


def hint(text: str) -> None:
    """A legend or a hint: for the reader of a table, so not in what a script reads."""
    print(text, file=sys.stderr)


def show_list(
    args,
    columns: Sequence[Column],
    entries: Sequence[dict],
    fields: Iterable[str] = (),
    legend: str | None = None,
) -> None:
    """A listing: one row per entry. `fields` are those -c may name beyond the entries' own
    (so a -c that names a field is accepted while the list is empty)."""
    picked = _pick(args.columns, columns, entries, fields)
    if args.format in ("json", "yaml"):
        if picked is not None:
            entries = [
                {_key(column): _raw(column, entry) for column in picked} for entry in entries
            ]
        dump(args.format, list(entries))
        return
    shown = picked if picked is not None else list(columns)
    rows = [[column.cell(entry) for column in shown] for entry in entries]
    if args.format == "table":
        print(
            render.table(
                [column.heading for column in shown],
                rows,
                right=[i for i, column in enumerate(shown) if column.right],
                shrink=[i for i, column in enumerate(shown) if column.shrink],
                keep_end=[i for i, column in enumerate(shown) if column.keep_end],
                width=width(args),
            )
        )
        if legend and entries:
            hint(legend)
    elif args.format == "csv":
        _csv([column.heading for column in shown], rows)
    else:  # an empty cell as "-", so that a shell's `read` finds the cells after it
        for row in rows:
            print(" ".join(_plain(cell) or "-" for cell in row))


def show_one(args, entries: Sequence[dict], text: Callable[[int], str], many: bool) -> None:
    """What one thing is: `text(width)` as the table when no -c is given, else a FIELD/VALUE
    table of the fields picked; json and yaml print the entries (a list when `many`)."""
    fields = list(entries[0]) if entries else []
    picked = args.columns
    if picked:
        unknown = [name for name in picked if name not in fields]
        if unknown:
            raise UsageError(
                f"no column {unknown[0]!r} to show: the fields are {', '.join(fields)}"
            )
        entries = [{name: entry.get(name) for name in picked} for entry in entries]
    if args.format in ("json", "yaml"):
        dump(args.format, list(entries) if many else entries[0])
    elif args.format == "table":
        if not picked:
            print(text(width(args)))
            return
        tables = [
            render.table(
                ("FIELD", "VALUE"),
                [(name, _plain(value) or "-") for name, value in entry.items()],
                shrink=(1,),
                width=width(args),
            )
            for entry in entries
        ]
        print("\n\n".join(tables))
    elif args.format == "csv":
        names = list(entries[0]) if entries else []
        _csv(names, [[entry.get(name) for name in names] for entry in entries])
    else:
        for entry in entries:
            for value in entry.values():
                print(_plain(value))


def _pick(
    names: list[str] | None,
    columns: Sequence[Column],
    entries: Sequence[dict],
    fields: Iterable[str],
) -> list[Column] | None:
    if not names:
        return None
    by_heading = {column.heading.lower(): column for column in columns}
    known = list(dict.fromkeys([*(key for entry in entries for key in entry), *fields]))
    picked = []
    for name in names:
        if name.lower() in by_heading:
            picked.append(by_heading[name.lower()])
        elif name in known:
            picked.append(Column(name, field=name))
        else:
            headings = ", ".join(column.heading for column in columns)
            raise UsageError(
                f"no column {name!r}: name a heading ({headings}) or a field of the json "
                "output (-f json shows them)"
            )
    return picked


def _key(column: Column) -> str:
    return column.field or column.heading.lower()


def _raw(column: Column, entry: dict) -> object:
    return entry.get(column.field) if column.field else column.cell(entry)


def _plain(value: object) -> str:
    """A value as one cell of csv or value output: JSON for what has structure."""
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=_json_value)
    return render.printable(str(value))


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([_plain(cell) for cell in row] for row in rows)


def dump(form: str, data: object) -> None:
    plain = json.loads(json.dumps(data, default=_json_value))
    if form == "json":
        print(json.dumps(plain, indent=2))
    else:
        import yaml  # only for -f yaml: the daemon's memory (issue 21)

        print(yaml.safe_dump(plain, sort_keys=False, allow_unicode=True), end="")


def _json_value(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat() + "Z"
    if isinstance(value, decimal.Decimal):  # SUM() on MariaDB
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"not JSON: {type(value).__name__}")
