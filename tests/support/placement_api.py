"""Reading and writing a Placement service as an operator or another client would."""

from __future__ import annotations

from typing import Any

import requests

from tests.support.placement import TOKEN

HEADERS = {"x-auth-token": TOKEN, "OpenStack-API-Version": "placement 1.39"}


class PlacementApi:
    def __init__(self, url: str):
        self.url = url

    def get(self, path: str, **params: str) -> Any:
        answer = requests.get(self.url + path, headers=HEADERS, params=params, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def put(self, path: str, body: dict) -> requests.Response:
        return requests.put(self.url + path, headers=HEADERS, json=body, timeout=30)

    def add_traits(self, uuid: str, *names: str) -> requests.Response:
        """As another client would: the custom traits made, then added to the provider."""
        for name in names:
            made = requests.put(f"{self.url}/traits/{name}", headers=HEADERS, timeout=30)
            assert made.status_code in (201, 204), made.text
        traits = self.get(f"/resource_providers/{uuid}/traits")
        body = {
            "resource_provider_generation": traits["resource_provider_generation"],
            "traits": [*traits["traits"], *names],
        }
        return self.put(f"/resource_providers/{uuid}/traits", body)

    def delete(self, path: str) -> requests.Response:
        return requests.delete(self.url + path, headers=HEADERS, timeout=30)

    def wipe(self) -> None:
        """Every provider gone, children before their parents."""
        providers = self.get("/resource_providers")["resource_providers"]
        for provider in sorted(providers, key=lambda p: p["parent_provider_uuid"] is None):
            for consumer in self.get(f"/resource_providers/{provider['uuid']}/allocations")[
                "allocations"
            ]:
                self.delete(f"/allocations/{consumer}")
            answer = self.delete(f"/resource_providers/{provider['uuid']}")
            assert answer.status_code == 204, answer.text


def allocate(api: PlacementApi, consumer: str, provider: str, **resources: int):
    """An allocation as the scheduler writes one (microversion 1.39)."""
    body = {
        "allocations": {provider: {"resources": resources}},
        "project_id": "6b0c5a8e-0000-4000-8000-000000000001",
        "user_id": "6b0c5a8e-0000-4000-8000-000000000002",
        "consumer_generation": None,
        "consumer_type": "INSTANCE",
    }
    answer = api.put(f"/allocations/{consumer}", body)
    assert answer.status_code == 204, answer.text
