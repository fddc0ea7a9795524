"""[database] options reach the Database the commands open."""

from __future__ import annotations

from resource_tracker import conf as rt_conf
from resource_tracker.cmd import open_database


def test_db_max_retries_bounds_the_runs_of_a_reconcile(tmp_path):
    path = tmp_path / "rt.conf"
    path.write_text(
        f"[database]\nconnection = sqlite:///{tmp_path}/x.sqlite\ndb_max_retries = 2\n"
    )
    conf = rt_conf.make_config()
    rt_conf.load(conf, ["--config-file", str(path)])

    database = open_database(conf)

    assert database.retry.attempts == 3
    assert database.url == f"sqlite:///{tmp_path}/x.sqlite"
    database.dispose()
