"""The Celery application the workers run (`celery -A workers.celery_app worker`)."""

from __future__ import annotations

import torch
from celery import Celery

from app.config import get_settings
from app.logs import configure_logging
from app.queue import Task, celery_config

configure_logging(get_settings().log_level)
torch.set_num_threads(get_settings().torch_threads)

celery_app = Celery("kalmanac", include=["workers.tasks"])
celery_app.conf.update(celery_config(get_settings().broker_url))
celery_app.conf.beat_schedule = {
    "reap-silent-work": {"task": Task.REAP.value, "schedule": get_settings().reap_interval_s},
}
app = celery_app  # the name `celery -A workers.celery_app` looks for
