"""Settings refuse unsafe production configurations."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.config import DEFAULT_SECRET, Settings


def test_production_refuses_auth_off() -> None:
    # Values are passed explicitly: other tests set KALMANAC_* in this process's environment.
    with pytest.raises(ValidationError, match="KALMANAC_AUTH"):
        Settings(env="production", auth="off", secret_key="x" * 32)


def test_production_refuses_default_secret() -> None:
    with pytest.raises(ValidationError, match="KALMANAC_SECRET_KEY"):
        Settings(env="production", auth="required", secret_key=DEFAULT_SECRET)


def test_production_accepts_safe_settings() -> None:
    s = Settings(env="production", auth="required", secret_key="x" * 32, broker_url="redis://r")
    assert not s.run_embedded_worker


def test_embedded_worker_follows_the_broker() -> None:
    assert Settings(broker_url="memory://").run_embedded_worker
    assert not Settings(broker_url="redis://localhost").run_embedded_worker
    assert Settings(broker_url="redis://localhost", embedded_worker=True).run_embedded_worker
