"""PNG plots of forecasts and streams; the posted input and observations they draw from."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from tests.conftest import issue_key
from tests.streams_support import wait_assimilated

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
VALUES = [float((i * 7) % 11) + 0.1 * i for i in range(60)]


def is_png(r: Any) -> bool:
    return (
        r.status_code == 200
        and r.headers["content-type"] == "image/png"
        and (r.content.startswith(PNG_MAGIC))
    )


@pytest.fixture(scope="module")
def forecast(client: TestClient, settings: Settings) -> tuple[dict[str, str], str]:
    headers = {"Authorization": f"Bearer {issue_key(settings)}"}
    body = {"series": [{"id": "s", "values": VALUES}], "horizon": 5, "levels": [50, 80, 95]}
    r = client.post("/v1/forecasts?wait=30", json=body, headers=headers)
    assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
    return headers, r.json()["id"]


@pytest.fixture(scope="module")
def stream(client: TestClient, settings: Settings) -> tuple[dict[str, str], str]:
    headers = {"Authorization": f"Bearer {issue_key(settings)}"}
    body = {
        "name": "plot",
        "dynamics": {"system": "lorenz63", "dt": 0.01},
        "observation": {"indices": [0, 2], "noise_std": 1.0},
        "filter": {"method": "enkf", "ensemble_size": 10},
    }
    r = client.post("/v1/streams", json=body, headers=headers)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    obs = [{"seq": k, "t": 0.01 * k, "values": [1.0 + k, 20.0]} for k in range(1, 6)]
    client.post(f"/v1/streams/{sid}/observations", json={"observations": obs}, headers=headers)
    wait_assimilated(client, sid, headers, 5)
    return headers, sid


def test_forecast_plot_is_a_png(client: TestClient, forecast: tuple[dict[str, str], str]) -> None:
    headers, fid = forecast
    assert is_png(client.get(f"/v1/forecasts/{fid}/plot.png", headers=headers))
    assert is_png(client.get(f"/v1/forecasts/{fid}/plot.png?series=s", headers=headers))


def test_forecast_plot_names_bad_choices(
    client: TestClient, forecast: tuple[dict[str, str], str]
) -> None:
    headers, fid = forecast
    r = client.get(f"/v1/forecasts/{fid}/plot.png?series=nope", headers=headers)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "series"
    r = client.get(f"/v1/forecasts/{fid}/plot.png?component=1", headers=headers)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "component"


def test_forecast_input_is_the_posted_series(
    client: TestClient, forecast: tuple[dict[str, str], str]
) -> None:
    headers, fid = forecast
    r = client.get(f"/v1/forecasts/{fid}/input", headers=headers)
    assert r.status_code == 200
    assert r.json()["series"][0]["id"] == "s" and r.json()["series"][0]["values"] == VALUES


def test_stream_plot_per_component(client: TestClient, stream: tuple[dict[str, str], str]) -> None:
    headers, sid = stream
    for component in (0, 1, 2):  # 1 is not observed: drawn without observations
        r = client.get(f"/v1/streams/{sid}/plot.png?component={component}", headers=headers)
        assert is_png(r), component
    r = client.get(f"/v1/streams/{sid}/plot.png?component=3", headers=headers)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "component"


def test_stream_observations_are_listed_in_seq_order(
    client: TestClient, stream: tuple[dict[str, str], str]
) -> None:
    headers, sid = stream
    page = client.get(f"/v1/streams/{sid}/observations?limit=3", headers=headers).json()
    assert [o["seq"] for o in page["items"]] == [1, 2, 3] and page["next_cursor"] == "3"
    rest = client.get(f"/v1/streams/{sid}/observations?after_seq=3", headers=headers).json()
    assert [o["seq"] for o in rest["items"]] == [4, 5] and rest["next_cursor"] is None
    assert {o["status"] for o in page["items"] + rest["items"]} == {"assimilated"}


def test_plots_need_a_key_and_hide_other_tenants(
    client: TestClient,
    settings: Settings,
    forecast: tuple[dict[str, str], str],
    stream: tuple[dict[str, str], str],
) -> None:
    other = {"Authorization": f"Bearer {issue_key(settings)}"}
    for url in (
        f"/v1/forecasts/{forecast[1]}/plot.png",
        f"/v1/forecasts/{forecast[1]}/input",
        f"/v1/streams/{stream[1]}/plot.png",
        f"/v1/streams/{stream[1]}/observations",
    ):
        assert client.get(url).status_code == 401, url
        r = client.get(url, headers=other)
        assert r.status_code == 404 and r.json()["error"] == "not_found", url
