"""Placement's HTTP API through a keystoneauth Adapter, every request within a deadline.

A request either answers (any status: the caller decides what it means) or raises
PlacementFailure with the kind of fault (what the log says once, and the metrics count).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

MICROVERSION = "placement 1.39"  # Placement 16.0.0's highest; what Nova 34 asks is lower

UNREACHABLE = "unreachable"
TIMEOUT = "timeout"
CREDENTIALS = "credentials refused"
SERVER_ERROR = "server error"
REFUSED = "request refused"
DEADLINE = "deadline"
UNEXPECTED = "unexpected answer"
KINDS = (UNREACHABLE, TIMEOUT, CREDENTIALS, SERVER_ERROR, REFUSED, DEADLINE, UNEXPECTED)


class PlacementFailure(Exception):
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class Adapter(Protocol):
    """What of keystoneauth1's Adapter is used."""

    def request(self, url: str, method: str, **kwargs: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any  # the JSON body, or None

    @property
    def error_code(self) -> str | None:
        """Placement's error code (`placement.concurrent_update`, ...), if it gave one."""
        errors = self.body.get("errors") if isinstance(self.body, dict) else None
        if errors and isinstance(errors[0], dict):
            return errors[0].get("code")
        return None


class PlacementClient:
    """Counts its requests; `deadline` (time.monotonic()) bounds each one."""

    def __init__(self, adapter: Adapter, call_s: float):
        self._adapter = adapter
        self._call_s = call_s
        self.requests = 0
        self.made: set[tuple[str, str]] = set()  # custom resource classes and traits made

    def request(self, method: str, path: str, deadline: float, body: Any = None) -> Answer:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise PlacementFailure(DEADLINE, "no time left in this audit for Placement")
        self.requests += 1
        kwargs: dict[str, Any] = {
            "headers": {"OpenStack-API-Version": MICROVERSION},
            "raise_exc": False,
            "timeout": min(self._call_s, remaining),
        }
        if body is not None:
            kwargs["json"] = body
        # keystoneauth1 (requests, ~8.5 MiB) only in a process that talks to Placement
        from keystoneauth1 import exceptions as ks_exceptions

        try:
            response = self._adapter.request(path, method, **kwargs)
        except (ks_exceptions.ConnectTimeout, ks_exceptions.RequestTimeout) as error:
            raise PlacementFailure(TIMEOUT, f"no answer within {kwargs['timeout']:g} s") from error
        except ks_exceptions.ConnectFailure as error:
            raise PlacementFailure(UNREACHABLE, _first_line(error)) from error
        except (ks_exceptions.Unauthorized, ks_exceptions.AuthorizationFailure) as error:
            raise PlacementFailure(CREDENTIALS, _first_line(error)) from error
        except ks_exceptions.ClientException as error:
            raise PlacementFailure(UNREACHABLE, _first_line(error)) from error
        status = response.status_code
        if status in (401, 403):
            raise PlacementFailure(CREDENTIALS, f"{method} {path}: HTTP {status}")
        if status >= 500:
            raise PlacementFailure(SERVER_ERROR, f"{method} {path}: HTTP {status}")
        try:
            answer_body = response.json() if response.content else None
        except ValueError:
            answer_body = None
        return Answer(status, answer_body)


def refused(method: str, path: str, answer: Answer) -> PlacementFailure:
    """A 4xx the caller did not expect, named with Placement's own words."""
    detail = ""
    if isinstance(answer.body, dict) and answer.body.get("errors"):
        detail = ": " + " ".join(str(answer.body["errors"][0].get("detail", "")).split())
    return PlacementFailure(REFUSED, f"{method} {path}: HTTP {answer.status}{detail}")


def _first_line(error: Exception) -> str:
    text = str(error) or type(error).__name__
    return text.splitlines()[0][:300]
