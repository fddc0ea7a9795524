"""CPU sets, reserved huge pages and my_ip: Nova's names and syntax, refused early when bad."""

from __future__ import annotations

import pytest

from resource_tracker.audit.shape import LEGACY_SHARED_OPTION, SHARED_OPTION, ReservedPages
from resource_tracker.cmd.host_shape import default_route_address, shape_policy
from resource_tracker.exception import ConfigError
from tests.unit.conf.test_conf import load

MiB, GiB = 2**20, 2**30


def test_sets_reserved_pages_and_address(tmp_path):
    conf, _ = load(
        tmp_path,
        "[DEFAULT]\nreserved_huge_pages = node:0,size:2048,count:64\n"
        "reserved_huge_pages = node:1,size:1GB,count:2\nmy_ip = 2001:db8::7\n"
        "[compute]\ncpu_shared_set = 0-3,^2,8\ncpu_dedicated_set = 4-7\n",
    )

    policy = shape_policy(conf)

    assert policy.shared_cpus == {0, 1, 3, 8} and policy.shared_option == SHARED_OPTION
    assert policy.dedicated_cpus == {4, 5, 6, 7}
    assert policy.reserved_pages == (ReservedPages(0, 2 * MiB, 64), ReservedPages(1, GiB, 2))
    assert policy.host_ip == "2001:db8::7"


def test_defaults(tmp_path):
    conf, _ = load(tmp_path, "")

    policy = shape_policy(conf)

    assert (policy.shared_cpus, policy.dedicated_cpus, policy.reserved_pages) == (None, None, ())
    assert policy.host_ip == default_route_address()


def test_vcpu_pin_set_is_the_deprecated_name_of_the_shared_set(tmp_path):
    conf, _ = load(tmp_path, "[DEFAULT]\nvcpu_pin_set = 2-5\n")

    policy = shape_policy(conf)

    assert policy.shared_cpus == {2, 3, 4, 5} and policy.shared_option == LEGACY_SHARED_OPTION


@pytest.mark.parametrize("size", ["2048", "2M", "2MB", "2MiB", "2048K", "2048KB"])
def test_page_sizes_in_kib_or_with_a_unit(tmp_path, size):
    conf, _ = load(tmp_path, f"[DEFAULT]\nreserved_huge_pages = node:0,size:{size},count:1\n")

    assert shape_policy(conf).reserved_pages == (ReservedPages(0, 2 * MiB, 1),)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[compute]\ncpu_shared_set = 0-3,x\n", r"\[compute\] cpu_shared_set: invalid value"),
        ("[compute]\ncpu_dedicated_set = 4-2\n", r"cpu_dedicated_set: .*runs backwards"),
        ("[DEFAULT]\nvcpu_pin_set = 1,,2\n", r"\[DEFAULT\] vcpu_pin_set: .*empty entry"),
        (
            "[DEFAULT]\nreserved_huge_pages = node:0,size:2048\n",
            r"\[DEFAULT\] reserved_huge_pages: .*expected node:N,size:S,count:C",
        ),
        (
            "[DEFAULT]\nreserved_huge_pages = node:a,size:2048,count:1\n",
            r"reserved_huge_pages: .*whole numbers",
        ),
        ("[DEFAULT]\nreserved_huge_pages = node:0,size:2X,count:1\n", r"size '2X'"),
        ("[DEFAULT]\nmy_ip = not-an-address\n", r"\[DEFAULT\] my_ip: invalid value"),
        (
            "[DEFAULT]\nvcpu_pin_set = 0-3\n[compute]\ncpu_shared_set = 0-3\n",
            r"^\[DEFAULT\] vcpu_pin_set and \[compute\] cpu_shared_set are both set",
        ),
        (
            "[compute]\ncpu_shared_set = 0-3\ncpu_dedicated_set = 3-5\n",
            r"cpu_shared_set and \[compute\] cpu_dedicated_set overlap on CPUs 3:",
        ),
    ],
)
def test_bad_values_name_the_option_in_one_line(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message) as raised:
        load(tmp_path, text)

    assert "\n" not in str(raised.value)
