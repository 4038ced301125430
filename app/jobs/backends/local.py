"""``JOB_BACKEND=local``: the in-process thread pool, unchanged (``app.jobs.runner``)."""

from __future__ import annotations

from typing import Any

from app.jobs.runner import JobRunner

__all__ = ["LocalBackend"]


class LocalBackend(JobRunner):
    """``MAX_WORKERS`` threads of this process; the queue lives in this process's memory."""

    name = "local"

    def submit(self, job_id: str, attempts: int | None = None) -> bool:
        """Queue ``job_id`` here (``attempts`` is not needed: the queue dedupes by id)."""
        return super().submit(job_id)

    def health(self) -> dict[str, Any]:
        return {"backend": self.name, "status": "ok"}
