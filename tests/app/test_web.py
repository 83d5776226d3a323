"""The dashboard: its page and static files are served without a key and stay out of OpenAPI."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_dashboard_page_and_assets_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for asset, kind in (
        ("/static/app.js", "javascript"),
        ("/static/api.js", "javascript"),
        ("/static/chart.js", "javascript"),
        ("/static/style.css", "text/css"),
    ):
        assert asset in page.text
        r = client.get(asset)
        assert r.status_code == 200 and kind in r.headers["content-type"], asset


def test_assets_load_nothing_from_other_hosts(client: TestClient) -> None:
    """The dashboard must work offline: no CDN, no external fonts."""
    for path in ("/", "/static/app.js", "/static/api.js", "/static/chart.js", "/static/style.css"):
        text = client.get(path).text
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", ""), path
        assert "https://" not in text, path


def test_dashboard_is_not_in_the_api_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths and not any(p.startswith("/static") for p in paths)
    assert client.get("/static/missing.js").status_code == 404
