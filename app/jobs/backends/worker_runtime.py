"""What one Celery worker process needs to run jobs (``app.worker`` creates it lazily).

The process registers itself as an instance (``service_instances``: host, pid, heartbeat), so the
API's maintenance and a worker given a task again can tell a live owner from a dead one; it runs
the same life cycle (:class:`~app.jobs.lifecycle.Lifecycle`) as the local thread pool for every
job kind (analysis, workflow, repair), publishing progress on Redis; and it stops a running job
when a cancel arrives — on the Redis cancel channel at once, or through the database it polls
every ``HEARTBEAT_SECONDS``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from app.core.config import Settings
from app.core.logging import log_context
from app.db.jobs import InstanceRepository
from app.db.repository import AnalysisRepository, Database
from app.jobs.backends.redis_events import CancelListener, RedisEventBus
from app.jobs.instances import Instance, new_instance_id
from app.jobs.lifecycle import Lifecycle
from app.jobs.runner import CancelReason, JobContext

__all__ = ["WorkerRuntime"]

_logger = logging.getLogger(__name__)


class WorkerRuntime:
    """Database, event publisher, the job kinds' life cycles and threads of one worker process."""

    def __init__(self, settings: Settings, nodename: str) -> None:
        from app.services.analysis import AnalysisService
        from app.services.repair import RepairService
        from app.services.workflows import WorkflowService

        self.settings = settings
        settings.ensure_directories()
        self.db = Database(settings.DATABASE_URL)
        self.db.create_all()
        # publish-only: a worker sends events, it never streams them
        self.bus = RedisEventBus(asyncio.new_event_loop(), settings.CELERY_BROKER_URL,
                                 listen=False)
        self.instance = Instance(InstanceRepository(self.db), settings.INSTANCE_STALE_SECONDS,
                                 new_instance_id(nodename))
        self.instance_id = self.instance.id
        analyses = AnalysisService(settings, AnalysisRepository(self.db), self.bus, self.instance)
        self.jobs: dict[str, Lifecycle[Any]] = {
            "analysis": analyses.jobs,
            "workflow": WorkflowService(settings, self.db, self.bus, analyses).jobs,
            "repair": RepairService(settings, analyses).jobs}
        self.instance.register()
        self._running: dict[str, tuple[str, JobContext]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._cancels = CancelListener(settings.CELERY_BROKER_URL, self._on_cancel)
        self._cancels.start()
        self._beat = threading.Thread(target=self._heartbeat, name="worker-heartbeat",
                                      daemon=True)
        self._beat.start()
        _logger.info("worker instance %s ready", self.instance_id)

    def run(self, kind: str, job_id: str) -> str:
        """Claim and run one job; returns its status afterwards."""
        jobs = self.jobs[kind]
        with self._lock:
            if job_id in self._running:
                return "already_running_here"
        # a task given again after its worker died: the job is re-claimable
        jobs.adopt_orphan(job_id, running_here=False)
        ctx = JobContext(job_id)
        with self._lock:
            self._running[job_id] = (kind, ctx)
        try:
            with log_context(worker=self.instance_id):
                jobs.run(job_id, ctx)
        finally:
            with self._lock:
                self._running.pop(job_id, None)
        row = jobs.repo.get(job_id)
        return str(row.status) if row is not None else "deleted"

    def _on_cancel(self, job_id: str) -> None:
        with self._lock:
            kind, ctx = self._running.get(job_id, ("", None))
        if ctx is not None:
            _logger.info("%s %s: cancel received", kind, job_id)
            ctx.cancel(CancelReason.USER)

    def _heartbeat(self) -> None:
        """Keep this instance alive in the database; stop jobs cancelled or taken over there
        (a cancel whose message was missed, a force-cancel after the grace period)."""
        while not self._stop.wait(self.settings.HEARTBEAT_SECONDS):
            try:
                self.instance.heartbeat()
                with self._lock:
                    running = dict(self._running)
                for kind, jobs in self.jobs.items():
                    for job_id in jobs.to_stop([i for i, (k, _) in running.items() if k == kind]):
                        running[job_id][1].cancel(CancelReason.USER)
            except Exception:
                _logger.exception("worker heartbeat failed (retrying)")

    def close(self) -> None:
        self._stop.set()
        self._cancels.stop()
        try:
            self.instance.remove()
        except Exception:  # the database went away first
            _logger.exception("could not unregister worker instance %s", self.instance_id)
        self.bus.close()
        self.db.dispose()
