"""Celery worker entry point: ``celery -A app.worker worker -Q analysis`` (CPU analyses,
workflows, repairs) or ``-Q gpu`` (analyses using AI methods), settings from the environment and
``.env`` as for the API (``JOB_BACKEND=celery``, ``CELERY_BROKER_URL``, ``DATABASE_URL``, the
shared storage).

One task per job run, carrying its kind and id only; the worker process claims the job in the
shared database and runs the same life cycle as the local thread pool
(:class:`~app.jobs.backends.worker_runtime.WorkerRuntime`). Every worker writes a heartbeat
to Redis (``sync_analyzer:worker:<node name>``), which ``/api/v1/health`` lists as workers seen.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from typing import Any

import redis
from celery import Task
from celery.signals import (
    worker_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)
from sqlalchemy.exc import OperationalError

from app.core.config import get_settings
from app.core.logging import configure_logging
from app.engine import tune_process
from app.jobs.backends.celery_app import TASK_RUN_JOB, make_celery
from app.jobs.backends.redis_events import WORKER_KEY_PREFIX, redis_client
from app.jobs.backends.worker_runtime import WorkerRuntime

__all__ = ["celery", "run_job"]

_logger = logging.getLogger("app.worker")
settings = get_settings()
celery = make_celery(settings)

_runtime: WorkerRuntime | None = None
_runtime_lock = threading.Lock()


def _get_runtime(nodename: str) -> WorkerRuntime:
    """This process's runtime, created on its first task (after the pool forked it)."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = WorkerRuntime(settings, nodename)
        return _runtime


@celery.task(name=TASK_RUN_JOB, bind=True, acks_late=True, reject_on_worker_lost=True,
             autoretry_for=(OperationalError, redis.ConnectionError),
             max_retries=settings.CELERY_TASK_MAX_RETRIES, retry_backoff=True,
             retry_backoff_max=30, retry_jitter=True)
def run_job(self: Task, kind: str, job_id: str) -> str:
    """Run job ``job_id`` of ``kind`` (retried after a broker/database outage, at most
    CELERY_TASK_MAX_RETRIES times; a crash of the process re-runs it at most JOB_MAX_ATTEMPTS
    times in all)."""
    return _get_runtime(str(self.request.hostname or socket.gethostname())).run(kind, job_id)


@worker_process_shutdown.connect
@worker_shutdown.connect
def _close_runtime(**_: Any) -> None:
    global _runtime
    with _runtime_lock:
        if _runtime is not None:
            _runtime.close()
            _runtime = None


class _Heartbeat:
    """The worker's heartbeat key in Redis, refreshed every HEARTBEAT_SECONDS."""

    def __init__(self) -> None:
        self.info: dict[str, Any] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = redis_client(settings.CELERY_BROKER_URL)
        self._ttl = max(5, int(3 * settings.HEARTBEAT_SECONDS) + 1)

    @property
    def key(self) -> str:
        return f"{WORKER_KEY_PREFIX}{self.info.get('name', '?')}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="redis-heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                self._client.set(self.key, json.dumps({**self.info, "seen_at": time.time()}),
                                 ex=self._ttl)
            except (redis.RedisError, OSError) as exc:
                _logger.warning("worker heartbeat not written: %s", exc)
            if self._stop.wait(settings.HEARTBEAT_SECONDS):
                return

    def stop(self) -> None:
        self._stop.set()
        try:
            self._client.delete(self.key)
        except (redis.RedisError, OSError):
            pass


_heartbeat = _Heartbeat()


@worker_init.connect
def _describe_worker(sender: Any = None, **_: Any) -> None:
    """The ``app`` loggers as in the API (LOG_LEVEL, LOG_FORMAT, LOG_FILE); what the
    heartbeat tells about this worker; the process tuning (app.engine.tuning), which the
    pool's forked processes inherit."""
    configure_logging(settings)
    tune_process()
    queues = sorted(getattr(sender.app.amqp.queues, "consume_from", None) or {})
    _heartbeat.info = {"name": sender.hostname, "hostname": socket.gethostname(),
                       "pid": os.getpid(), "queues": queues,
                       "concurrency": int(sender.concurrency or 1),
                       "pool": getattr(sender.pool_cls, "__name__", str(sender.pool_cls)),
                       "started_at": time.time()}


@worker_ready.connect
def _start_heartbeat(**_: Any) -> None:
    _heartbeat.start()


@worker_shutdown.connect
def _stop_heartbeat(**_: Any) -> None:
    _heartbeat.stop()
