"""Celery app, queues and thin tasks: take ids, call one service, commit."""
