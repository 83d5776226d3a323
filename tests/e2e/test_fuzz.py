"""Schemathesis against the service's own OpenAPI schema, through a real server: no 5xx,
and every response conforms to the documented schema. The server-sent-events route is left
out: its responses never end while the stream is open (tests/app/test_streams_api.py
covers it)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator

import pytest

from bench.stack import BIN, ROOT, Databases, Stack, stack_env
from tests.e2e.test_stack import create_key

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fuzz_stack(
    databases: Databases, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """Like `stack`, with waits capped at 1 s: generated requests may queue hours of
    training on the one worker, and a request must not sit out its full wait behind them."""
    env = {**stack_env(databases, redis_url), "KALMANAC_MAX_WAIT_S": "1"}
    s = Stack(env, tmp_path_factory.mktemp("fuzz"))
    try:
        s.start_worker("worker1")
        s.start_api()
        yield s
    finally:
        s.stop_all()


@pytest.mark.timeout(900)
def test_schemathesis_finds_no_server_errors(fuzz_stack: Stack) -> None:
    stack = fuzz_stack
    key = create_key(stack.env, "fuzz")
    out = subprocess.run(
        [
            str(BIN / "schemathesis"),
            "run",
            f"{stack.base}/openapi.json",
            "--header",
            f"Authorization: Bearer {key}",
            "--checks",
            "not_a_server_error,response_schema_conformance",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "5",
            "--workers",
            "2",
            "--seed",
            "1",
            "--exclude-path-regex",
            "/events$",
            "--request-timeout",
            "20",
        ],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    report = out.stdout[-6000:]
    assert out.returncode == 0, report
    generated = re.search(r"(\d+) generated", out.stdout)
    assert generated and int(generated.group(1)) >= 1000, report
