"""Per-tenant request rate limits: a token bucket per tenant, in Redis or in the process.

A bucket holds up to `burst` tokens and refills at `rate` tokens per second; each request
takes one. The Redis bucket is shared by every API replica and is updated by one Lua script
(one round trip, atomic); the in-process bucket has the same arithmetic for the
single-process development mode, where there is no Redis to share.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Protocol

import redis

from app.config import Settings
from app.services.errors import LimitExceeded

log = logging.getLogger(__name__)

KEY_PREFIX = "kalmanac:ratelimit:"
# After a Redis failure the limiter stops asking for this long: a blackholed Redis would
# otherwise add its timeout to every request, and log a warning for each.
REDIS_RETRY_S = 5.0
REDIS_TIMEOUT_S = 0.25

# KEYS[1]: the bucket (a hash of tokens and the time they were counted);
# ARGV: rate (tokens/s), burst (capacity). Returns {allowed 0|1, seconds to wait as a string}
# (Lua numbers would be truncated to integers on the way out). Redis's own clock is used, so
# replicas with skewed clocks still share one bucket.
TOKEN_BUCKET_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed, wait = 0, (1 - tokens) / rate
if tokens >= 1 then
  tokens, allowed, wait = tokens - 1, 1, 0
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
-- Once full again the bucket is the same as no bucket: let it expire.
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(wait)}
"""


class RateLimiter(Protocol):
    def take(self, key: str) -> float:
        """Take a token from `key`'s bucket: 0.0 if the request may go on, else the
        seconds until a token is available."""
        ...


def take_token(tokens: float, elapsed: float, rate: float, burst: int) -> tuple[float, float]:
    """(tokens left, seconds to wait) after a request `elapsed` s after the last count.
    The Lua script above does the same arithmetic."""
    tokens = min(burst, tokens + max(0.0, elapsed) * rate)
    if tokens >= 1:
        return tokens - 1, 0.0
    return tokens, (1 - tokens) / rate


class LocalBuckets:
    """Buckets in this process (one entry per tenant seen; tenants are few)."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate, self.burst, self._clock = rate, burst, clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        with self._lock:
            now = self._clock()
            tokens, counted_at = self._buckets.get(key, (float(self.burst), now))
            tokens, wait = take_token(tokens, now - counted_at, self.rate, self.burst)
            self._buckets[key] = (tokens, now)
            return wait


class RedisBuckets:
    """Buckets in Redis, shared by every API replica."""

    def __init__(
        self, url: str, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate, self.burst, self._clock = rate, burst, clock
        client = redis.Redis.from_url(
            url, socket_connect_timeout=REDIS_TIMEOUT_S, socket_timeout=REDIS_TIMEOUT_S
        )
        # EVALSHA, loading the script again if Redis has forgotten it (a restart).
        self._script = client.register_script(TOKEN_BUCKET_LUA)
        self._skip_until = 0.0

    def take(self, key: str) -> float:
        if self._clock() < self._skip_until:
            return 0.0
        try:
            allowed, wait = self._script(keys=[KEY_PREFIX + key], args=[self.rate, self.burst])
        except redis.RedisError as exc:
            # Fail open: the limiter protects the service from a noisy tenant, while a
            # refused request loses data (observations are pushed as they arrive). With its
            # store down, serving everyone unlimited for a while is the smaller harm.
            self._skip_until = self._clock() + REDIS_RETRY_S
            log.warning(
                "rate limiter: Redis is unreachable (%s: %s); requests are not limited "
                "for the next %.0f s",
                type(exc).__name__,
                exc,
                REDIS_RETRY_S,
            )
            return 0.0
        return 0.0 if int(allowed) else float(wait)


def from_settings(settings: Settings) -> RateLimiter | None:
    """The configured limiter; None when KALMANAC_RATE_LIMIT_PER_S is 0."""
    rate, burst = settings.rate_limit_per_s, settings.rate_limit_burst
    if rate <= 0:
        return None
    if settings.redis_url:
        return RedisBuckets(settings.redis_url, rate, burst)
    return LocalBuckets(rate, burst)


def enforce(limiter: RateLimiter | None, tenant_id: str, settings: Settings) -> None:
    """Count one request of the tenant; LimitExceeded (429) when its bucket is empty."""
    if limiter is None:
        return
    wait = limiter.take(tenant_id)
    if wait > 0:
        retry_after = max(1, math.ceil(wait))
        raise LimitExceeded(
            "rate_limit_per_s",
            f"over this tenant's limit of {settings.rate_limit_per_s:g} requests per second "
            f"(bursts of {settings.rate_limit_burst}); retry after {retry_after} s",
            retry_after,
            "rate_limited",
        )
