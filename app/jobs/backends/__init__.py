"""Job backends (``JOB_BACKEND``): where jobs run and how their events travel.

- ``local`` (default): a thread pool in the API process, events on its in-memory bus.
- ``celery``: Celery workers (``celery -A app.worker worker -Q analysis``; AI analyses on the
  ``gpu`` queue; workflows and repairs on ``analysis``) through a Redis broker; events through
  Redis pub/sub, so every API instance streams the progress of every job. Both share one
  database (``DATABASE_URL``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from app.core.config import Settings
from app.db.jobs import JobRepository
from app.jobs.backends.base import JobBackend
from app.jobs.events import EventBus
from app.jobs.runner import Handler, JobRunner

__all__ = ["JobBackend", "make_job_backend", "make_event_bus"]


def make_event_bus(settings: Settings, loop: asyncio.AbstractEventLoop) -> EventBus:
    """The event bus of an API instance: in memory, or fed from Redis (celery)."""
    if settings.JOB_BACKEND == "celery":
        from app.jobs.backends.redis_events import RedisEventBus

        bus = RedisEventBus(loop, settings.CELERY_BROKER_URL)
        bus.start()
        return bus
    return EventBus(loop)


def make_job_backend(settings: Settings, kind: str, handler: Handler,
                     repo: JobRepository[Any], bus: EventBus) -> JobBackend:
    """The backend of ``settings.JOB_BACKEND`` running the jobs of ``kind``: here
    ``handler(job_id, ctx)``, or a task of a Celery worker."""
    if settings.JOB_BACKEND == "celery":
        from app.jobs.backends.celery_backend import CeleryBackend
        from app.jobs.backends.redis_events import RedisEventBus

        return CeleryBackend(settings, kind, repo, bus if isinstance(bus, RedisEventBus) else None)
    return JobRunner(handler, max_workers=settings.MAX_WORKERS, name=kind,
                        niceness=settings.WORKER_NICENESS)
