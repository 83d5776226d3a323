"""All settings, from environment variables prefixed KALMANAC_ (nothing is configured in code)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "dev-insecure-secret"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KALMANAC_", extra="ignore")

    env: Literal["development", "production"] = "development"
    database_url: str = "sqlite:///./var/kalmanac.db"
    broker_url: str = "memory://"
    # None: run the worker inside the API process exactly when the broker is in-memory.
    embedded_worker: bool | None = None
    # Jobs the embedded worker runs at once on the cpu queue (threads; training on gpu has a
    # lane of its own); 0 sizes it to the machine (2 to 4).
    embedded_lanes: int = Field(0, ge=0, le=32)
    auth: Literal["off", "required"] = "off"
    # Pepper for API-key hashes; production refuses the default.
    secret_key: str = DEFAULT_SECRET
    default_tenant: str = "default"
    log_level: str = "INFO"
    cors_origins: list[str] = Field(default_factory=list)
    # Stamped by deployments (e.g. a git sha); defaults to the package version.
    code_version: str = ""

    # Request limits (answered with 413/422 naming the field).
    max_body_bytes: int = 16 * 1024 * 1024
    max_series: int = 100
    max_series_length: int = 200_000
    max_dimensions: int = 32
    max_horizon: int = 2_000
    max_num_samples: int = 10_000
    max_sample_values: int = 5_000_000  # num_samples * horizon * d when samples are returned
    max_wait_s: float = 30.0
    max_observations_per_post: int = 10_000
    max_ensemble_values: int = 4_000_000  # ensemble_size * state size

    # Per-tenant limits, answered with 429 and Retry-After. Requests: a token bucket holding
    # `rate_limit_burst` requests, refilled at `rate_limit_per_s` (0 disables it), kept in
    # Redis at `redis_url` so every API replica shares it; without a URL it lives in the
    # process (the single-process development mode).
    redis_url: str | None = None
    rate_limit_per_s: float = Field(100.0, ge=0)
    rate_limit_burst: int = Field(200, ge=1)
    # Queued + running jobs of one tenant (forecasts, backtests, training, stream forecasts);
    # 0 disables the quota.
    max_active_jobs: int = Field(100, ge=0)

    # Worker behaviour.
    task_max_retries: int = 3
    # The reaper (a periodic task) re-sends jobs and stream cycles that went silent:
    # queued but never picked up (the broker lost the message, or the send failed after
    # the commit), or running on a worker that vanished.
    reap_interval_s: float = 30.0
    resend_queued_after_s: float = 300.0
    requeue_running_after_s: float = 900.0
    max_job_attempts: int = 5
    # Intra-op threads per worker process: the ensembles here are small, and with more
    # threads than free cores they spin-wait (measured 12x slower on 2 busy cores).
    torch_threads: int = 1

    # /metrics reads jobs and stream lag from the database at scrape time, bounded by these:
    # jobs finished within the window (at most `metrics_job_cap` of the newest), and the
    # lag of at most `metrics_max_streams` open streams (the newest).
    metrics_job_window_s: float = Field(900.0, gt=0)
    metrics_job_cap: int = Field(10_000, ge=1)
    metrics_max_streams: int = Field(50, ge=1)

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.env == "production":
            if self.auth != "required":
                raise ValueError("KALMANAC_AUTH must be 'required' when KALMANAC_ENV=production")
            if self.secret_key == DEFAULT_SECRET or len(self.secret_key) < 16:
                raise ValueError(
                    "KALMANAC_SECRET_KEY must be set to a secret of 16+ characters in production"
                )
        return self

    @property
    def run_embedded_worker(self) -> bool:
        if self.embedded_worker is None:
            return self.broker_url.startswith("memory://")
        return self.embedded_worker


@lru_cache
def get_settings() -> Settings:
    return Settings()
