"""Our "one more fits / does not" against a brute-force checker, on 10,000 random small hosts.

tests/support/brute_fit.py decides by trying every assignment of the guest's cells, vCPUs,
page sizes and devices; it shares no code with audit/fitting. Hypothesis draws the seeds
(derandomized, so every run checks the same 10,000 cases); each seed builds a host of 1 to
3 NUMA cells of 1 to 4 cores, its use, and a flavor (tests/support/fitting_cases.py). Our
answer must agree every time, and the placement we choose must be one the checker accepts.

Three things Nova 34 does that an exhaustive search would not, and that we do as Nova does
(tests/functional/test_nova_fitting.py), are kept out of these cases: a guest of several
cells is only put on hosts of as many cells (Nova's fit cache, keyed by a guest cell's id
that each attempt changes, can refuse it on more); no guest asks `any` or `large` pages
(the size the first cell tried chose sticks for the cells tried after it); and the thread
policy `isolate` does not come with isolated emulator threads (Nova may take the emulator's
CPU on a core partly in use, which its own claim then refuses: we stop there, as a claim
that fails places nothing). A case that draws that pair draws its flavor again.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resource_tracker.audit.fitting import host
from resource_tracker.audit.fitting.count import place
from resource_tracker.audit.fitting.flavor import parse_aliases, request
from tests.support import brute_fit, fitting_cases

ALIASES = parse_aliases(fitting_cases.ALIAS_SPECS.values())
CASES = 10_000


def case(seed: int):
    rng = random.Random(seed)
    flavor, wanted = fitting_cases.flavor(rng, size_words=False)
    while wanted.threads == "isolate" and wanted.emulator_isolate:  # see above
        flavor, wanted = fitting_cases.flavor(rng, size_words=False)
    row = fitting_cases.host(rng, max_cells=2 if (wanted.nodes or 1) > 1 else 3)
    return row, flavor, wanted


@settings(
    max_examples=CASES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_one_more_guest_fits_exactly_when_some_assignment_does(seed):
    row, flavor, wanted = case(seed)

    placed, why = place(host.read(row), request(flavor, ALIASES))

    assert (not why) == brute_fit.fits(row, wanted), (seed, why)
    if not why:
        assert brute_fit.accepts(row, wanted, placed), (seed, placed)


def test_the_cases_reach_both_answers_and_every_kind_of_guest():
    seen = {"fits": 0, "does not": 0, "pinned": 0, "isolate": 0, "require": 0, "two cells": 0}
    seen |= {"huge": 0, "pci": 0, "emulator": 0}
    for seed in range(5000):
        row, flavor, wanted = case(seed)
        _placed, why = place(host.read(row), request(flavor, ALIASES))
        seen["does not" if why else "fits"] += 1
        seen["pinned"] += bool(wanted.dedicated)
        seen["isolate"] += wanted.threads == "isolate" and not why
        seen["require"] += wanted.threads == "require" and not why
        seen["two cells"] += (wanted.nodes or 1) > 1 and not why
        seen["huge"] += isinstance(wanted.page, int) and not why
        seen["pci"] += wanted.pci is not None and not why
        seen["emulator"] += wanted.emulator_isolate and not why
    assert all(count >= 10 for count in seen.values()), seen
