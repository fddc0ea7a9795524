#!/usr/bin/env bash
# Quick start, second command: set up what the tests need, then run every test: the linters,
# the type checker and the whole pytest suite (the suite starts its own private MariaDB server).
# Arguments go to pytest, e.g. tools/test.sh -m "not mysql" tests/unit
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh --test
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy  # what it checks, and how strictly: [tool.mypy] in pyproject.toml
# workers: most tests wait on real servers and processes, so three share two cores well
exec .venv/bin/pytest -n "${RT_TEST_WORKERS:-3}" --dist worksteal "$@"
