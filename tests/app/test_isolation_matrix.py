"""Tenant isolation, route by route: tenant B gets 404 (never 403, never A's data) on every
resource of tenant A, and B's lists never include A's items. Each (resource, verb) is its
own case, and every /v1 route of the app must have at least one, so a new route without an
isolation case fails here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from app.config import Settings
from tests.app.test_models_api import wait_job
from tests.conftest import issue_key
from tests.jobs_support import unsent_jobs
from tests.streams_support import wait_assimilated

VALUES = [float((i * 7) % 11) + 0.1 * i for i in range(90)]
SERIES = [{"id": "s", "values": VALUES}]
MODEL = "a-model"
ALIAS = "prod"


@dataclass(frozen=True)
class World:
    """Tenant A's resources, one of each, and two other tenants' credentials."""

    client: TestClient
    a: dict[str, str]
    b: dict[str, str]
    jobs: dict[str, str]  # A's job id by kind
    stream: str  # A's stream
    b_forecast: str  # B's own job, so B's job list is not trivially empty
    b_stream: str

    def as_a(self, method: str, url: str, **kw: Any) -> Any:
        return self.client.request(method, url, headers=self.a, **kw)

    def as_b(self, method: str, url: str, **kw: Any) -> Any:
        return self.client.request(method, url, headers=self.b, **kw)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def accepted(r: Any, *codes: int) -> dict[str, Any]:
    assert r.status_code in (codes or (200, 201, 202)), r.text
    return dict(r.json())


def create_stream(client: TestClient, headers: dict[str, str]) -> str:
    body = {
        "dynamics": {"system": "lorenz63", "dt": 0.01},
        "filter": {"method": "enkf", "ensemble_size": 10},
        "seed": 1,
    }
    return str(accepted(client.post("/v1/streams", json=body, headers=headers), 201)["id"])


@pytest.fixture(scope="module")
def world(client: TestClient, settings: Settings) -> World:
    key_a = issue_key(settings)
    a, b = bearer(key_a), bearer(issue_key(settings))
    post = lambda url, body: accepted(client.post(url, json=body, headers=a))  # noqa: E731
    forecast = post("/v1/forecasts?wait=20", {"series": SERIES, "horizon": 2})
    backtest = post("/v1/backtests", {"series": SERIES, "horizon": 2, "folds": 2})
    train = post("/v1/models", {"name": MODEL, "model": {"kind": "bayes_ar"}, "series": SERIES})
    assert wait_job(client, train["id"], a)["status"] == "succeeded"
    accepted(client.put(f"/v1/models/{MODEL}/aliases/{ALIAS}", json={"version": 1}, headers=a))
    stream = create_stream(client, a)
    observations = [{"seq": k, "t": 0.01 * k, "values": [1.0, 2.0, 20.0]} for k in (1, 2, 3)]
    post(f"/v1/streams/{stream}/observations", {"observations": observations})
    wait_assimilated(client, stream, a, 3)
    stream_forecast = accepted(client.get(f"/v1/streams/{stream}/forecast?horizon=3", headers=a))
    b_forecast = accepted(
        client.post("/v1/forecasts", json={"series": SERIES, "horizon": 2}, headers=b)
    )
    return World(
        client=client,
        a=a,
        b=b,
        jobs={
            "forecast": forecast["id"],
            "backtest": backtest["id"],
            "train": train["id"],
            "stream_forecast": stream_forecast["id"],
            "queued": unsent_jobs(settings, key_a)[0],
        },
        stream=stream,
        b_forecast=b_forecast["id"],
        b_stream=create_stream(client, b),
    )


def not_found(r: Any) -> None:
    assert r.status_code == 404, r.text
    assert r.json()["error"] == "not_found"


Check = Callable[[World], None]


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # the route's path template, as the app declares it
    check: Check


CASES: dict[str, Case] = {}


def case(name: str, method: str, path: str) -> Callable[[Check], Check]:
    def register(check: Check) -> Check:
        assert name not in CASES, name
        CASES[name] = Case(method, path, check)
        return check

    return register


# --- jobs -------------------------------------------------------------------------------------

for _kind in ("forecast", "backtest", "train", "stream_forecast", "queued"):

    @case(f"jobs.get[{_kind}]", "GET", "/v1/jobs/{job_id}")
    def _get_job(w: World, kind: str = _kind) -> None:
        not_found(w.as_b("GET", f"/v1/jobs/{w.jobs[kind]}"))
        assert w.as_a("GET", f"/v1/jobs/{w.jobs[kind]}").status_code == 200


@case("jobs.list", "GET", "/v1/jobs")
def _list_jobs(w: World) -> None:
    theirs = set(w.jobs.values())
    for params in ({}, {"status": "succeeded"}, {"status": "queued"}, {"kind": "train"}):
        ids = {j["id"] for j in accepted(w.as_b("GET", "/v1/jobs", params=params))["items"]}
        assert not ids & theirs, params
    assert w.b_forecast in {j["id"] for j in accepted(w.as_b("GET", "/v1/jobs"))["items"]}


@case("jobs.cancel[queued]", "POST", "/v1/jobs/{job_id}/cancel")
def _cancel_queued(w: World) -> None:
    not_found(w.as_b("POST", f"/v1/jobs/{w.jobs['queued']}/cancel"))
    assert accepted(w.as_a("GET", f"/v1/jobs/{w.jobs['queued']}"))["status"] == "queued"


@case("jobs.cancel[finished]", "POST", "/v1/jobs/{job_id}/cancel")
def _cancel_finished(w: World) -> None:
    # 404, not the 409 A itself would get: B learns nothing about A's job.
    not_found(w.as_b("POST", f"/v1/jobs/{w.jobs['forecast']}/cancel"))


# --- kinds (public: the same for every tenant, and for no key) -------------------------------


@case("kinds.list", "GET", "/v1/kinds")
def _kinds(w: World) -> None:
    assert accepted(w.as_a("GET", "/v1/kinds")) == accepted(w.as_b("GET", "/v1/kinds"))


# --- forecasts and backtests ------------------------------------------------------------------


@case("forecasts.get", "GET", "/v1/forecasts/{forecast_id}")
def _get_forecast(w: World) -> None:
    not_found(w.as_b("GET", f"/v1/forecasts/{w.jobs['forecast']}"))
    assert accepted(w.as_a("GET", f"/v1/forecasts/{w.jobs['forecast']}"))["result"]


@case("forecasts.get[stream_forecast]", "GET", "/v1/forecasts/{forecast_id}")
def _get_stream_forecast(w: World) -> None:
    not_found(w.as_b("GET", f"/v1/forecasts/{w.jobs['stream_forecast']}"))


for _ref in ({"version": 1}, {"alias": ALIAS}):

    @case(f"forecasts.create[stored {next(iter(_ref))}]", "POST", "/v1/forecasts")
    def _predict_with_their_model(w: World, ref: dict[str, Any] = _ref) -> None:
        body = {"series": SERIES, "horizon": 2, "model": {"name": MODEL, **ref}}
        before = len(accepted(w.as_b("GET", "/v1/jobs"))["items"])
        not_found(w.as_b("POST", "/v1/forecasts", json=body))
        assert len(accepted(w.as_b("GET", "/v1/jobs"))["items"]) == before


@case("forecasts.input", "GET", "/v1/forecasts/{forecast_id}/input")
def _forecast_input(w: World) -> None:
    not_found(w.as_b("GET", f"/v1/forecasts/{w.jobs['forecast']}/input"))
    assert accepted(w.as_a("GET", f"/v1/forecasts/{w.jobs['forecast']}/input"))["series"]


@case("forecasts.plot", "GET", "/v1/forecasts/{forecast_id}/plot.png")
def _forecast_plot(w: World) -> None:
    not_found(w.as_b("GET", f"/v1/forecasts/{w.jobs['forecast']}/plot.png"))
    assert w.as_a("GET", f"/v1/forecasts/{w.jobs['forecast']}/plot.png").status_code == 200


@case("backtests.get", "GET", "/v1/backtests/{backtest_id}")
def _get_backtest(w: World) -> None:
    not_found(w.as_b("GET", f"/v1/backtests/{w.jobs['backtest']}"))
    assert w.as_a("GET", f"/v1/backtests/{w.jobs['backtest']}").status_code == 200


@case("backtests.create", "POST", "/v1/backtests")
def _create_backtest(w: World) -> None:
    """Isolation runs both ways: what B creates, A cannot see."""
    mine = accepted(w.as_b("POST", "/v1/backtests", json={"series": SERIES, "horizon": 2}))
    not_found(w.as_a("GET", f"/v1/backtests/{mine['id']}"))
    not_found(w.as_a("GET", f"/v1/jobs/{mine['id']}"))


# --- models and aliases -----------------------------------------------------------------------


@case("models.train[same name]", "POST", "/v1/models")
def _train_same_name(w: World) -> None:
    """A third tenant training a model of A's name starts at version 1, with no parent."""
    c = bearer(issue_key(w.client.app.state.settings))  # type: ignore[attr-defined]
    body = {"name": MODEL, "model": {"kind": "bayes_ar"}, "series": SERIES}
    job = accepted(w.client.post("/v1/models", json=body, headers=c))
    assert wait_job(w.client, job["id"], c)["status"] == "succeeded"
    theirs = accepted(w.client.get(f"/v1/models/{MODEL}", headers=c))
    assert theirs["latest_version"] == 1 and theirs["aliases"] == {}
    assert theirs["versions"][0]["parent_version"] is None
    mine = accepted(w.as_a("GET", f"/v1/models/{MODEL}"))
    assert mine["latest_version"] == 1 and mine["aliases"] == {ALIAS: 1}
    assert mine["versions"][0]["job_id"] == w.jobs["train"]


@case("models.list", "GET", "/v1/models")
def _list_models(w: World) -> None:
    assert MODEL not in {m["name"] for m in accepted(w.as_b("GET", "/v1/models"))["items"]}


@case("models.get", "GET", "/v1/models/{name}")
def _get_model(w: World) -> None:
    not_found(w.as_b("GET", f"/v1/models/{MODEL}"))


@case("models.versions.get", "GET", "/v1/models/{name}/versions/{version}")
def _get_version(w: World) -> None:
    not_found(w.as_b("GET", f"/v1/models/{MODEL}/versions/1"))


for _alias in (ALIAS, "b-alias"):

    @case(f"aliases.set[{_alias}]", "PUT", "/v1/models/{name}/aliases/{alias}")
    def _set_alias(w: World, alias: str = _alias) -> None:
        not_found(w.as_b("PUT", f"/v1/models/{MODEL}/aliases/{alias}", json={"version": 1}))
        assert accepted(w.as_a("GET", f"/v1/models/{MODEL}"))["aliases"] == {ALIAS: 1}


# --- streams ----------------------------------------------------------------------------------


@case("streams.create", "POST", "/v1/streams")
def _create_stream(w: World) -> None:
    mine = create_stream(w.client, w.b)
    not_found(w.as_a("GET", f"/v1/streams/{mine}"))
    assert mine not in {s["id"] for s in accepted(w.as_a("GET", "/v1/streams"))["items"]}


@case("streams.list", "GET", "/v1/streams")
def _list_streams(w: World) -> None:
    ids = {s["id"] for s in accepted(w.as_b("GET", "/v1/streams", params={"limit": 200}))["items"]}
    assert w.stream not in ids and w.b_stream in ids


@case("streams.get", "GET", "/v1/streams/{stream_id}")
def _get_stream(w: World) -> None:
    not_found(w.as_b("GET", f"/v1/streams/{w.stream}"))


@case("streams.observations.post", "POST", "/v1/streams/{stream_id}/observations")
def _post_observations(w: World) -> None:
    before = accepted(w.as_a("GET", f"/v1/streams/{w.stream}"))
    body = {"observations": [{"seq": 4, "t": 0.04, "values": [0.0, 0.0, 0.0]}]}
    not_found(w.as_b("POST", f"/v1/streams/{w.stream}/observations", json=body))
    after = accepted(w.as_a("GET", f"/v1/streams/{w.stream}"))
    assert (
        (after["last_seq"], after["pending"]) == (before["last_seq"], before["pending"]) == (3, 0)
    )


@case("streams.analyses.list", "GET", "/v1/streams/{stream_id}/analyses")
def _list_analyses(w: World) -> None:
    not_found(w.as_b("GET", f"/v1/streams/{w.stream}/analyses"))
    assert len(accepted(w.as_a("GET", f"/v1/streams/{w.stream}/analyses"))["items"]) == 3


@case("streams.observations.list", "GET", "/v1/streams/{stream_id}/observations")
def _list_observations(w: World) -> None:
    not_found(w.as_b("GET", f"/v1/streams/{w.stream}/observations"))
    assert len(accepted(w.as_a("GET", f"/v1/streams/{w.stream}/observations"))["items"]) == 3


@case("streams.plot", "GET", "/v1/streams/{stream_id}/plot.png")
def _stream_plot(w: World) -> None:
    not_found(w.as_b("GET", f"/v1/streams/{w.stream}/plot.png"))
    assert w.as_a("GET", f"/v1/streams/{w.stream}/plot.png").status_code == 200


@case("streams.forecast", "GET", "/v1/streams/{stream_id}/forecast")
def _stream_forecast(w: World) -> None:
    not_found(w.as_b("GET", f"/v1/streams/{w.stream}/forecast"))
    kinds = {j["kind"] for j in accepted(w.as_b("GET", "/v1/jobs"))["items"]}
    assert "stream_forecast" not in kinds


@case("streams.events", "GET", "/v1/streams/{stream_id}/events")
def _stream_events(w: World) -> None:
    not_found(w.as_b("GET", f"/v1/streams/{w.stream}/events"))


@case("streams.reset", "POST", "/v1/streams/{stream_id}/reset")
def _reset_stream(w: World) -> None:
    body = {"initial": {"mean": [5.0, 5.0, 5.0]}}
    not_found(w.as_b("POST", f"/v1/streams/{w.stream}/reset", json=body))
    state = accepted(w.as_a("GET", f"/v1/streams/{w.stream}"))
    assert state["config"]["initial"]["mean"] != [5.0, 5.0, 5.0] and state["spread"] is not None


@case("streams.delete", "DELETE", "/v1/streams/{stream_id}")
def _close_stream(w: World) -> None:
    not_found(w.as_b("DELETE", f"/v1/streams/{w.stream}"))
    assert accepted(w.as_a("GET", f"/v1/streams/{w.stream}"))["status"] == "open"


# --- the matrix -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_isolation(name: str, world: World) -> None:
    CASES[name].check(world)


def test_every_v1_route_has_an_isolation_case(client: TestClient) -> None:
    # app.routes holds included routers unflattened; iter_route_contexts walks into them.
    routes = {
        (method, context.path)
        for context in iter_route_contexts(client.app.routes)
        if isinstance(context.route, APIRoute) and context.path.startswith("/v1")
        for method in context.methods or ()
    }
    assert routes, "no /v1 routes found: the enumeration is broken"
    covered = {(c.method, c.path) for c in CASES.values()}
    assert not routes - covered, f"routes without an isolation case: {sorted(routes - covered)}"
    assert not covered - routes, f"cases for routes that do not exist: {sorted(covered - routes)}"
