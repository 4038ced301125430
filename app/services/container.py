"""The shared resources of one app instance, created and closed by the lifespan."""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field

from app.core.config import Settings
from app.db.repository import AnalysisRepository, Database
from app.db.repository_batch import BatchRepository
from app.db.repository_files import UploadRepository
from app.db.repository_reports import ReportRepository
from app.db.repository_ui_state import UiStateRepository
from app.jobs.backends import make_event_bus
from app.jobs.events import EventBus
from app.services.analysis import AnalysisService
from app.services.batch import BatchService
from app.services.files import FileService
from app.services.health import HealthService
from app.services.repair import RepairService
from app.services.reports import ReportService
from app.services.ui_state import UiStateService
from app.services.workflows import WorkflowService

__all__ = ["Services"]

_logger = logging.getLogger(__name__)


@dataclass
class Services:
    """Database, event bus, the services (each job kind's life cycle inside its service)."""

    settings: Settings
    db: Database
    repo: AnalysisRepository
    bus: EventBus
    analyses: AnalysisService
    health: HealthService
    workflows: WorkflowService
    repairs: RepairService
    batches: BatchService
    files: FileService
    reports: ReportService
    ui_state: UiStateService
    _maintenance: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def open(cls, settings: Settings, loop: asyncio.AbstractEventLoop) -> Services:
        """Open the database (creating tables), the bus and the workers; recover old jobs."""
        settings.ensure_directories()
        db = Database(settings.DATABASE_URL)
        try:
            db.create_all()
            repo = AnalysisRepository(db)
            bus = make_event_bus(settings, loop)  # in memory, or fed from Redis (celery)
            analyses = AnalysisService(settings, repo, bus)
            health = HealthService(settings, db, repo, analyses)
            analyses.start()
            workflows = WorkflowService(settings, db, bus, analyses)
            repairs = RepairService(settings, analyses)
            workflows.start()
            repairs.start()
            batches = BatchService(settings, BatchRepository(db), analyses)
            files = FileService(settings, UploadRepository(db))
            files.start()
            reports = ReportService(settings, ReportRepository(db), analyses)
            ui_state = UiStateService(settings, UiStateRepository(db))
        except BaseException:
            db.dispose()
            raise
        return cls(settings, db, repo, bus, analyses, health, workflows=workflows,
                   repairs=repairs, batches=batches, files=files, reports=reports,
                   ui_state=ui_state)

    def maintenance(self) -> None:
        """Heartbeat; jobs of dead instances recovered; cancels requested elsewhere applied."""
        with self._maintenance:
            self.analyses.instance.heartbeat()
            for jobs in (self.analyses.jobs, self.workflows.jobs, self.repairs.jobs):
                jobs.recover()
                jobs.reconcile()

    def close(self, *, timeout: float = 3.0) -> None:
        """Stop the workers (running jobs go back to the queue), close bus and database."""
        try:
            self.workflows.stop(timeout=timeout)
            self.repairs.stop(timeout=timeout)
            self.analyses.stop(timeout=timeout)  # last: it unregisters the instance
        finally:
            self.bus.close()
            self.db.dispose()
