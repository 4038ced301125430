"""What one Celery worker process needs to run analyses (``app.worker`` creates it lazily).

The process registers itself as an instance (``service_instances``: host, pid, heartbeat), so the
API's maintenance and a worker given a task again can tell a live owner from a dead one; it runs
the same :meth:`AnalysisService.run` as the local thread pool, publishing progress on Redis; and
it stops a running analysis when a cancel arrives — on the Redis cancel channel at once, or
through the database flag it polls every ``HEARTBEAT_SECONDS``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import threading

from app.core.config import Settings
from app.core.logging import log_context
from app.db.models import TERMINAL_STATUSES, JobStatus
from app.db.repository import AnalysisRepository, Database
from app.jobs.backends.redis_events import CancelListener, RedisEventBus
from app.jobs.runner import CancelReason, JobContext
from app.services.analysis import AnalysisService

__all__ = ["WorkerRuntime", "worker_instance_id"]

_logger = logging.getLogger(__name__)


def worker_instance_id(nodename: str) -> str:
    """``<celery node name>:<pid>:<8 hex>`` (at most 64 characters, the owner column)."""
    return f"{nodename[:45]}:{os.getpid()}:{secrets.token_hex(4)}"


class WorkerRuntime:
    """Database, event publisher, analysis service and threads of one worker process."""

    def __init__(self, settings: Settings, nodename: str) -> None:
        self.settings = settings
        settings.ensure_directories()
        self.db = Database(settings.DATABASE_URL)
        self.db.create_all()
        self.repo = AnalysisRepository(self.db)
        # publish-only: a worker sends events, it never streams them
        self.bus = RedisEventBus(asyncio.new_event_loop(), settings.CELERY_BROKER_URL,
                                 listen=False)
        self.service = AnalysisService(settings, self.repo, self.bus)
        self.instance_id = worker_instance_id(nodename)
        self.service.instance_id = self.instance_id
        self.repo.register_instance(self.instance_id, socket.gethostname(), os.getpid())
        self._running: dict[str, JobContext] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._cancels = CancelListener(settings.CELERY_BROKER_URL, self._on_cancel)
        self._cancels.start()
        self._beat = threading.Thread(target=self._heartbeat, name="worker-heartbeat",
                                      daemon=True)
        self._beat.start()
        _logger.info("worker instance %s ready", self.instance_id)

    def run(self, analysis_id: str) -> str:
        """Claim and run one analysis; returns its status afterwards."""
        with self._lock:
            if analysis_id in self._running:
                return "already_running_here"
        # a task given again after its worker died: the analysis is re-claimable
        self.service.adopt_orphan(analysis_id, running_here=False)
        ctx = JobContext(analysis_id)
        with self._lock:
            self._running[analysis_id] = ctx
        try:
            with log_context(analysis_id=analysis_id, worker=self.instance_id):
                self.service.run(analysis_id, ctx)
        finally:
            with self._lock:
                self._running.pop(analysis_id, None)
        row = self.repo.get(analysis_id)
        return str(row.status) if row is not None else "deleted"

    def _on_cancel(self, analysis_id: str) -> None:
        with self._lock:
            ctx = self._running.get(analysis_id)
        if ctx is not None:
            _logger.info("analysis %s: cancel received", analysis_id)
            ctx.cancel(CancelReason.USER)

    def _heartbeat(self) -> None:
        """Keep this instance alive in the database; stop analyses cancelled or taken over
        there (a cancel whose message was missed, a force-cancel after the grace period)."""
        while not self._stop.wait(self.settings.HEARTBEAT_SECONDS):
            try:
                self.repo.heartbeat(self.instance_id)
                with self._lock:
                    running = dict(self._running)
                for analysis_id, (status, owner, cancel_requested) in \
                        self.repo.run_states(list(running)).items():
                    if status in TERMINAL_STATUSES or (
                            status == JobStatus.RUNNING and (owner != self.instance_id
                                                             or cancel_requested)):
                        running[analysis_id].cancel(CancelReason.USER)
            except Exception:
                _logger.exception("worker heartbeat failed (retrying)")

    def close(self) -> None:
        self._stop.set()
        self._cancels.stop()
        try:
            self.repo.remove_instance(self.instance_id)
        except Exception:  # the database went away first
            _logger.exception("could not unregister worker instance %s", self.instance_id)
        self.bus.close()
        self.db.dispose()
