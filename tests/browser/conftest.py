"""A real server (uvicorn, embedded worker, auth required) and headless Chromium driven by
selenium through Debian's chromedriver (`make test` installs both,
`tests/browser/ensure-chromium.sh`). Screenshots go to
test-artifacts/browser/."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from bench.stack import ROOT, Databases, Stack, alembic
from tests.e2e.test_stack import create_key

ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = os.environ.get("KALMANAC_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("KALMANAC_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def server(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The development mode a user gets from `make run` (in-memory broker, worker thread in
    the API process), on PostgreSQL and with keys required, as the dashboard must work with."""
    url = databases.create()
    alembic(url, "upgrade", "head")
    env = {
        **os.environ,
        "KALMANAC_DATABASE_URL": url,
        "KALMANAC_BROKER_URL": "memory://",
        "KALMANAC_AUTH": "required",
        "KALMANAC_SECRET_KEY": "browser-" + os.urandom(12).hex(),
    }
    s = Stack(env, tmp_path_factory.mktemp("browser"))
    try:
        s.start_api()
        yield s
    finally:
        s.stop_all()
        print(f"--- api ---\n{s.log('api')}")


@pytest.fixture(scope="module")
def key(server: Stack) -> str:
    return create_key(server.env, "browser")


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(path):
            pytest.fail(f"{path} is missing: apt-get install chromium chromium-driver", False)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1100,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def shoot(browser: webdriver.Chrome, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """shoot("name") saves a screenshot named after the test; one more is taken on failure."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def save(name: str) -> Path:
        path = ARTIFACTS / f"{request.node.name}-{name}.png"
        browser.save_screenshot(str(path))
        return path

    yield save
    if getattr(request.node, "failed", False):
        save("failure")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    if report.when == "call" and report.failed:
        item.failed = True  # type: ignore[attr-defined]
    return report
