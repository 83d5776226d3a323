"""Probes and the OpenAPI document."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient


def test_probes(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"ready": True, "checks": {"database": "ok", "broker": "ok"}}


def test_every_route_is_documented_with_an_example(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert client.get("/docs").status_code == 200
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            assert op.get("summary"), (method, path)
            ok = next(c for c in ("200", "201", "202") if c in op["responses"])
            contents = op["responses"][ok].get("content", {}).values()
            assert any(c.get("example") is not None or c.get("examples") for c in contents), (
                method,
                path,
            )
            if "requestBody" in op:
                schema_ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                schema = spec["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
                assert schema.get("examples"), (method, path)


def test_the_docs_pages_load_their_scripts_from_the_server_not_a_cdn(client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert assets and all(a.startswith("/docs-assets/") for a in assets), (page, assets)
        for asset in assets:
            r = client.get(asset)
            assert r.status_code == 200 and len(r.content) > 1000, asset
