"""libvirt test-driver host files under tests/fixtures/hosts, rendered into a temp dir."""

from __future__ import annotations

import os

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "hosts")


def render(name: str, directory, **values: str) -> str:
    """Write fixture `name` into `directory` with @KEY@ replaced; return its test:/// URI."""
    with open(os.path.join(FIXTURES, name)) as template:
        text = template.read()
    for key, value in values.items():
        text = text.replace(f"@{key}@", os.fspath(value))
    path = os.path.join(os.fspath(directory), name)
    with open(path, "w") as rendered:
        rendered.write(text)
    return f"test://{path}"


SHUT_OFF = "<test:runstate>5</test:runstate>"  # the test driver's way to define a domain off


def write(directory, domains: list[str], name: str = "host.xml") -> str:
    """A host file of 8 CPUs and 16 GiB with these domains' XML; return its test:/// URI."""
    path = os.path.join(os.fspath(directory), name)
    with open(path, "w") as host:
        host.write("<node><cpu><mhz>2000</mhz><model>x</model><active>8</active><nodes>1</nodes>")
        host.write("<sockets>1</sockets><cores>4</cores><threads>2</threads></cpu>")
        host.write(f"<memory>{16 * 2**20}</memory>{''.join(domains)}</node>")
    return f"test://{path}"
