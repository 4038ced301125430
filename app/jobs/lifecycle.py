"""The life cycle of every job (analysis, workflow, repair): each state transition, once.

A job is a row of a job table (:class:`~app.db.jobs.JobRepository`) and a handler of its kind:
``handler.run_job(row, ctx)`` does the work and returns the values to store with ``completed``.
The life cycle claims the row, runs the handler, turns what it raised into the stored error
(:func:`job_error_of`), finishes the row and publishes the final event — always committing the
state *before* its event, so a subscriber that reads the stored state after subscribing can never
miss the end of a job (like rq's ``Job._handle_success/_handle_failure``).

Restart policy: an instance recovers the jobs of dead owners (:mod:`app.jobs.instances`): queued
ones are adopted and queued again; running ones are re-run from the start while they have used
fewer than JOB_MAX_ATTEMPTS runs, else marked ``interrupted``. A graceful shutdown puts its
running jobs back in the queue without counting the attempt.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, Generic, Protocol, Required, TypedDict, TypeVar

from app.core.config import Settings
from app.core.errors import AppError, ConflictError, engine_error_response, job_error, root_labels
from app.core.logging import log_context
from app.db.jobs import JobRepository
from app.db.models import TERMINAL_STATUSES, JobStatus
from app.engine import AnalysisCancelled, EngineError
from app.jobs.backends import JobBackend, make_job_backend
from app.jobs.events import Event, EventBus, to_jsonable
from app.jobs.instances import Instance
from app.jobs.runner import CancelReason, JobContext

__all__ = ["Lifecycle", "JobHandler", "JobError", "job_error_of", "app_error_of"]

_logger = logging.getLogger(__name__)
M = TypeVar("M")
R_contra = TypeVar("R_contra", contravariant=True)
#: how long a cancel waits for the job's next check before recording the cancellation itself
CANCEL_GRACE_SECONDS = 1.0
_SHUTDOWN = "queued again: the service was shut down while it ran"


class JobHandler(Protocol[R_contra]):
    """One kind of job: its work and its events."""

    def run_job(self, row: R_contra, ctx: JobContext) -> dict[str, Any]:
        """Do the job; the values to store with ``completed`` (``result``, ``progress`` ...)."""

    def ended(self, row: R_contra, ctx: JobContext, status: JobStatus, error: JobError
              ) -> dict[str, Any]:
        """What to store besides ``error`` when a run failed or was cancelled."""

    def status_event(self, row: R_contra) -> Event:
        """The event telling a job's status (started, queued again)."""

    def final_event(self, row: R_contra) -> Event:
        """The last event of a finished job (``final``: True), from its stored state."""


class JobError(TypedDict, total=False):
    """A job's stored ``error``; ``status``: the HTTP status of an application error."""

    code: Required[str]
    message: Required[str]
    details: Required[Any]
    status: int


def job_error_of(exc: BaseException, roots: Mapping[str, str] | None = None) -> JobError:
    """The stored ``error`` of a job that raised ``exc`` (:func:`app_error_of` raises an
    application error again from it)."""
    if isinstance(exc, AnalysisCancelled):
        return JobError(code="cancelled", message="cancelled by request", details=None)
    if isinstance(exc, AppError):
        return {"code": exc.code, "message": exc.message, "details": to_jsonable(exc.details),
                "status": exc.status_code}
    if isinstance(exc, EngineError):
        _, code, message, details = engine_error_response(exc, roots)
        return {"code": code, "message": message, "details": to_jsonable(details)}
    error = job_error(exc, roots)
    return JobError(code=error["code"], message=error["message"], details=error["details"])


def app_error_of(error: Mapping[str, Any]) -> AppError:
    """The application error a stored job error stands for (for a request awaiting a job)."""
    return AppError(error["message"], code=error["code"], details=error.get("details"),
                    status_code=int(error.get("status") or 500))


class Lifecycle(Generic[M]):
    """Runs, finishes, recovers and cancels the jobs of one table on its backend."""

    def __init__(self, settings: Settings, repo: JobRepository[Any], handler: JobHandler[M],
                 bus: EventBus, instance: Instance) -> None:
        self.settings = settings
        self.repo = repo
        self.kind = repo.kind
        self.handler = handler
        self.bus = bus
        self.instance = instance
        self.backend: JobBackend = make_job_backend(settings, self.kind, self.run, repo, bus)

    # --- starting and stopping ----------------------------------------------------------------
    def start(self) -> tuple[int, int]:
        """Start the backend and recover; returns (queued again, interrupted)."""
        self.backend.start()
        return self.recover()

    def stop(self, *, timeout: float = 3.0) -> None:
        """Stop the workers; jobs still running after ``timeout`` go back to the queue from here
        (their worker's own outcome is then dropped)."""
        for job_id in self.backend.shutdown(timeout=timeout):
            self._requeue_after_shutdown(job_id)

    def _requeue_after_shutdown(self, job_id: str) -> None:
        if self.repo.requeue(job_id, self.instance.id, expected_status=JobStatus.RUNNING,
                             new_owner=self.instance.id, refund_attempt=True, message=_SHUTDOWN):
            _logger.info("%s %s put back in the queue (shutdown)", self.kind, job_id)

    # --- the run --------------------------------------------------------------------------------
    def run(self, job_id: str, ctx: JobContext) -> None:
        """Claim and run one job here (every log line of it carries ``<kind>_id``)."""
        with log_context(**{f"{self.kind}_id": job_id}):
            try:
                self._run(job_id, ctx)
            except Exception as exc:  # a fault outside the handler (recording, publishing)
                _logger.exception("%s %s: the worker raised", self.kind, job_id)
                try:
                    error = job_error_of(exc, root_labels(self.settings))
                    if self.repo.finish(job_id, self.instance.id, JobStatus.FAILED, error=error,
                                        **self.repo.said("failed", error["message"])):
                        self.publish_final(job_id)
                except Exception:
                    _logger.exception("%s %s: its failure could not be recorded", self.kind,
                                      job_id)

    def _run(self, job_id: str, ctx: JobContext) -> None:
        row = self.repo.claim(job_id, self.instance.id)
        if row is None:
            _logger.debug("%s %s is no longer queued; skipped", self.kind, job_id)
            return
        self.bus.publish(job_id, self.handler.status_event(row))
        t0 = time.perf_counter()
        _logger.info("%s %s running (run %d)", self.kind, job_id, row.attempts)
        try:
            ctx.token.raise_if_cancelled()
            values = self.handler.run_job(row, ctx)
            status = JobStatus.COMPLETED
        except Exception as exc:
            if isinstance(exc, AnalysisCancelled) and ctx.reason == CancelReason.SHUTDOWN:
                self._requeue_after_shutdown(job_id)
                return
            status = JobStatus.CANCELLED if isinstance(exc, AnalysisCancelled) \
                else JobStatus.FAILED
            error = job_error_of(exc, root_labels(self.settings))
            if isinstance(exc, EngineError | AppError) and status == JobStatus.FAILED:
                _logger.warning("%s %s failed: %s", self.kind, job_id, exc)
            elif status == JobStatus.FAILED:
                _logger.exception("%s %s crashed", self.kind, job_id)
            values = {"error": error, **self.handler.ended(row, ctx, status, error)}
        if self.repo.finish(job_id, self.instance.id, status, **values):
            _logger.info("%s %s %s in %.2f s", self.kind, job_id, status,
                         time.perf_counter() - t0)
            self.publish_final(job_id)
            return
        now = self.repo.get(job_id)
        _logger.info("%s %s: already recorded as %s elsewhere; this run's outcome (%s) is "
                     "dropped", self.kind, job_id, now.status if now else "deleted", status)
        if now is not None and now.status in TERMINAL_STATUSES and not ctx.finalized:
            self.publish_final(job_id)

    def store(self, job_id: str, ctx: JobContext, progress: tuple[Any, ...] | None = None,
              **values: Any) -> None:
        """Store the progress (or partial results) of a job running here; a job no longer
        running for this instance (cancelled, taken over, deleted) has its run cancelled."""
        if not self.repo.update(job_id, self.instance.id, progress, **values):
            ctx.cancel(CancelReason.USER)

    def publish_final(self, job_id: str) -> None:
        """Publish the final event of a finished job, from its stored state."""
        row = self.repo.get(job_id)
        if row is not None:
            self.bus.publish(job_id, self.handler.final_event(row))

    # --- recovery -------------------------------------------------------------------------------
    def recover(self) -> tuple[int, int]:
        """Adopt the unfinished jobs of dead instances; queue every queued one we own.
        Returns (jobs queued again, jobs marked interrupted)."""
        alive, _ = self.instance.alive_and_dead()
        requeued = interrupted = 0
        for job_id, status, owner, attempts in self.repo.unfinished():
            if owner == self.instance.id:
                if status == JobStatus.QUEUED:
                    self.backend.submit(job_id, attempts)
            elif owner not in alive:
                outcome = self._recover_one(job_id, status, owner, attempts, submit=True)
                requeued += outcome == "requeued"
                interrupted += outcome == "interrupted"
        return requeued, interrupted

    def adopt_orphan(self, job_id: str, *, running_here: bool) -> str | None:
        """For a worker given a task again (its first worker died): a job still marked running
        by an owner that is gone — or by this very instance while it does not run it here — is
        queued again for this instance to claim, or marked interrupted after JOB_MAX_ATTEMPTS
        runs. A live owner's job is left alone."""
        row = self.repo.get(job_id)
        if row is None or row.status != JobStatus.RUNNING or running_here:
            return None
        alive, _ = self.instance.alive_and_dead()
        if row.owner in alive and row.owner != self.instance.id:
            return None
        return self._recover_one(job_id, row.status, row.owner, row.attempts, submit=False)

    def _recover_one(self, job_id: str, status: str, owner: str | None, attempts: int, *,
                     submit: bool) -> str | None:
        """Queue one job of a dead owner again (re-run while it had fewer than JOB_MAX_ATTEMPTS
        runs; handed to the backend when ``submit``) or mark it interrupted. Returns
        "requeued", "interrupted" or None (someone else was first)."""
        most = self.settings.JOB_MAX_ATTEMPTS
        me = self.instance.id
        if status == JobStatus.QUEUED or attempts < most:
            running = status == JobStatus.RUNNING
            message = f"queued again: the service stopped during run {attempts} of at most " \
                      f"{most}" if running else None
            if not self.repo.requeue(job_id, owner, expected_status=status, new_owner=me,
                                     message=message):
                return None
            if running:
                _logger.warning("%s %s was running on %s, which is gone: re-run", self.kind,
                                job_id, owner)
                row = self.repo.get(job_id)
                if row is not None:
                    self.bus.publish(job_id, self.handler.status_event(row))
            if submit:
                self.backend.submit(job_id)
            return "requeued"
        error = {"code": "interrupted", "details": {"attempts": attempts},  # not host, PID
                 "message": f"the service stopped while this {self.kind} was running (run "
                            f"{attempts} of at most {most}); it was not re-run"}
        if not self.repo.mark_interrupted(job_id, owner, error):
            return None
        _logger.warning("%s %s marked interrupted (%d runs on %s)", self.kind, job_id, attempts,
                        owner)
        self.publish_final(job_id)
        return "interrupted"

    def to_stop(self, running: list[str]) -> list[str]:
        """Which of the jobs ``running`` here must stop: cancelled or taken over through the
        database (by another instance, or by a cancel that did not wait for their next check).
        A queued one has not been claimed by its worker yet: not a reason to stop."""
        return [job_id for job_id, (status, owner, cancel_requested)
                in self.repo.run_states(running).items()
                if status in TERMINAL_STATUSES or (status == JobStatus.RUNNING and (
                    owner != self.instance.id or cancel_requested))]

    def reconcile(self) -> None:
        """Stop the local workers of :meth:`to_stop`."""
        for job_id in self.to_stop(self.backend.running_ids()):
            self.backend.cancel(job_id, CancelReason.USER)

    # --- cancellation ---------------------------------------------------------------------------
    def cancel(self, job_id: str, *, wait_seconds: float = 5.0) -> bool:
        """Cancel a queued or running job; returns whether it has stopped.

        A queued job is cancelled at once; a running one is asked to stop (here through its
        token, elsewhere through the database flag and the backend) and awaited up to
        CANCEL_GRACE_SECONDS; then its cancellation is recorded from here, and its worker stops
        at its next check, finding the job no longer running for it. 409 ``<kind>_finished``
        for a job that ended otherwise than cancelled.
        """
        row = self.repo.get(job_id)
        if row is not None and row.status == JobStatus.QUEUED and \
                self.repo.cancel(job_id, JobStatus.QUEUED):
            self.publish_final(job_id)
            return True
        row = self.repo.get(job_id)
        if row is None or row.status == JobStatus.CANCELLED:
            return True
        if row.status == JobStatus.QUEUED:  # queued again between our two reads: try again
            return self.cancel(job_id, wait_seconds=wait_seconds)
        if row.status != JobStatus.RUNNING:
            raise ConflictError(f"{self.kind} {job_id} already ended ({row.status}); nothing to "
                                "cancel", code=f"{self.kind}_finished",
                                details={"status": row.status})
        if hasattr(row, "cancel_requested"):
            self.repo.request_cancel(job_id)
        ctx = self.backend.cancel(job_id, CancelReason.USER)
        grace = min(wait_seconds, CANCEL_GRACE_SECONDS)
        deadline = time.monotonic() + grace
        if ctx is not None:
            ctx.done.wait(grace)
        while time.monotonic() < deadline:
            found = self.repo.get(job_id)
            if found is None or found.status in TERMINAL_STATUSES:
                return True
            time.sleep(0.05)
        if ctx is not None:
            ctx.finalized = True
        if self.repo.cancel(job_id, JobStatus.RUNNING):
            _logger.info("%s %s cancelled; its worker stops at its next check", self.kind,
                         job_id)
            self.publish_final(job_id)
        found = self.repo.get(job_id)
        return found is None or found.status in TERMINAL_STATUSES
