"""[DEFAULT] report_interval: Nova's option, read from nova.conf too, and Nova's rule that
keeps service_down_time above it."""

from __future__ import annotations

from resource_tracker.conf import default
from tests.unit.conf import test_conf, test_conf_nova


def test_novas_default_and_a_value_from_nova_conf(tmp_path):
    conf, _ = test_conf.load(tmp_path, "")
    assert (conf.report_interval, default.service_down_time(conf)) == (10, 180)
    assert default.warnings(conf) == ()

    from_nova = test_conf_nova.load(tmp_path, "[DEFAULT]\nreport_interval = 30\n")
    assert from_nova.report_interval == 30
    ours = test_conf_nova.load(
        tmp_path, "[DEFAULT]\nreport_interval = 30\n", "report_interval = 5\n"
    )
    assert ours.report_interval == 5


def test_a_service_down_time_not_above_it_is_raised_as_nova_does(tmp_path):
    conf, _ = test_conf.load(
        tmp_path, "[DEFAULT]\nreport_interval = 100\nservice_down_time = 100\n"
    )

    assert default.service_down_time(conf) == 250
    (warning,) = default.warnings(conf)
    assert warning == (
        "[DEFAULT] service_down_time 100 is not above report_interval 100: 250 is used "
        "(2.5 times report_interval, as Nova does)"
    )
