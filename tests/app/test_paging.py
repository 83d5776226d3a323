"""One paging vocabulary: `cursor` (the previous page's `next_cursor`) and `limit` on every list
route, `after_seq` as the cursor's alias on seq-ordered lists, and a 422 for any query
parameter a route does not take (a typo must not silently return page one again)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.streams_support import twin, wait_assimilated


@pytest.fixture(scope="module")
def stream(client: TestClient, settings: Any) -> tuple[str, dict[str, str]]:
    from tests.conftest import issue_key

    headers = {"Authorization": f"Bearer {issue_key(settings)}"}
    body = {
        "dynamics": {"system": "lorenz63", "dt": 0.01},
        "filter": {"method": "etkf", "ensemble_size": 10},
    }
    sid = client.post("/v1/streams", json=body, headers=headers).json()["id"]
    _, obs = twin("lorenz63", {}, 0.01, 7, 1.0)
    client.post(f"/v1/streams/{sid}/observations", json={"observations": obs}, headers=headers)
    wait_assimilated(client, sid, headers, 7)
    return sid, headers


def pages(client: TestClient, path: str, headers: dict[str, str], key: str) -> list[list[int]]:
    out, params = [], {"limit": 3}
    while True:
        body = client.get(path, params=params, headers=headers).json()
        out.append([item["seq"] for item in body["items"]])
        if body["next_cursor"] is None:
            return out
        params = {"limit": 3, key: body["next_cursor"]}


@pytest.mark.parametrize("what", ["analyses", "observations"])
def test_seq_lists_page_by_cursor_and_its_alias(
    client: TestClient, stream: tuple[str, dict[str, str]], what: str
) -> None:
    sid, headers = stream
    path = f"/v1/streams/{sid}/{what}"
    by_cursor = pages(client, path, headers, "cursor")
    assert by_cursor == [[1, 2, 3], [4, 5, 6], [7]]
    assert pages(client, path, headers, "after_seq") == by_cursor

    r = client.get(path, params={"cursor": "3", "after_seq": 4}, headers=headers)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "after_seq"
    r = client.get(path, params={"cursor": "abc"}, headers=headers)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "cursor"


def test_unknown_query_parameters_are_refused(
    client: TestClient, stream: tuple[str, dict[str, str]]
) -> None:
    sid, headers = stream
    for path in (
        "/v1/jobs",
        "/v1/streams",
        "/v1/models",
        "/v1/kinds",
        f"/v1/streams/{sid}/analyses",
        f"/v1/streams/{sid}/observations",
        f"/v1/streams/{sid}",
    ):
        r = client.get(path, params={"cusor": "x"}, headers=headers)
        assert r.status_code == 422, (path, r.text)
        (item,) = r.json()["detail"]
        assert item["field"] == "cusor" and item["type"] == "unknown_query_parameter", path
    ok = client.get("/v1/jobs", params={"limit": 2}, headers=headers)
    assert ok.status_code == 200
