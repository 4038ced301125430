"""What the job life cycle needs from a job backend (``JOB_BACKEND``)."""

from __future__ import annotations

from typing import Any, Protocol

from app.jobs.runner import CancelReason, JobContext, RunnerStats

__all__ = ["JobBackend"]


class JobBackend(Protocol):
    """Runs the jobs of one kind by id. ``local``: a thread pool here; ``celery``: workers.

    Jobs take ids only; the life cycle (``Lifecycle.run``) claims, runs and records them in the
    shared database, so every backend runs the same code.
    """

    #: "local" or "celery"
    name: str

    def start(self) -> None:
        """Start taking jobs."""

    def shutdown(self, *, timeout: float = 10.0) -> list[str]:
        """Stop; returns the ids still running *here* when ``timeout`` expired."""

    def submit(self, job_id: str, attempts: int | None = None) -> bool:
        """Hand a stored, queued job to the workers; False when it was not (already handed
        over for this run — ``attempts``, the runs it has had, when the caller knows it — or
        the broker is unreachable: the next maintenance pass tries again)."""

    def cancel(self, job_id: str, reason: str = CancelReason.USER) -> JobContext | None:
        """Ask the job to stop wherever it runs; its context when it runs in this process."""

    def is_active(self, job_id: str) -> bool:
        """Whether the job's events reach this process's event bus without polling."""

    def running_ids(self) -> list[str]:
        """Ids of the jobs running in this process."""

    def stats(self) -> RunnerStats:
        """Workers, busy, queued (cheap: called on every submission)."""

    def health(self) -> dict[str, Any]:
        """``backend`` name, ``status`` and what the backend depends on (broker, workers)."""
