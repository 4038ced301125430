"""``JOB_BACKEND=celery``: jobs run on Celery workers (``celery -A app.worker worker``).

An API instance stores a job (queued) and sends one task carrying its kind and id to the
``analysis`` queue, or to ``CELERY_GPU_QUEUE`` for an analysis using AI methods. It runs
nothing itself: progress comes back through Redis pub/sub (:mod:`.redis_events`), cancellation
goes out as a revoke (drops copies not yet started) plus a cancel message the running worker
listens for (and the database flag it polls). A task whose send failed (broker down) is sent
again by the next maintenance pass, which offers every queued job this instance owns.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections import OrderedDict
from typing import Any

import redis
from celery import Celery
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.db.jobs import JobRepository
from app.db.models import JobStatus
from app.jobs.backends.celery_app import (
    ANALYSIS_QUEUE,
    TASK_RUN_JOB,
    make_celery,
    queue_for,
)
from app.jobs.backends.redis_events import (
    WORKER_KEY_PREFIX,
    RedisEventBus,
    publish_cancel,
    redis_client,
)
from app.jobs.runner import CancelReason, JobContext, RunnerStats

__all__ = ["CeleryBackend", "workers_seen", "SENT_KEY_PREFIX"]

_logger = logging.getLogger(__name__)
#: ids remembered as sent (per attempt number); beyond, the oldest are forgotten (a forgotten
#: id still queued is at worst sent twice, and the second copy finds it claimed)
_SENT_MEMORY = 50_000
#: ``<prefix><id>:<attempts>`` in Redis: that run of the job was sent (by any instance)
SENT_KEY_PREFIX = "sync_analyzer:sent:"
_SENT_TTL_SECONDS = 7 * 24 * 3600


def workers_seen(client: redis.Redis) -> list[dict[str, Any]]:
    """The heartbeats of the Celery workers alive now (their keys expire when they stop)."""
    keys = sorted(client.scan_iter(match=f"{WORKER_KEY_PREFIX}*", count=100))
    if not keys:
        return []
    now = time.time()
    seen = []
    for raw in client.mget(keys):
        if raw is None:
            continue
        info = json.loads(raw)
        info["last_seen_seconds"] = round(max(0.0, now - float(info.pop("seen_at", now))), 2)
        seen.append(info)
    return seen


class CeleryBackend:
    """Sends the jobs of one kind to Celery workers; nothing runs in this process."""

    name = "celery"

    def __init__(self, settings: Settings, kind: str, repo: JobRepository[Any],
                 bus: RedisEventBus | None) -> None:
        self.settings = settings
        self.kind = kind
        self.repo = repo
        self.bus = bus
        self._redis = redis_client(settings.CELERY_BROKER_URL)
        self._sent: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()
        self._started = False
        self._workers_cache: tuple[float, list[dict[str, Any]]] = (0.0, [])

    @functools.cached_property
    def celery(self) -> Celery:
        """The Celery app, made on first use (a worker process's service never sends)."""
        return make_celery(self.settings)

    # --- life cycle ----------------------------------------------------------------------
    def start(self) -> None:
        self._started = True

    def shutdown(self, *, timeout: float = 10.0) -> list[str]:
        """Nothing runs here: running jobs keep running on their workers."""
        self._started = False
        try:
            if "celery" in self.__dict__:
                self.celery.close()
        finally:
            self._redis.close()
        return []

    # --- jobs ----------------------------------------------------------------------------
    def submit(self, job_id: str, attempts: int | None = None) -> bool:
        """Send one task for this run of the job, once across every API instance.

        Maintenance offers every queued job this instance owns at each pass (with its
        ``attempts``): a run already sent from here costs nothing, one sent by another
        instance (an adopted queue) one Redis lookup, and a run whose send failed is sent.
        """
        if attempts is not None and self._was_sent(job_id, attempts):
            return False
        row = self.repo.get(job_id)
        if row is None or row.status != JobStatus.QUEUED or self._was_sent(job_id,
                                                                             row.attempts):
            return False
        queue = queue_for(self.settings, row.request)
        key = f"{SENT_KEY_PREFIX}{job_id}:{row.attempts}"
        try:
            if not self._redis.exists(key):
                self.celery.send_task(TASK_RUN_JOB, args=[self.kind, job_id], task_id=job_id,
                                      queue=queue)
                self._redis.set(key, queue, ex=_SENT_TTL_SECONDS)
                _logger.debug("%s %s sent to queue %s (run %d)", self.kind, job_id, queue,
                              row.attempts + 1)
        except Exception as exc:  # kombu/redis errors: broker down; retried by maintenance
            _logger.warning("%s %s not sent to the %s queue (%s: %s); it stays queued and "
                            "is sent again when the broker answers", self.kind, job_id, queue,
                            type(exc).__name__, exc)
            return False
        with self._lock:
            self._sent[job_id] = row.attempts
            self._sent.move_to_end(job_id)
            while len(self._sent) > _SENT_MEMORY:
                self._sent.popitem(last=False)
        return True

    def _was_sent(self, job_id: str, attempts: int) -> bool:
        with self._lock:
            return self._sent.get(job_id) == attempts

    def cancel(self, job_id: str, reason: str = CancelReason.USER) -> JobContext | None:
        """Revoke the task (copies not started are dropped) and tell the running worker."""
        try:
            self.celery.control.revoke(job_id)
            publish_cancel(self._redis, job_id)
        except Exception as exc:  # the database flag still reaches the worker
            _logger.warning("cancel of %s not broadcast (%s); the worker sees the database "
                            "flag at its next check", job_id, exc)
        return None

    def is_active(self, job_id: str) -> bool:
        """Events of every job arrive through Redis while the subscription is up."""
        return self.bus is not None and self.bus.connected

    def running_ids(self) -> list[str]:
        return []

    def stats(self) -> RunnerStats:
        counts = self.repo.count_by_status()
        workers = self._workers(max_age=self.settings.HEARTBEAT_SECONDS)
        return RunnerStats(workers=sum(int(w.get("concurrency") or 0) for w in workers),
                           busy=counts.get(JobStatus.RUNNING, 0),
                           queued=counts.get(JobStatus.QUEUED, 0), running=[],
                           alive=self._started)

    # --- health --------------------------------------------------------------------------
    def _workers(self, *, max_age: float) -> list[dict[str, Any]]:
        at, cached = self._workers_cache
        if time.monotonic() - at <= max_age:
            return cached
        try:
            workers = workers_seen(self._redis)
        except (redis.RedisError, OSError):
            workers = []
        self._workers_cache = (time.monotonic(), workers)
        return workers

    def health(self) -> dict[str, Any]:
        """Broker reachability (a PING), the workers seen (heartbeats) and queue lengths."""
        url = make_url(self.settings.CELERY_BROKER_URL.replace("rediss://", "redis://", 1))
        broker: dict[str, Any] = {"url": url.render_as_string(hide_password=True)}
        queues = [ANALYSIS_QUEUE] + ([self.settings.CELERY_GPU_QUEUE]
                                     if self.settings.ENABLED_AI_MODELS else [])
        lengths: dict[str, int] = {}
        try:
            t0 = time.perf_counter()
            self._redis.ping()
            broker.update(reachable=True, latency_ms=round((time.perf_counter() - t0) * 1000,
                                                           2))
            lengths = {q: int(self._redis.llen(q)) for q in dict.fromkeys(queues)}
        except (redis.RedisError, OSError) as exc:
            broker.update(reachable=False, error=f"{type(exc).__name__}: {exc}")
        workers = self._workers(max_age=0.0) if broker["reachable"] else []
        served = {q for w in workers for q in w.get("queues", [])}
        unserved = [q for q in dict.fromkeys(queues) if q not in served]
        if not broker["reachable"]:
            status, note = "error", "the broker cannot be reached: analyses cannot start"
        elif not workers:
            status, note = "degraded", "no worker seen: analyses wait in the queue"
        elif unserved:
            status, note = "degraded", f"no worker consumes {unserved}: those analyses wait"
        else:
            status, note = "ok", None
        return {"backend": self.name, "status": status, "note": note, "broker": broker,
                "events_subscribed": self.bus.connected if self.bus else False,
                "workers_seen": workers, "queue_lengths": lengths}
