"""One transaction, run again when the database says another writer was in the way, or
once, at once, when its connection went bad and was replaced (errors.py, engine.py)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from resource_tracker.db.errors import ConcurrentChange, is_retryable, needs_fresh_connection
from resource_tracker.timeouts import DB_RETRY_BUDGET_S

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """At most `attempts` runs; before run n+1 a random pause in [0, base * 2**(n-1)], capped;
    no run starts once `budget_s` have passed since the first began.

    The randomness spreads hundreds of daemons that collided apart, instead of having them
    collide again at the same instant. The budget bounds a reconcile that a lock held by
    another session keeps failing (timeouts.py).
    """

    attempts: int = 6
    base_delay_s: float = 0.02
    max_delay_s: float = 1.0
    budget_s: float = DB_RETRY_BUDGET_S

    def delay_s(self, failed_runs: int) -> float:
        return random.uniform(0, min(self.max_delay_s, self.base_delay_s * 2 ** (failed_runs - 1)))


def in_transaction(
    engine: Engine,
    work: Callable[[Connection], T],
    policy: RetryPolicy,
    on_retry: Callable[[Exception], None] | None = None,
) -> T:
    """Run `work` in one transaction; run it anew while the failure is retryable and allowed.

    A connection that went bad (killed, lost, opened read-only) is tried again once, without
    a pause, on the fresh connection the engine gives next; a second such failure ends the
    transaction (the database is not back yet: the next audit tries again)."""
    started = time.monotonic()
    reconnected = False
    for run in range(1, policy.attempts + 1):
        try:
            with engine.begin() as connection:
                return work(connection)
        except (DBAPIError, ConcurrentChange) as error:
            if run == policy.attempts:
                raise
            if needs_fresh_connection(error):
                if reconnected:
                    raise
                reconnected = True
                if on_retry is not None:
                    on_retry(error)
                continue
            if not is_retryable(error):
                raise
            delay = policy.delay_s(run)
            if time.monotonic() + delay - started > policy.budget_s:
                raise
            if on_retry is not None:
                on_retry(error)
            time.sleep(delay)
    raise AssertionError("unreachable")
