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
