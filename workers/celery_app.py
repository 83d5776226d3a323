"""The Celery application the workers run (`celery -A workers.celery_app worker`)."""

from __future__ import annotations

import logging
from functools import cache

import torch
from celery import Celery
from celery.signals import task_postrun, worker_process_init, worker_ready

from app.config import get_settings
from app.db.repositories import health
from app.gc_freeze import freeze_long_lived, freeze_new_modules
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
    freeze_long_lived()  # what start-up loaded lives as long as the process


def _freeze_new_modules(**_: object) -> None:
    """After each task: what a task imported (a first training) lives as long as the process."""
    freeze_new_modules()


def _warm_up(**_: object) -> None:
    """A stream's kernels compiled and loaded, and the database's first connection open,
    before the first observation arrives."""
    _warm_up_once()


worker_ready.connect(_warm_up, weak=False)  # solo and thread pools: the worker's own process
worker_process_init.connect(_warm_up, weak=False)  # each process of a prefork pool
task_postrun.connect(_freeze_new_modules, weak=False)
