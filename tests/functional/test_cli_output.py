"""resource-tracker-manage as OpenStack's clients behave: every listing and showing command in
every format and with -c, tables that fit or are never cut, the exit status examples of
docs/cli.md, no file made by a command that reads, and the bash completion shipped.

Commands run in this process (main(), as the entry point calls it): a real process costs a
second of imports each, and there are about a hundred runs here."""

from __future__ import annotations

import argparse
import csv
import fcntl
import io
import json
import os
import pty
import re
import shlex
import struct
import subprocess
import termios

import pytest
import yaml

from resource_tracker.cmd import manage
from tests.functional.db.test_pci_devices import VF
from tests.support.nodes import node
from tests.support.paths import BIN, ROOT

FORMATS = ("table", "json", "yaml", "csv", "value")
LONG_HOST = "compute-" + "x" * 70  # wider than any terminal's default
LISTINGS = {
    "nodes list": ["nodes", "list"],
    "services list": ["services", "list"],
    "devices list": ["devices", "list"],
    "storage list": ["storage", "list"],
    "capacity": ["capacity", "--vcpus", "2", "--ram", "4G", "--disk", "10G"],
}


@pytest.fixture
def fleet(sqlite_database, sqlite_url, tmp_path):
    sqlite_database.reconcile_compute_nodes(
        "compute-1", [node(hypervisor_hostname="hv-1")], devices={"hv-1": [VF]}
    )
    sqlite_database.reconcile_compute_nodes(LONG_HOST, [node(hypervisor_hostname="hv-2")])
    conf = tmp_path / "manage.conf"
    conf.write_text(
        f"[DEFAULT]\nhost = compute-1\nstate_path = {tmp_path}\ninstances_path = {tmp_path}\n"
        f"[database]\nconnection = {sqlite_url}\n"
    )
    return str(conf)


def manage_here(capsys, monkeypatch, conf: str, *args: str) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of resource-tracker-manage run with `args`."""
    monkeypatch.setattr("sys.argv", ["resource-tracker-manage"])
    try:
        status = manage.main(["--config-file", conf, *args])
    except SystemExit as leaving:
        status = leaving.code if isinstance(leaving.code, int) else 1
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def run(capsys, monkeypatch, fleet):
    return lambda *args: manage_here(capsys, monkeypatch, fleet, *args)


def without_ages(value):
    """A listing's JSON without its ages (heartbeat_age_s): they move on between runs, by
    whole seconds on SQLite's clock."""
    if isinstance(value, dict):
        return {key: without_ages(v) for key, v in value.items() if not key.endswith("_age_s")}
    if isinstance(value, list):
        return [without_ages(v) for v in value]
    return value


@pytest.mark.parametrize("listing", LISTINGS)
def test_every_listing_in_every_format_says_the_same(run, listing):
    shown = {form: run(*LISTINGS[listing], "-f", form) for form in FORMATS}
    # ages (SEEN) move on between runs
    shown = {
        form: (s, re.sub(r"\b\d+[smhd]\b", "AGE", out), e) for form, (s, out, e) in shown.items()
    }

    for form, (status, _out, err) in shown.items():
        assert status == 0, (form, err)
    as_json = json.loads(shown["json"][1])
    assert without_ages(yaml.safe_load(shown["yaml"][1])) == without_ages(as_json)
    table = [line.split() for line in shown["table"][1].splitlines()]
    if listing == "capacity":  # its table ends with the fleet's sum
        assert table.pop()[:2] == ["fleet:", str(as_json["fleet"])]
    header, *rows = list(csv.reader(io.StringIO(shown["csv"][1])))
    assert header == table[0]  # the same columns, in the same order
    # a cell may hold spaces (capacity's LIMITED_BY): rows compared as their words
    words = [" ".join(row) for row in table[1:]]
    assert [" ".join(cell or "-" for cell in row) for row in rows] == words
    assert [" ".join(line.split()) for line in shown["value"][1].splitlines()] == words
    entries = as_json["hosts"] if listing == "capacity" else as_json
    assert len(rows) == len(entries) > 0
    hosts = {entry.get("host", entry.get("storage_id")) for entry in entries}
    assert {row[0] for row in rows} == hosts
    if listing != "devices list":  # only compute-1 has a device
        assert LONG_HOST in {row[0].removeprefix("local:") for row in rows}


def test_columns_by_heading_or_field_in_every_format(run):
    picked = ("-c", "host", "-c", "LEAST", "-c", "free_ram_mb")
    shown = {form: run("nodes", "list", *picked, "-f", form)[1] for form in FORMATS}

    assert shown["table"].splitlines()[0].split() == ["HOST", "LEAST", "free_ram_mb"]
    assert json.loads(shown["json"]) == [
        {"host": host, "disk_available_least": 645, "free_ram_mb": 220671}
        for host in ("compute-1", LONG_HOST)
    ]
    assert yaml.safe_load(shown["yaml"]) == json.loads(shown["json"])
    assert shown["csv"].splitlines() == [
        "HOST,LEAST,free_ram_mb",
        "compute-1,645,220671",
        f"{LONG_HOST},645,220671",
    ]
    assert shown["value"].splitlines() == ["compute-1 645 220671", f"{LONG_HOST} 645 220671"]


@pytest.mark.parametrize("form", FORMATS)
def test_show_with_columns(run, form):
    status, out, _ = run("nodes", "show", "compute-1", "-c", "vcpus", "-c", "state", "-f", form)

    assert status == 0
    expected = {
        "table": "FIELD  VALUE\nvcpus  64\nstate  up\n",
        "json": '[\n  {\n    "vcpus": 64,\n    "state": "up"\n  }\n]\n',
        "yaml": "- vcpus: 64\n  state: up\n",
        "csv": "vcpus,state\n64,up\n",
        "value": "64\nup\n",
    }
    assert out == expected[form]


def test_storage_show_is_one_object(run):
    status, out, _ = run("storage", "show", "-f", "json")
    _, value, _ = run("storage", "show", "-f", "value", "-c", "storage_id")

    assert status == 0 and json.loads(out)["storage_id"] == "local:compute-1"
    assert value == "local:compute-1\n"


def test_tables_fit_the_width_asked_and_are_whole_otherwise(run):
    def ages_alike(text: str) -> str:  # SEEN may move on by a second between two runs
        return re.sub(r"\b\d+[smhd]\b", "AGE", text)

    piped = ages_alike(run("nodes", "list")[1])
    unlimited = ages_alike(run("nodes", "list", "--max-width", "0")[1])
    narrow = run("nodes", "list", "--max-width", "70")[1]

    assert piped == unlimited and LONG_HOST in piped
    assert max(map(len, narrow.splitlines())) <= 70
    assert re.search(r"^compute-x*…\s", narrow, re.M)  # the name loses its end, numbers stay
    assert narrow.splitlines()[0].split() == piped.splitlines()[0].split()


def test_legends_are_on_stderr(run):
    _, out, err = run("storage", "list")

    assert "GiB" in err and "GiB" not in out and "GB" not in err.replace("GiB", "")


def docs_examples() -> list[tuple[str, int, str]]:
    with open(os.path.join(ROOT, "docs", "cli.md")) as docs:
        text = docs.read()
    table = text.split("<!-- exit-status-examples")[1].split("\n\n")[1]
    rows = re.findall(r"^\| `([^`]+)` \| (\d) \| `(.+)` \|$", table, re.M)
    return [(command, int(status), said) for command, status, said in rows]


@pytest.mark.parametrize(("command", "status", "said"), docs_examples())
def test_exit_status_examples_of_the_docs(run, command, status, said):
    got, out, err = run(*command.split())

    assert (got, out) == (status, "")
    assert err.startswith("resource-tracker-manage: ") and err.count("\n") == 1
    assert said in err


def test_the_docs_have_an_example_of_each_failure_status():
    statuses = {status for _, status, _ in docs_examples()}

    assert statuses == {1, 2} and len(docs_examples()) >= 10


@pytest.mark.parametrize(
    "command",
    [["nodes", "list"], ["services", "list"], ["devices", "list"], ["storage", "list"]],
)
def test_reading_an_unmade_database_says_db_sync_and_makes_no_file(
    capsys, monkeypatch, tmp_path, command
):
    conf = tmp_path / "manage.conf"
    conf.write_text(f"[DEFAULT]\nstate_path = {tmp_path}/state\n")
    (tmp_path / "state").mkdir()

    status, out, err = manage_here(capsys, monkeypatch, str(conf), *command)
    version = manage_here(capsys, monkeypatch, str(conf), "db", "version")

    assert (status, out) == (1, "")
    assert err == (
        f"resource-tracker-manage: database sqlite:///{tmp_path}/state/resource_tracker.sqlite "
        "has no schema: run `resource-tracker-manage db sync`\n"
    )
    assert version == (0, "none\n", "")
    assert os.listdir(tmp_path / "state") == []


def parser_tree() -> dict[str, list[str]]:
    """'command action' (or 'command') -> its long options, from the parser itself."""
    parser = argparse.ArgumentParser(prog="resource-tracker-manage")
    manage._add_commands(parser.add_subparsers(dest="category"))
    tree = {}
    for name, command in _subcommands(parser).items():
        actions = _subcommands(command)
        for action, sub in (actions or {"": command}).items():
            tree[f"{name} {action}".strip()] = sorted(_long_options(sub))
    return tree


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _long_options(parser: argparse.ArgumentParser) -> list[str]:
    return [s for a in parser._actions for s in a.option_strings if s.startswith("--")]


COMPLETION = os.path.join(ROOT, "etc", "bash_completion.d", "resource-tracker-manage")


def complete(*words: str) -> list[str]:
    """What bash offers after `words` (the last one being completed), with the shipped file."""
    script = (
        f"source {COMPLETION}\n"
        'COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); _resource_tracker_manage\n'
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(
        ["bash", "-c", script, "bash", "resource-tracker-manage", *words],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout.split()


def test_bash_completion_knows_every_command_action_and_option():
    tree = parser_tree()

    for path, options in tree.items():
        *before, last = path.split()
        assert last in complete(*before, last[:2]), path
        assert sorted(o for o in complete(*path.split(), "--") if o != "--help") == sorted(
            o for o in options if o != "--help"
        ), path
    assert complete("nodes", "list", "-f", "y") == ["yaml"]
    assert complete("--config-file", "x.conf", "no") == ["nodes"]
    assert complete("nodes", "show", "compute-1", "--c") == ["--column"]


def in_a_terminal(conf: str, columns: int, *args: str) -> str:
    """What resource-tracker-manage writes to a terminal `columns` wide (a real pty)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES")}
    command = [os.path.join(BIN, "resource-tracker-manage"), "--config-file", conf, *args]
    with subprocess.Popen(command, stdout=follower, stderr=subprocess.DEVNULL, env=env) as child:
        os.close(follower)
        written = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            written += chunk
        child.wait(timeout=60)
    os.close(leader)
    return written.decode().replace("\r\n", "\n")


def test_a_table_in_a_terminal_is_as_wide_as_the_terminal(fleet):
    shown = in_a_terminal(fleet, 70, "nodes", "list")

    lines = shown.splitlines()
    assert lines[0].split()[:2] == ["HOST", "HYPERVISOR"]
    assert max(map(len, lines)) <= 70 and LONG_HOST not in shown
    assert any(re.match(r"compute-x*…", line) for line in lines)  # cut, not wrapped


def test_a_reader_that_stops_early_gets_no_traceback(fleet):
    command = [os.path.join(BIN, "resource-tracker-manage"), "--config-file", fleet]
    pipeline = f"{shlex.join([*command, 'nodes', 'list', '-f', 'yaml'])} | head -c 1"

    done = subprocess.run(["bash", "-c", pipeline], capture_output=True, text=True, timeout=60)

    assert done.stdout == "-" and done.stderr == ""
