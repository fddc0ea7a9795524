"""What the daemon loads: the schema's head without alembic, no MySQL driver for SQLite,
no green DNS, no PyYAML without a YAML file to read, neither keystoneauth1 (nor requests)
nor os_traits without reporting to Placement, even with nova.conf's [placement] (memory at
1,000 domains, issue 21)."""

from __future__ import annotations

import subprocess
import sys

from resource_tracker.db import schema


def test_the_head_the_daemon_checks_is_the_newest_migration():
    assert schema.scripts_head() == schema.HEAD


NOT_LOADED = (
    "alembic",
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
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(sys.argv[1:])))"
    )
    loaded = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code, *NOT_LOADED],
        capture_output=True,
        text=True,
        check=True,
    )

    assert loaded.stdout.strip() == "[]", loaded.stderr
