"""The Prometheus exposition behind /metrics.

Two sources, because the work happens in two kinds of process:

* Request latency is recorded by each API process as it answers (app.api.observability).
  Under `uvicorn --workers N` every process writes its samples to files in
  PROMETHEUS_MULTIPROC_DIR and a scrape, answered by any one of them, merges them all.
* Jobs, queues and stream lag are read from PostgreSQL (and the broker) at scrape time.
  Jobs run in Celery workers, possibly on other hosts, that serve no HTTP; their rows
  (status, timestamps) are the record, so any API replica reports the same numbers and a
  restarted worker loses none. Every query is capped, so a scrape costs milliseconds.

Finished jobs are reported over a sliding window (KALMANAC_METRICS_JOB_WINDOW_S) as
gauges and a gauge histogram, not as ever-growing counters: a counter would need a count
over the whole jobs table at every scrape.
"""

from __future__ import annotations

import logging
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from functools import lru_cache

import redis
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily, Metric

from app.config import Settings
from app.db.base import utcnow
from app.db.repositories import metrics as repo
from app.db.session import get_sessionmaker
from app.queue import QUEUES

log = logging.getLogger(__name__)

# Queued/running rows counted at most; a larger backlog reads as this many.
ACTIVE_CAP = 100_000
JOB_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, float("inf"))
# Kombu's Redis transport keeps messages of priority p > 0 in the list "<queue>\x06\x16<p>".
PRIORITY_STEPS = (0, 3, 6, 9)


def scrape(settings: Settings) -> bytes:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # unannotated
    else:
        registry.register(_ThisProcess())
    registry.register(StateCollector(settings))
    return generate_latest(registry)


class _ThisProcess:
    """The default registry (request histogram, process stats) of a single-process server."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


class StateCollector:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "kalmanac_metrics_source_up",
            "Whether the last scrape could read this source",
            labels=["source"],
        )
        try:
            yield from self._from_database(utcnow())
            up.add_metric(["database"], 1)
        except Exception:
            log.exception("metrics: could not read the database")
            up.add_metric(["database"], 0)
        if self.settings.broker_url.startswith(("redis://", "rediss://")):
            try:
                yield _broker_depth(self.settings.broker_url)
                up.add_metric(["broker"], 1)
            except redis.RedisError:
                log.exception("metrics: could not read the broker")
                up.add_metric(["broker"], 0)
        yield up

    def _from_database(self, now: datetime) -> Iterator[Metric]:
        s = self.settings
        with get_sessionmaker(s.database_url)() as session:
            active = repo.active_jobs(session, ACTIVE_CAP)
            since = now - timedelta(seconds=s.metrics_job_window_s)
            finished = repo.finished_since(session, since, s.metrics_job_cap)
            lag = repo.stream_lag(session, s.metrics_max_streams)
        yield from _job_metrics(active, finished, s.metrics_job_window_s)
        yield from _lag_metrics(lag, now)


def _job_metrics(
    active: list[repo.ActiveJobs], finished: list[repo.FinishedJob], window_s: float
) -> Iterator[Metric]:
    by_status = Counter[tuple[str, str]]()
    queued = Counter[str]({q: 0 for q in QUEUES})
    for row in active:
        by_status[row.kind, row.status] += row.n
        if row.status == "queued":
            queued[row.queue] += row.n
    jobs = GaugeMetricFamily("kalmanac_jobs", "Jobs queued or running", labels=["kind", "status"])
    for (kind, status), n in sorted(by_status.items()):
        jobs.add_metric([kind, status], n)
    yield jobs

    depth = GaugeMetricFamily(
        "kalmanac_queue_jobs", "Jobs queued in the database, per queue", labels=["queue"]
    )
    for queue, n in sorted(queued.items()):
        depth.add_metric([queue], n)
    yield depth

    outcomes = Counter[tuple[str, str]]()
    durations: defaultdict[str, list[float]] = defaultdict(list)
    for job in finished:
        outcomes[job.kind, job.status] += 1
        if job.started_at is not None:
            durations[job.kind].append((job.finished_at - job.started_at).total_seconds())
    done = GaugeMetricFamily(
        "kalmanac_jobs_finished",
        f"Jobs finished in the last {window_s:g} s, by kind and outcome",
        labels=["kind", "status"],
    )
    for (kind, status), n in sorted(outcomes.items()):
        done.add_metric([kind, status], n)
    yield done

    hist = GaugeHistogramMetricFamily(
        "kalmanac_job_duration_seconds",
        f"Run time (start to finish) of jobs finished in the last {window_s:g} s",
        labels=["kind"],
    )
    for kind, seconds in sorted(durations.items()):
        buckets = [(_le(b), sum(1 for x in seconds if x <= b)) for b in JOB_BUCKETS]
        hist.add_metric([kind], buckets, gsum_value=sum(seconds))
    yield hist


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else f"{bound:g}"


def _lag_metrics(lag: list[repo.StreamLag], now: datetime) -> Iterator[Metric]:
    pending = GaugeMetricFamily(
        "kalmanac_stream_pending_observations",
        "Observations waiting to be assimilated, per open stream with any",
        labels=["stream_id"],
    )
    oldest = GaugeMetricFamily(
        "kalmanac_stream_oldest_pending_seconds",
        "Age of the oldest observation waiting to be assimilated, per open stream with any",
        labels=["stream_id"],
    )
    for row in lag:
        pending.add_metric([row.stream_id], row.pending)
        oldest.add_metric([row.stream_id], (now - row.oldest_received_at).total_seconds())
    yield pending
    yield oldest


@lru_cache(maxsize=4)
def _redis(url: str) -> redis.Redis:
    # Short timeouts: a slow broker must not hold the scrape (or a thread-pool worker).
    return redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)


def _broker_depth(url: str) -> Metric:
    client = _redis(url)
    with client.pipeline(transaction=False) as pipe:
        for queue in QUEUES:
            for p in PRIORITY_STEPS:
                pipe.llen(f"{queue}\x06\x16{p}" if p else queue)
        lengths = pipe.execute()
    depth = GaugeMetricFamily(
        "kalmanac_broker_queue_messages",
        "Messages waiting in the broker's Redis lists, per queue",
        labels=["queue"],
    )
    steps = len(PRIORITY_STEPS)
    for i, queue in enumerate(QUEUES):
        depth.add_metric([queue], sum(lengths[i * steps : (i + 1) * steps]))
    return depth
