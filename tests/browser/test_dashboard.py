"""The dashboard in headless Chromium against a real server with keys required: enter the key
once, submit a forecast and see its fan chart; open a stream and watch its chart follow
observations pushed through the API, live over the server-sent-events feed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from bench.stack import Stack

pytestmark = pytest.mark.e2e
Shoot = Callable[[str], Path]


def wait_for(browser: webdriver.Chrome, css: str, timeout: float = 30) -> list:  # type: ignore[type-arg]
    return WebDriverWait(browser, timeout).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, css) or False
    )


def enter_key_if_asked(browser: webdriver.Chrome, key: str) -> None:
    dialog = browser.find_element(By.ID, "key-dialog")
    WebDriverWait(browser, 10).until(lambda b: dialog.is_displayed())
    dialog.find_element(By.NAME, "key").send_keys(key)
    dialog.find_element(By.TAG_NAME, "button").click()


@pytest.fixture
def signed_in(browser: webdriver.Chrome, server: Stack, key: str) -> None:
    """The browser holds the key whichever tests ran before (one test alone, `-k`): the
    browser lives for the module, and the first test enters the key through the form."""
    browser.get(f"{server.base}/#/jobs")
    dialog = browser.find_element(By.ID, "key-dialog")
    WebDriverWait(browser, 30).until(
        lambda b: dialog.is_displayed() or b.find_elements(By.CSS_SELECTOR, "table#jobs tr")
    )
    if dialog.is_displayed():
        enter_key_if_asked(browser, key)


def api_client(server: Stack, key: str) -> httpx.Client:
    """The API as the tests call it beside the browser; its timeout outlasts the server's
    longest `wait` (30 s): httpx's default of 5 s failed a forecast that took longer."""
    return httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {key}"},
                        timeout=60)  # fmt: skip


def test_submit_a_forecast_and_see_its_fan_chart(
    browser: webdriver.Chrome, server: Stack, key: str, shoot: Shoot
) -> None:
    browser.get(f"{server.base}/#/jobs")
    enter_key_if_asked(browser, key)  # the jobs list answered 401: the key form shows once
    wait_for(browser, "table#jobs tr")
    browser.get(f"{server.base}/#/forecast")
    # The form is drawn once the server has listed its kinds (GET /v1/kinds).
    wait_for(browser, "form.submit select[name=kind] option")
    assert browser.find_element(By.CSS_SELECTOR, "select[name=kind]").get_attribute("value") == (
        "bayes_ar"  # the registry's default kind is selected
    )
    browser.find_element(By.CSS_SELECTOR, "form.submit button").click()
    bands = wait_for(browser, ".fan svg g.band polygon", timeout=60)
    labels = [
        b.get_attribute("data-label") for b in browser.find_elements(By.CSS_SELECTOR, ".fan g.band")
    ]
    assert len(bands) == 3 and labels == ["95%", "80%", "50%"]
    lines = browser.find_elements(By.CSS_SELECTOR, ".fan g.line")
    assert {g.get_attribute("data-label") for g in lines} == {"history", "mean"}
    parts = browser.find_elements(By.CSS_SELECTOR, ".parts g.line")
    assert [g.get_attribute("data-label") for g in parts] == ["epistemic", "aleatoric", "total"]
    shoot("fan-chart")
    browser.get(f"{server.base}/#/jobs")  # the key was kept: no form this time
    rows = wait_for(browser, "table#jobs tr.succeeded")
    assert not browser.find_element(By.ID, "key-dialog").is_displayed() and len(rows) == 1


def test_stream_chart_moves_with_pushed_observations(
    browser: webdriver.Chrome, server: Stack, key: str, shoot: Shoot, signed_in: None
) -> None:
    api = api_client(server, key)
    body = {
        "name": "live",
        "dynamics": {"system": "lorenz63", "dt": 0.01},
        "observation": {"indices": [0], "noise_std": 1.0},
        "filter": {"method": "etkf", "ensemble_size": 16},
    }
    sid = api.post("/v1/streams", json=body).raise_for_status().json()["id"]

    def push(seqs: range) -> None:
        obs = [{"seq": k, "t": 0.05 * k, "values": [1.0 + 0.3 * k]} for k in seqs]
        api.post(f"/v1/streams/{sid}/observations", json={"observations": obs}).raise_for_status()

    def points(n: int) -> None:
        WebDriverWait(browser, 60).until(
            lambda b: b.find_element(By.ID, "stream-chart").get_attribute("data-points") == str(n)
        )

    push(range(1, 6))
    browser.get(f"{server.base}/#/streams/{sid}")
    if browser.find_element(By.ID, "key-dialog").is_displayed():
        enter_key_if_asked(browser, key)
    points(5)
    shoot("before")
    push(range(6, 16))  # no reload: the page hears of each analysis over the event feed
    points(15)
    circles = browser.find_elements(By.CSS_SELECTOR, "#stream-chart g.points circle")
    assert len(circles) == 15
    assert browser.find_elements(By.CSS_SELECTOR, "#stream-chart g.band polygon")
    assert len(wait_for(browser, "#sensors tr.sensor-ok")) == 1  # one sensor, healthy
    shoot("after")

    # The sensor sticks (the same reading again and again): its row turns failed, live.
    stuck = [{"seq": k, "t": 0.05 * k, "values": [5.5]} for k in range(16, 30)]
    api.post(f"/v1/streams/{sid}/observations", json={"observations": stuck}).raise_for_status()
    WebDriverWait(browser, 60).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, "#sensors tr.sensor-failed")
    )
    shoot("sensor-failed")
    assert not browser.find_element(By.ID, "stream-health").is_displayed()


def test_a_failing_stream_says_so_live(
    browser: webdriver.Chrome, server: Stack, key: str, shoot: Shoot, signed_in: None
) -> None:
    """Readings far off the model's scale, with quality control off, throw the ensemble out
    of its range: the open page says the stream is failing, live."""
    api = api_client(server, key)
    body = {"dynamics": {"system": "lorenz63", "dt": 0.01}, "qc": None}
    sid = api.post("/v1/streams", json=body).raise_for_status().json()["id"]
    browser.get(f"{server.base}/#/streams/{sid}")
    WebDriverWait(browser, 30).until(  # this stream's page, drawn (no analyses yet)
        lambda b: b.find_element(By.ID, "stream-chart").get_attribute("data-points") == "0"
    )
    alarm = browser.find_element(By.ID, "stream-health")
    assert not alarm.is_displayed()
    wild = [{"seq": k, "t": 0.05 * k, "values": [1e300] * 3} for k in range(1, 5)]
    api.post(f"/v1/streams/{sid}/observations", json={"observations": wild}).raise_for_status()
    WebDriverWait(browser, 60).until(lambda b: alarm.is_displayed())
    assert "Failing since seq" in alarm.text and "/reset" in alarm.text
    shoot("stream-failing")
    browser.get(f"{server.base}/#/streams")  # the list says so too
    failing = wait_for(browser, "td.status.failed")
    assert any(td.text == "open · failing" for td in failing)


def test_the_fan_chart_marks_imputed_gaps_and_anomalies(
    browser: webdriver.Chrome, server: Stack, key: str, shoot: Shoot, signed_in: None
) -> None:
    values: list[float | None] = [10 + ((7 * i) % 5) * 0.3 for i in range(120)]
    for i in (50, 51, 52, 90):
        values[i] = None
    values[100] = 30.0
    values[110] = 1e4  # a gross fault: set aside, and drawn without rescaling the chart
    times = [f"2026-03-{1 + i // 24:02d}T{i % 24:02d}:00:00Z" for i in range(120)]
    body = {
        "series": [{"id": "sensor", "values": values, "timestamps": times}],
        "horizon": 12,
        "detect_anomalies": {"level": 99.9},
    }
    api = api_client(server, key)
    job = api.post("/v1/forecasts?wait=30", json=body).raise_for_status().json()
    assert job["status"] == "succeeded", job
    browser.get(f"{server.base}/#/forecasts/{job['id']}")
    imputed = wait_for(browser, '.fan g.points[data-label="imputed"] circle', timeout=60)
    aside = {a["index"] for a in job["result"]["series"][0]["set_aside"]}
    assert 110 in aside
    flagged = browser.find_elements(By.CSS_SELECTOR, '.fan g.points[data-label="anomaly"] circle')
    shown = browser.find_elements(By.CSS_SELECTOR, '.fan g.points[data-label="set aside"] circle')
    assert len(imputed) == 4 + len(aside) and len(shown) == len(aside)
    assert len(flagged) + len(aside) >= 2  # the spike at 30 is one or the other
    history = browser.find_elements(By.CSS_SELECTOR, '.fan g.line[data-label="history"] polyline')
    assert len(history) == 3 + len(aside)  # the history line breaks at its gaps
    labels = [t.text for t in browser.find_elements(By.CSS_SELECTOR, ".fan .axes text")]
    assert any(label.startswith("2026-03-0") for label in labels), labels  # dates, not steps
    assert not any("e+" in label for label in labels), labels  # 1e4 is on the edge
    shoot("fan-chart-gaps-and-anomalies")


def test_the_api_docs_render_without_the_internet(
    browser: webdriver.Chrome, server: Stack, shoot: Shoot
) -> None:
    """This browser reaches nothing but the server: Swagger UI's scripts are served by it."""
    browser.get(f"{server.base}/docs")
    operations = wait_for(browser, ".opblock", timeout=30)
    assert len(operations) > 20
    shoot("swagger-ui")


def test_form_errors_show_next_to_their_field(
    browser: webdriver.Chrome, server: Stack, key: str, shoot: Shoot, signed_in: None
) -> None:
    browser.get(f"{server.base}/#/forecast")
    wait_for(browser, "form.submit select[name=kind] option")
    form = browser.find_element(By.CSS_SELECTOR, "form.submit")
    values = form.find_element(By.NAME, "values")
    values.clear()
    values.send_keys("1, 2, x, 4")
    form.find_element(By.TAG_NAME, "button").click()
    slot = form.find_element(By.CSS_SELECTOR, '[data-field="values"] .field-error')
    WebDriverWait(browser, 10).until(lambda b: slot.text)
    assert slot.text == "item 2: 'x' is not a number"  # caught before sending: never null
    values.clear()
    values.send_keys(", ".join(str(i % 7) for i in range(60)))
    levels = form.find_element(By.NAME, "levels")
    levels.clear()
    levels.send_keys("80, 150")
    form.find_element(By.TAG_NAME, "button").click()
    slot = form.find_element(By.CSS_SELECTOR, '[data-field="levels"] .field-error')
    WebDriverWait(browser, 10).until(lambda b: slot.text)  # the server's 422, by field
    assert "less than 100" in slot.text and "{" not in slot.text
    assert form.find_element(By.CSS_SELECTOR, '[data-field="values"] .field-error').text == ""
    shoot("field-error")


def test_a_multivariate_forecast_shows_the_component_chosen(
    browser: webdriver.Chrome, server: Stack, key: str, shoot: Shoot, signed_in: None
) -> None:
    rows = [[10 + (i % 5), -50 - (i % 3)] for i in range(80)]
    body = {"series": [{"id": "pair", "values": rows}], "horizon": 6}
    api = api_client(server, key)
    job = api.post("/v1/forecasts?wait=30", json=body).raise_for_status().json()
    browser.get(f"{server.base}/#/forecasts/{job['id']}")
    pick = wait_for(browser, "select.component", timeout=60)[0]

    def axis_labels() -> list[str]:  # the y axis's ticks
        return [t.text for t in browser.find_elements(By.CSS_SELECTOR, '.fan .axes text[x="50"]')]

    first = axis_labels()
    assert not any(label.startswith("-") for label in first)
    pick.find_elements(By.TAG_NAME, "option")[1].click()
    WebDriverWait(browser, 10).until(lambda b: any(x.startswith("-") for x in axis_labels()))
    shoot("second-component")


def test_the_backtest_coverage_chart_keeps_its_bars_inside_the_axes(
    browser: webdriver.Chrome, server: Stack, key: str, shoot: Shoot, signed_in: None
) -> None:
    values = [10 + 3 * ((7 * i) % 11) / 11 for i in range(160)]
    body = {"series": [{"id": "b", "values": values}], "horizon": 6, "folds": 3,
            "levels": [50, 80, 95]}  # fmt: skip
    api = api_client(server, key)
    job = api.post("/v1/backtests", json=body).raise_for_status().json()
    browser.get(f"{server.base}/#/backtests/{job['id']}")
    bars = wait_for(browser, ".coverage g.bars rect", timeout=60)
    assert len(bars) == 6
    for bar in bars:
        x, width = float(bar.get_attribute("x")), float(bar.get_attribute("width"))
        assert 56 <= x and x + width <= 748  # inside the plot area, clear of the y labels
    labels = [t.text for t in browser.find_elements(By.CSS_SELECTOR, ".coverage .axes text")]
    assert {"50%", "80%", "95%"} <= set(labels)
    shoot("backtest")


def test_time_axes_are_ticked_at_round_times(
    browser: webdriver.Chrome, server: Stack, signed_in: None
) -> None:
    """A three-hour forecast's axis reads 22:00, 22:30, ...: round times, not six evenly
    spaced ones (23:05, 23:27, ...); a decade reads as years."""
    browser.get(server.base)
    script = """
        const el = document.createElement("div");
        document.body.appendChild(el);
        Chart.draw(el, {xTime: true, series: [{type: "line", x: [arguments[0], arguments[1]],
                                               y: [0, 1]}]});
        const texts = [...el.querySelectorAll(".axes text")].map((t) => t.textContent);
        el.remove();
        return texts;
    """
    hour, year = 3600e3, 365.25 * 86400e3
    t0 = 1794780000e3  # 2026-11-15 22:00 UTC
    labels = browser.execute_script(script, t0, t0 + 3 * hour)
    times = [x for x in labels if x.startswith("11-1")]
    assert len(times) >= 4 and all(x[-2:] in ("00", "30") for x in times), labels
    labels = browser.execute_script(script, t0 - 10 * year, t0)
    years = [x for x in labels if len(x) == 4 and x.isdigit()]
    assert len(years) >= 4 and all(int(x) % 2 == 0 for x in years), labels


def test_a_missing_reading_is_no_point_at_zero(
    browser: webdriver.Chrome, server: Stack, signed_in: None
) -> None:
    """A stream's reading with a missing component: no dot is drawn for it (it was drawn at
    0, a reading that never came)."""
    browser.get(server.base)
    heights = browser.execute_script("""
        const el = document.createElement("div");
        document.body.appendChild(el);
        Chart.draw(el, {series: [{type: "points", x: [1, 2, 3], y: [20, null, 19]}]});
        const cys = [...el.querySelectorAll("circle")].map((c) => +c.getAttribute("cy"));
        el.remove();
        return cys;
    """)
    assert len(heights) == 2, heights
