"""Bad input gets 422 (or 413) naming the field and the reason; never a 500."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

GOOD = [float(x % 7) + 0.1 * x for x in range(40)]


def body(**overrides: object) -> dict[str, object]:
    b: dict[str, object] = {"series": [{"id": "s", "values": GOOD}], "horizon": 3}
    b.update(overrides)
    return b


def post_raw(client: TestClient, payload: object, headers: dict[str, str]) -> dict[str, object]:
    # json.dumps writes NaN/Infinity tokens, which a lenient JSON parser would accept.
    r = client.post(
        "/v1/forecasts",
        content=json.dumps(payload),
        headers={**headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    out = r.json()
    assert out["error"] == "validation_error"
    return out


CASES = [
    (
        "nan",
        body(series=[{"id": "s", "values": [1.0, math.nan] + GOOD}]),
        "series.0.values",
        "not finite",
    ),
    (
        "inf",
        body(series=[{"id": "s", "values": GOOD + [math.inf]}]),
        "series.0.values",
        "not finite",
    ),
    (
        "integer beyond a float",
        body(series=[{"id": "s", "values": GOOD + [10**400]}]),
        "series.0.values",
        "too large for a float",
    ),
    ("level beyond a float", body(levels=[10**400]), "levels.0", "valid number"),
    ("empty", body(series=[{"id": "s", "values": []}]), "series.0.values", "empty"),
    (
        "string value",
        body(series=[{"id": "s", "values": GOOD[:-1] + ["3"]}]),
        "series.0.values",
        "not a number",
    ),
    (
        "bool value",
        body(series=[{"id": "s", "values": [True] + GOOD}]),
        "series.0.values",
        "not a number",
    ),
    (
        "ragged",
        body(series=[{"id": "s", "values": [[1.0, 2.0]] * 30 + [[1.0]]}]),
        "series.0.values",
        "ragged",
    ),
    ("mixed rows", body(series=[{"id": "s", "values": [[1.0], 2.0]}]), "series.0.values", "mixes"),
    (
        "too short",
        body(series=[{"id": "s", "values": [1.0, 2.0, 3.0]}]),
        "series.0.values",
        "too short",
    ),
    ("no series", body(series=[]), "series", "at least 1"),
    (
        "duplicate ids",
        body(series=[{"id": "a", "values": GOOD}, {"id": "a", "values": GOOD}]),
        "series",
        "duplicate",
    ),
    ("horizon 0", body(horizon=0), "horizon", "greater than or equal to 1"),
    ("horizon float", body(horizon=2.5), "horizon", "integer"),
    ("horizon string", body(horizon="3"), "horizon", "integer"),
    ("horizon over limit", body(horizon=10**6), "horizon", "limit"),
    ("level 0", body(levels=[0]), "levels.0", "greater than 0"),
    ("level 100", body(levels=[100]), "levels.0", "less than 100"),
    ("quantile 1", body(quantiles=[0.5, 1.0]), "quantiles.1", "less than 1"),
    ("quantile 0", body(quantiles=[0]), "quantiles.0", "greater than 0"),
    ("unknown field", body(colour="blue"), "colour", "Extra inputs"),
    (
        "unknown series field",
        body(series=[{"id": "s", "values": GOOD, "unit": "m"}]),
        "series.0.unit",
        "Extra inputs",
    ),
    (
        "unknown model param",
        body(model={"kind": "bayes_ar", "params": {"lag": 2}}),
        "model.params.lag",
        "Extra inputs",
    ),
    ("unknown model kind", body(model={"kind": "prophet"}), "model.kind", "bayes_ar"),
    (
        "timestamps decreasing",
        body(
            series=[
                {
                    "id": "s",
                    "values": GOOD[:3] * 4,
                    "timestamps": [
                        f"2026-01-{d:02d}T00:00:00Z" for d in [1, 3, 2] + list(range(4, 13))
                    ],
                }
            ]
        ),
        "series.0",
        "must increase",
    ),
    (
        "timestamps duplicate",
        body(
            series=[
                {
                    "id": "s",
                    "values": GOOD[:12],
                    "timestamps": [
                        f"2026-01-{d:02d}T00:00:00Z" for d in [1, 1] + list(range(3, 13))
                    ],
                }
            ]
        ),
        "series.0",
        "repeats only with aggregate",
    ),
    (
        "timestamps count",
        body(series=[{"id": "s", "values": GOOD, "timestamps": ["2026-01-01T00:00:00Z"]}]),
        "series.0",
        "timestamps",
    ),
    ("seed negative", body(seed=-1), "seed", "greater than or equal to 0"),
    ("num_samples tiny", body(num_samples=1), "num_samples", "greater than or equal to 10"),
    (
        "fourier without season",
        body(model={"kind": "bayes_ar", "params": {"fourier_order": 2}}),
        "model.params",
        "season_length",
    ),
]


@pytest.mark.parametrize(("name", "payload", "field", "reason"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_names_field_and_reason(
    client: TestClient, headers: dict[str, str], name: str, payload: object, field: str, reason: str
) -> None:
    out = post_raw(client, payload, headers)
    items = out["detail"]
    assert isinstance(items, list) and items
    assert any(i["field"] == field and reason.lower() in i["msg"].lower() for i in items), items


def test_not_json(client: TestClient, headers: dict[str, str]) -> None:
    r = client.post(
        "/v1/forecasts",
        content=b"{not json",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["error"] == "validation_error"


def test_json_the_fast_parser_refuses_is_read_as_before(
    client: TestClient, headers: dict[str, str]
) -> None:
    """Bodies are parsed by pydantic-core's JSON parser (app.api.json_bodies); what it
    refuses goes to the json module: a lone surrogate in a string is still read (and the
    schema names the field), and broken JSON still gets the 422 with its position."""
    lone = b'{"series": [{"id": "\\ud800", "values": [1.0, 2.0, 3.0]}], "horizon": 3}'
    r = client.post(
        "/v1/forecasts", content=lone, headers={**headers, "Content-Type": "application/json"}
    )
    assert r.status_code == 422, r.text
    assert [i["field"] for i in r.json()["detail"]] == ["series.0.id"]  # read, then checked
    r = client.post(
        "/v1/forecasts",
        content=b'{"horizon": 3,}',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", 14], r.text


def test_every_route_with_a_json_body_parses_it_fast() -> None:
    from fastapi.routing import APIRoute

    from app.api.json_bodies import FastJSONRoute
    from app.main import create_app

    def walk(routes: list[Any]) -> Iterator[Any]:
        for r in routes:  # an included router is one route holding its own
            included = getattr(r, "original_router", None)
            yield from walk(included.routes) if included is not None else (r,)

    routes = walk(create_app().routes)
    with_body = [r for r in routes if isinstance(r, APIRoute) and r.body_field]
    assert with_body and all(isinstance(r, FastJSONRoute) for r in with_body), [
        r.path for r in with_body if not isinstance(r, FastJSONRoute)
    ]


def test_body_not_an_object(client: TestClient, headers: dict[str, str]) -> None:
    post_raw(client, [1, 2, 3], headers)


def test_wait_over_limit(client: TestClient, headers: dict[str, str]) -> None:
    r = client.post("/v1/forecasts?wait=31", json=body(), headers=headers)
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "wait"


def test_oversized_body_is_413(client: TestClient, headers: dict[str, str]) -> None:
    huge = b'{"series": [{"id": "s", "values": [' + b"1.0," * 5_000_000 + b'1.0]}], "horizon": 3}'
    r = client.post(
        "/v1/forecasts", content=huge, headers={**headers, "Content-Type": "application/json"}
    )
    assert r.status_code == 413
    assert r.json()["error"] == "payload_too_large"


def test_unknown_forecast_is_404(client: TestClient, headers: dict[str, str]) -> None:
    r = client.get("/v1/forecasts/does-not-exist", headers=headers)
    assert r.status_code == 404 and r.json()["error"] == "not_found"


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/v1/jobs/a%00b", "path"),
        ("/v1/streams/a%00", "path"),
        ("/v1/forecasts/x%00", "path"),
        ("/v1/jobs?kind=a%00", "query"),
    ],
)
def test_nul_in_path_or_query_is_422(
    client: TestClient, headers: dict[str, str], url: str, field: str
) -> None:
    """PostgreSQL cannot compare text holding NUL: refused before any query, never a 500."""
    r = client.get(url, headers=headers)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["field"] == field


def test_every_422_gives_loc_in_one_shape(client: TestClient, headers: dict[str, str]) -> None:
    """Where (body or query), then the path with list indices as numbers: the same whether
    the schema refused the field or a check after parsing did."""
    short = {"series": [{"id": "s", "values": [1.0, 2.0]}], "horizon": 2}
    r = client.post("/v1/forecasts", json=short, headers=headers)  # too short: a later check
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "series", 0, "values"]
    bad = {"series": [{"id": "s", "values": [1.0, "x"]}], "horizon": 2}
    r = client.post("/v1/forecasts", json=bad, headers=headers)  # the schema
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "series", 0, "values"]
    r = client.post("/v1/forecasts?wait=1000", json=short, headers=headers)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "wait"]
