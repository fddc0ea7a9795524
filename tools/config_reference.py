"""Print the README's configuration reference, generated from the registered options.

    .venv/bin/python tools/config_reference.py         # the text between the README's markers
    .venv/bin/python tools/config_reference.py nova    # the "Shared with nova.conf" tables

tests/unit/conf/ fails while the README's copy differs from what this prints.
"""

from __future__ import annotations

import sys

from resource_tracker.conf import nova
from resource_tracker.conf.opts import list_opts


def reference() -> str:
    lines = []
    for group, opts in list_opts():
        lines += [
            f"`[{group}]`",
            "",
            "| option | default | range | meaning |",
            "| --- | --- | --- | --- |",
        ]
        for opt in opts:
            default = opt.sample_default if opt.sample_default is not None else opt.default
            shown = (
                "(none)"
                if default in (None, "")
                else f"`{str(default).lower() if isinstance(default, bool) else default}`"
            )
            meaning = " ".join(opt.help.split()).replace("|", "\\|")
            low, high = getattr(opt.type, "min", None), getattr(opt.type, "max", None)
            bounds = f"{low} to {high}" if low is not None and high is not None else ""
            lines.append(f"| `{opt.dest}` | {shown} | {bounds} | {meaning} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def shared_with_nova() -> str:
    lines = [
        "| shared option | nova-compute's value where nova.conf does not set it |",
        "| --- | --- |",
    ]
    for each in nova.SHARED:
        lines.append(f"| `[{each.group}] {each.name}` | {each.nova_default} |")
    lines += ["", "| not read from nova.conf | why |", "| --- | --- |"]
    for (group, name), why in nova.NOT_SHARED.items():
        lines.append(f"| `[{group}] {name}` | {why} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(shared_with_nova() if sys.argv[1:] == ["nova"] else reference(), end="")
