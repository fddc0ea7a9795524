"""Print the README's configuration reference, generated from the registered options.

    .venv/bin/python tools/config_reference.py    # the text between the README's markers

tests/unit/conf/test_conf.py fails while the README's copy differs from what this prints.
"""

from __future__ import annotations

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
            lines.append(f"| `{opt.name}` | {shown} | {bounds} | {meaning} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(reference(), end="")
