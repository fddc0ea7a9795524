"""What the daemon loads: the schema's head without alembic, its tables without
sqlalchemy.orm, no MySQL driver for SQLite, no green DNS, no PyYAML without a YAML file to
read, neither keystoneauth1 (nor requests) nor os_traits without reporting to Placement, even
with nova.conf's [placement]; and an audit loads none of them either (memory at 1,000
domains, issue 21)."""

from __future__ import annotations

import subprocess
import sys

from resource_tracker.db import schema


def test_the_head_the_daemon_checks_is_the_newest_migration():
    assert schema.scripts_head() == schema.HEAD


NOT_LOADED = (
    "alembic",
    "sqlalchemy.orm",
    "pymysql",
    "dns",
    "yaml",
    "keystoneauth1",
    "requests",
    "urllib3",
    "os_traits",
)


def test_the_daemon_and_its_loop_load_none_of_what_only_other_commands_use(tmp_path):
    nova_conf = tmp_path / "nova.conf"
    nova_conf.write_text("[placement]\nauth_type = password\nauth_url = http://k\nusername = n\n")
    ours = tmp_path / "resource-tracker.conf"
    ours.write_text(f"[DEFAULT]\nnova_config_file = {nova_conf}\n")
    code = (
        "import sys, resource_tracker.cmd.daemon, resource_tracker.daemon.service;"
        "from resource_tracker.cmd import load_config;"
        f"conf = load_config(['--config-file', {str(ours)!r}], every_credential=False);"
        "assert conf.placement.auth_type == 'password';"
        "from resource_tracker.db.api import Database;"
        "d = Database('sqlite://'); d.sync_schema() if False else None;"
        f"{LOADED}"
    )

    assert _run(code) == "[]"


def test_an_audit_loads_none_of_them_either(tmp_path):
    config = tmp_path / "resource-tracker.conf"
    config.write_text(
        f"[DEFAULT]\nhost = compute-1\nstate_path = {tmp_path}\ninstances_path = {tmp_path}\n"
        "[libvirt]\nconnection_uri = test:///default\n"
    )
    # the schema as an operator makes it, with alembic, in a process of its own
    _run(f"from resource_tracker.cmd import manage; manage.main({_args(config, 'db', 'sync')})")
    code = (
        "import sys; from resource_tracker.cmd import daemon;"
        f"assert daemon.main({_args(config, '--once')}) == 0;"
        f"{LOADED}"
    )

    assert _run(code).splitlines()[-1] == "[]"


# the modules named in argv, and those under them, that this process loaded
LOADED = (
    "print(sorted(m for m in sys.modules"
    " if any(m == name or m.startswith(name + '.') for name in sys.argv[1:])))"
)


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code, *NOT_LOADED], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _args(config, *more: str) -> str:
    return repr(["--config-file", str(config), *more])
