"""The Celery application the workers run (`celery -A workers.celery_app worker`)."""

from __future__ import annotations

import gc
import logging
import sys
from functools import cache

import torch
from celery import Celery
from celery.signals import task_postrun, worker_process_init, worker_ready

from app.config import get_settings
from app.db.repositories import health
from app.logs import configure_logging
from app.queue import Task, celery_config
from models.assimilation.stream import warm_up

log = logging.getLogger(__name__)
configure_logging(get_settings().log_level)
torch.set_num_threads(get_settings().torch_threads)

celery_app = Celery("kalmanac", include=["workers.tasks"])
celery_app.conf.update(celery_config(get_settings().broker_url))
celery_app.conf.beat_schedule = {
    "reap-silent-work": {"task": Task.REAP.value, "schedule": get_settings().reap_interval_s},
}
app = celery_app  # the name `celery -A workers.celery_app` looks for


@cache  # once a process (the embedded mode starts a worker per queue)
def _warm_up_once() -> None:
    warm_up()
    status = health.database_status(get_settings().database_url, worker=True)
    if status != "ok":  # tasks retry until it is back
        log.warning("database %s at start-up", status)
    _freeze_long_lived()


_frozen_with = [0]  # how many modules were loaded at the last freeze


def _freeze_long_lived() -> None:
    """Move what is loaded now out of the cycle collector's generations, as the server does
    at start: modules, compiled kernels and caches live as long as the process, and a full
    collection walked them all (~500,000 objects: a 0.35 s pause measured inside a live
    stream's cycles, a quarter of a neural observer's time for 6,000 observations). Garbage
    is collected first, so none of it is frozen."""
    gc.collect()
    gc.freeze()
    _frozen_with[0] = len(sys.modules)


def _freeze_new_modules(**_: object) -> None:
    """After a task that imported modules (training's first optimiser step loads torch's
    compiler stack and sympy, ~120,000 objects), freeze again: they too live as long as the
    process. Rare (a few times a process), so what it freezes that later becomes garbage is
    bounded."""
    if len(sys.modules) > _frozen_with[0]:
        _freeze_long_lived()


def _warm_up(**_: object) -> None:
    """A stream's kernels compiled and loaded, and the database's first connection open,
    before the first observation arrives."""
    _warm_up_once()


worker_ready.connect(_warm_up, weak=False)  # solo and thread pools: the worker's own process
worker_process_init.connect(_warm_up, weak=False)  # each process of a prefork pool
task_postrun.connect(_freeze_new_modules, weak=False)
