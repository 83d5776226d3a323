"""Generated bad series and observations always get a 4xx (422, or 413 for an oversized body)
with the uniform error body naming the field, never a 5xx; generated good ones are accepted.

The app here has small limits, so "huge" inputs stay cheap to generate and send.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.config import Settings
from tests.conftest import issue_key

MAX_LENGTH = 64
MAX_BODY = 32_000
MAX_OBS = 20
OBS_DIM = 3  # a Lorenz-63 stream observing its whole state
MIN_LENGTH = 40  # at least what the default bayes_ar needs

FAST = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
non_finite = st.sampled_from([math.nan, math.inf, -math.inf])
not_a_number = st.one_of(
    st.text(max_size=5), st.booleans(), st.dictionaries(st.text(max_size=3), finite)
)


@pytest.fixture(scope="module")
def small(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(
        max_series_length=MAX_LENGTH,
        max_body_bytes=MAX_BODY,
        max_observations_per_post=MAX_OBS,
        rate_limit_per_s=0,
        max_active_jobs=0,
    )


@pytest.fixture(scope="module")
def auth(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_key(settings)}"}


@pytest.fixture(scope="module")
def stream(small: TestClient, auth: dict[str, str]) -> str:
    r = small.post("/v1/streams", json={"dynamics": {"system": "lorenz63"}}, headers=auth)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def post(client: TestClient, url: str, payload: Any, headers: dict[str, str]) -> Any:
    # json.dumps writes NaN/Infinity tokens, as a careless client would.
    return client.post(
        url, content=json.dumps(payload), headers={**headers, "Content-Type": "application/json"}
    )


def assert_refused(r: Any, field: str) -> None:
    """A 4xx in the uniform shape, one of whose items names `field` (or a part of it)."""
    assert r.status_code in (413, 422), (r.status_code, r.text)
    body = r.json()
    assert body["error"] in ("validation_error", "payload_too_large"), body
    assert isinstance(body["detail"], list) and body["detail"], body
    for item in body["detail"]:
        assert set(item) == {"loc", "field", "msg", "type"} and item["msg"], item
    fields = [item["field"] for item in body["detail"]]
    assert any(f == field or f.startswith(field + ".") for f in fields), (field, fields)


# --- series -----------------------------------------------------------------------------------


def forecast(values: Any, **series: Any) -> dict[str, Any]:
    return {
        "series": [{"id": "s", "values": values, **series}],
        "horizon": 2,
        "num_samples": 10,
        "model": {"kind": "bayes_ar"},
    }


good_values = st.lists(finite, min_size=MIN_LENGTH, max_size=MAX_LENGTH)


@FAST
@given(values=good_values, bad=non_finite, data=st.data())
def test_non_finite_values(
    small: TestClient, auth: dict[str, str], values: list[float], bad: float, data: st.DataObject
) -> None:
    values[data.draw(st.integers(0, len(values) - 1))] = bad
    assert_refused(post(small, "/v1/forecasts", forecast(values), auth), "series.0.values")


@FAST
@given(
    width=st.integers(1, 4),
    n=st.integers(MIN_LENGTH, MAX_LENGTH),
    other=st.integers(0, 6),
    data=st.data(),
)
def test_ragged_rows(
    small: TestClient, auth: dict[str, str], width: int, n: int, other: int, data: st.DataObject
) -> None:
    rows = [[1.0 + i + j for j in range(width)] for i in range(n)]
    if other == width:
        other = width + 1
    rows[data.draw(st.integers(1, n - 1))] = [0.5] * other
    assert_refused(post(small, "/v1/forecasts", forecast(rows), auth), "series.0.values")


@FAST
@given(values=good_values, bad=not_a_number, data=st.data())
def test_values_of_the_wrong_type(
    small: TestClient, auth: dict[str, str], values: list[Any], bad: Any, data: st.DataObject
) -> None:
    values[data.draw(st.integers(0, len(values) - 1))] = bad
    assert_refused(post(small, "/v1/forecasts", forecast(values), auth), "series.0.values")


@FAST
@given(values=st.one_of(not_a_number, st.integers(), st.just([])))
def test_values_not_a_list_or_empty(small: TestClient, auth: dict[str, str], values: Any) -> None:
    assert_refused(post(small, "/v1/forecasts", forecast(values), auth), "series.0.values")


@FAST
@given(
    series_id=st.one_of(
        st.integers(),
        st.none(),
        st.lists(st.text(max_size=3)),
        st.just(""),
        st.text(min_size=256),
        st.tuples(st.text(max_size=5), st.text(max_size=5)).map("\x00".join),
    )
)
def test_bad_series_ids(small: TestClient, auth: dict[str, str], series_id: Any) -> None:
    body = {"series": [{"id": series_id, "values": [1.0] * MIN_LENGTH}], "horizon": 2}
    assert_refused(post(small, "/v1/forecasts", body, auth), "series.0.id")


@FAST
@given(n=st.integers(MAX_LENGTH + 1, 4 * MAX_LENGTH))
def test_series_over_the_length_limit(small: TestClient, auth: dict[str, str], n: int) -> None:
    r = post(small, "/v1/forecasts", forecast([float(i % 5) for i in range(n)]), auth)
    assert_refused(r, "series.0.values")
    assert "limit" in r.json()["detail"][0]["msg"]


@FAST
@given(n=st.integers(MAX_BODY // 10, MAX_BODY // 2))
def test_body_over_the_size_limit(small: TestClient, auth: dict[str, str], n: int) -> None:
    r = post(small, "/v1/forecasts", forecast([0.123456789] * n), auth)
    assert r.status_code == 413
    assert_refused(r, "body")


def timestamps(n: int) -> st.SearchStrategy[list[datetime]]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    steps = st.lists(st.integers(1, 10_000), min_size=n, max_size=n)
    return steps.map(lambda s: [start + timedelta(minutes=x) for x in itertools.accumulate(s)])


def gridded_timestamps(n: int) -> st.SearchStrategy[list[datetime]]:
    """Evenly spaced times (a minute to a day apart) with a jitter of up to 10% of the step."""
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def times(step: int, jitter: list[float]) -> list[datetime]:
        return [start + timedelta(seconds=step * (k + j)) for k, j in enumerate(jitter)]

    jitters = st.lists(st.floats(-0.1, 0.1), min_size=n, max_size=n)
    return st.builds(times, st.sampled_from([60, 900, 3600, 86_400]), jitters)


@FAST
@given(data=st.data(), n=st.integers(MIN_LENGTH, MAX_LENGTH))
def test_irregular_timestamps_are_gridded_or_refused_by_name(
    small: TestClient, auth: dict[str, str], data: st.DataObject, n: int
) -> None:
    ts = data.draw(timestamps(n))
    body = forecast([float(k % 7) for k in range(n)], timestamps=[t.isoformat() for t in ts])
    r = post(small, "/v1/forecasts", body, auth)
    if r.status_code != 202:
        assert_refused(r, "series.0.timestamps")


@FAST
@given(data=st.data(), n=st.integers(MIN_LENGTH, MAX_LENGTH))
def test_timestamps_out_of_order(
    small: TestClient, auth: dict[str, str], data: st.DataObject, n: int
) -> None:
    ts = data.draw(timestamps(n))
    i = data.draw(st.integers(1, n - 1))
    ts[i] = ts[i - 1] - timedelta(minutes=data.draw(st.integers(0, 10_000)))  # equal or earlier
    body = forecast([float(k % 7) for k in range(n)], timestamps=[t.isoformat() for t in ts])
    assert_refused(post(small, "/v1/forecasts", body, auth), "series.0")


@FAST
@given(
    data=st.data(),
    series_id=st.text(min_size=1, max_size=255).filter(lambda s: "\x00" not in s),  # NUL: see above
    values=good_values,
    stamped=st.booleans(),
)
def test_valid_series_are_accepted(
    small: TestClient,
    auth: dict[str, str],
    data: st.DataObject,
    series_id: str,
    values: list[float],
    stamped: bool,
) -> None:
    extra = {}
    if stamped:
        extra["timestamps"] = [t.isoformat() for t in data.draw(gridded_timestamps(len(values)))]
    body = forecast(values, **extra)
    body["series"][0]["id"] = series_id
    r = post(small, "/v1/forecasts", body, auth)
    assert r.status_code == 202, r.text


# --- observations -----------------------------------------------------------------------------

_seq = itertools.count(1)


def fresh_observations(n: int) -> list[dict[str, Any]]:
    """Valid observations with seq and t past every earlier example's."""
    seqs = [next(_seq) for _ in range(n)]
    return [{"seq": s, "t": 0.01 * s, "values": [0.1 * s, 1.0, -1.0]} for s in seqs]


def observe(client: TestClient, stream: str, observations: Any, auth: dict[str, str]) -> Any:
    return post(client, f"/v1/streams/{stream}/observations", {"observations": observations}, auth)


@FAST
@given(n=st.integers(1, 5), bad=non_finite, data=st.data())
def test_non_finite_observations(
    small: TestClient, auth: dict[str, str], stream: str, n: int, bad: float, data: st.DataObject
) -> None:
    obs = fresh_observations(n)
    i = data.draw(st.integers(0, n - 1))
    obs[i]["values"][data.draw(st.integers(0, OBS_DIM - 1))] = bad
    assert_refused(observe(small, stream, obs, auth), f"observations.{i}.values")


@FAST
@given(n=st.integers(1, 5), width=st.integers(0, 8).filter(lambda w: w != OBS_DIM), data=st.data())
def test_observations_of_the_wrong_width(
    small: TestClient, auth: dict[str, str], stream: str, n: int, width: int, data: st.DataObject
) -> None:
    obs = fresh_observations(n)
    i = data.draw(st.integers(0, n - 1))
    obs[i]["values"] = [1.0] * width
    assert_refused(observe(small, stream, obs, auth), f"observations.{i}.values")


WRONG_TYPE = {
    "seq": st.one_of(not_a_number, st.floats(), st.integers(max_value=0), st.just(2**62)),
    "t": not_a_number,
    # A null reading is a missing one (accepted); any other non-number is refused.
    "values": st.one_of(
        not_a_number, not_a_number.filter(lambda x: x is not None).map(lambda x: [1.0, x, 1.0])
    ),
}


@FAST
@given(n=st.integers(1, 5), key=st.sampled_from(sorted(WRONG_TYPE)), data=st.data())
def test_observation_fields_of_the_wrong_type(
    small: TestClient, auth: dict[str, str], stream: str, n: int, key: str, data: st.DataObject
) -> None:
    obs = fresh_observations(n)
    i = data.draw(st.integers(0, n - 1))
    obs[i][key] = data.draw(WRONG_TYPE[key])
    assert_refused(observe(small, stream, obs, auth), f"observations.{i}.{key}")


@FAST
@given(n=st.integers(2, 8), data=st.data())
def test_observation_times_out_of_order(
    small: TestClient, auth: dict[str, str], stream: str, n: int, data: st.DataObject
) -> None:
    obs = fresh_observations(n)
    i = data.draw(st.integers(1, n - 1))
    obs[i]["t"] = obs[i - 1]["t"] - data.draw(st.floats(0, 10, allow_nan=False))
    if data.draw(st.booleans()):
        obs.reverse()  # the order in the post does not matter; seq order does
    assert_refused(observe(small, stream, obs, auth), "observations")


@FAST
@given(n=st.integers(MAX_OBS + 1, 4 * MAX_OBS))
def test_too_many_observations(
    small: TestClient, auth: dict[str, str], stream: str, n: int
) -> None:
    assert_refused(observe(small, stream, fresh_observations(n), auth), "observations")


def test_no_observations(small: TestClient, auth: dict[str, str], stream: str) -> None:
    assert_refused(observe(small, stream, [], auth), "observations")
    assert_refused(observe(small, stream, None, auth), "observations")


@FAST
@given(n=st.integers(1, MAX_OBS), values=st.lists(finite, min_size=OBS_DIM, max_size=OBS_DIM))
def test_valid_observations_are_accepted(
    small: TestClient, auth: dict[str, str], stream: str, n: int, values: list[float]
) -> None:
    obs = fresh_observations(n)
    for o in obs:
        o["values"] = values
    r = observe(small, stream, obs, auth)
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == n
