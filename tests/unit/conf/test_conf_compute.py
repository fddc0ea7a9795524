"""CPU sets, reserved huge pages and my_ip: Nova's names and syntax, refused early when bad."""

from __future__ import annotations

import pytest

from resource_tracker.audit.shape import LEGACY_SHARED_OPTION, SHARED_OPTION, ReservedPages
from resource_tracker.cmd.host_shape import default_route_address, shape_policy, start_warnings
from resource_tracker.conf import compute
from resource_tracker.exception import ConfigError
from tests.support import nova
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
            "[DEFAULT]\nvcpu_pin_set = 0-3\n[compute]\ncpu_dedicated_set = 4-7\n",
            r"^\[DEFAULT\] vcpu_pin_set and \[compute\] cpu_dedicated_set are both set: "
            r".*unset vcpu_pin_set",
        ),
        (
            "[DEFAULT]\nreserved_host_cpus = 1\n[compute]\ncpu_dedicated_set = 4-7\n",
            r"^\[DEFAULT\] reserved_host_cpus cannot be set with \[compute\] cpu_shared_set "
            r"or cpu_dedicated_set: unset reserved_host_cpus",
        ),
        (
            "[DEFAULT]\nreserved_host_cpus = 2\n[compute]\ncpu_shared_set = 0-3\n",
            r"^\[DEFAULT\] reserved_host_cpus cannot be set with",
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


def test_vcpu_pin_set_wins_over_cpu_shared_set_with_a_warning(tmp_path):
    """Nova's _get_vcpu_available: vcpu_pin_set gives the VCPU CPUs when both are set."""
    conf, _ = load(tmp_path, "[DEFAULT]\nvcpu_pin_set = 0-3\n[compute]\ncpu_shared_set = 2-5\n")

    policy = shape_policy(conf)

    assert policy.shared_cpus == {0, 1, 2, 3} and policy.shared_option == LEGACY_SHARED_OPTION
    assert compute.warnings(conf) == (
        "[DEFAULT] vcpu_pin_set and [compute] cpu_shared_set are both set: vcpu_pin_set gives "
        "the shared CPUs (vcpus) and cpu_shared_set is not used; move vcpu_pin_set's CPUs to "
        "cpu_shared_set and unset vcpu_pin_set",
    )


def test_reserved_host_cpus_goes_with_vcpu_pin_set_alone(tmp_path):
    conf, _ = load(tmp_path, "[DEFAULT]\nvcpu_pin_set = 0-3\nreserved_host_cpus = 1\n")

    assert conf.reserved_host_cpus == 1
    assert compute.warnings(conf) == (
        "[DEFAULT] vcpu_pin_set is deprecated: name the CPUs in [compute] cpu_shared_set",
    )


# What Nova 34's LibvirtDriver._check_cpu_set_configuration says for the same options: run in
# its own virtualenv, its CONF set by the options, the verdict "refused", "warned" or "ok".
NOVA_CHECK = """
import io, json, logging, sys
from nova import conf, exception
from nova.virt.libvirt import driver
CONF = conf.CONF
CONF([], project="nova")
logs = io.StringIO()
logging.basicConfig(stream=logs, level=logging.WARNING)
verdicts = []
for case in json.load(sys.stdin):
    for name, value in case.items():
        group, _, option = name.rpartition(".")
        CONF.set_override(option, value, group=group or None)
    logs.seek(0)
    logs.truncate()
    try:
        driver.LibvirtDriver._check_cpu_set_configuration(object())
        verdicts.append("warned" if "WARNING" in logs.getvalue() else "ok")
    except (exception.InvalidConfiguration, exception.Invalid):
        verdicts.append("refused")
    for name in case:
        group, _, option = name.rpartition(".")
        CONF.clear_override(option, group=group or None)
print(json.dumps(verdicts))
"""

CPU_OPTION_CASES = [
    {},
    {"vcpu_pin_set": "0-3"},
    {"compute.cpu_shared_set": "0-3"},
    {"compute.cpu_shared_set": "0-3", "compute.cpu_dedicated_set": "4-7"},
    {"compute.cpu_shared_set": "0-3", "compute.cpu_dedicated_set": "3-7"},
    {"vcpu_pin_set": "0-3", "compute.cpu_shared_set": "2-5"},
    {"vcpu_pin_set": "0-3", "compute.cpu_dedicated_set": "4-7"},
    {"vcpu_pin_set": "0-3", "compute.cpu_shared_set": "8", "compute.cpu_dedicated_set": "4-7"},
    {"vcpu_pin_set": "0-3", "reserved_host_cpus": 1},
    {"reserved_host_cpus": 1},
    {"reserved_host_cpus": 1, "compute.cpu_shared_set": "0-3"},
    {"reserved_host_cpus": 1, "compute.cpu_dedicated_set": "4-7"},
    {"reserved_host_cpus": 1, "compute.cpu_shared_set": "0-1", "compute.cpu_dedicated_set": "1"},
]


def our_verdict(tmp_path, case: dict) -> str:
    sections: dict[str, list[str]] = {"DEFAULT": [], "compute": []}
    for name, value in case.items():
        group, _, option = name.rpartition(".")
        sections[group or "DEFAULT"].append(f"{option} = {value}")
    text = "".join(
        f"[{group}]\n" + "".join(f"{line}\n" for line in lines)
        for group, lines in sections.items()
    )
    try:
        conf, _ = load(tmp_path, text)
    except ConfigError:
        return "refused"
    return "warned" if compute.warnings(conf) else "ok"


def test_refused_warned_and_accepted_as_nova_34_does(tmp_path):
    expected = nova.run(NOVA_CHECK, CPU_OPTION_CASES)

    ours = [our_verdict(tmp_path, case) for case in CPU_OPTION_CASES]

    assert list(zip(CPU_OPTION_CASES, ours, strict=True)) == list(
        zip(CPU_OPTION_CASES, expected, strict=True)
    )
    assert {"refused", "warned", "ok"} == set(expected)


NOVA_MY_IP = """
import io, json, logging, sys
from nova import conf
from nova.virt.libvirt import driver
CONF = conf.CONF
CONF([], project="nova")
logs = io.StringIO()
logging.basicConfig(stream=logs, level=logging.WARNING)
verdicts = []
for address in json.load(sys.stdin):
    CONF.set_override("my_ip", address)
    logs.seek(0)
    logs.truncate()
    driver.LibvirtDriver._check_my_ip(object())
    verdicts.append("warned" if "WARNING" in logs.getvalue() else "ok")
print(json.dumps(verdicts))
"""


def test_a_my_ip_on_no_interface_is_warned_about_as_nova_34_does(tmp_path):
    addresses = ["127.0.0.1", "192.0.2.9", "::1", "2001:db8::7"]
    if default_route_address():
        addresses.append(default_route_address())

    ours = []
    for address in addresses:
        conf, _ = load(tmp_path, f"[DEFAULT]\nmy_ip = {address}\n")
        ours.append("warned" if start_warnings(conf) else "ok")

    assert ours == nova.run(NOVA_MY_IP, addresses)
    assert ours[:4] == ["ok", "warned", "ok", "warned"]
    conf, _ = load(tmp_path, "[DEFAULT]\nmy_ip = 192.0.2.9\n")
    assert start_warnings(conf) == (
        "[DEFAULT] my_ip 192.0.2.9 is on none of the host's interfaces",
    )
