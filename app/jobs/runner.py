"""Bounded thread-pool job runner with cooperative cancellation.

``MAX_WORKERS`` worker threads take job ids from one FIFO queue and call the handler with the id
and a :class:`JobContext`, whose :class:`~app.engine.CancelToken` the engine checks between stages
and blocks. Jobs take ids only: the handler loads what it needs and records state transitions in
the database itself, so another backend (a task queue) can run the same handler.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.core.logging import log_context
from app.engine import CancelToken

__all__ = ["JobContext", "JobRunner", "RunnerStats", "CancelReason"]

_logger = logging.getLogger(__name__)


class CancelReason:
    USER = "user"
    SHUTDOWN = "shutdown"


@dataclass
class JobContext:
    """What a running job is given besides its id."""

    job_id: str
    token: CancelToken = field(default_factory=CancelToken)
    reason: str | None = None
    done: threading.Event = field(default_factory=threading.Event)
    #: set when the job's final state was recorded and published on its behalf (a cancel
    #: that did not wait for the engine's next check)
    finalized: bool = False
    #: what the job's handler keeps of this run (its progress recorder)
    state: Any = None

    def cancel(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        self.token.cancel()


@dataclass(frozen=True)
class RunnerStats:
    workers: int
    busy: int
    queued: int
    running: list[str]
    alive: bool


Handler = Callable[[str, JobContext], None]


class JobRunner:
    """``max_workers`` threads running ``handler(job_id, ctx)`` for ids taken from a queue: the
    ``local`` job backend (``JOB_BACKEND=local``; the queue lives in this process's memory)."""

    name = "local"

    def __init__(self, handler: Handler, *, max_workers: int, name: str = "job",
                 niceness: int = 0) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers={max_workers}: must be >= 1")
        self._handler = handler
        self._max_workers = max_workers
        self._name = name
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._pending: set[str] = set()
        self._running: dict[str, JobContext] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._niceness = niceness

    # --- life cycle ----------------------------------------------------------------------
    def start(self) -> None:
        for i in range(self._max_workers):
            t = threading.Thread(target=self._work, name=f"{self._name}-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def shutdown(self, *, timeout: float = 10.0) -> list[str]:
        """Stop taking jobs, cancel running ones (reason ``shutdown``) and wait for the workers.

        Returns the ids of jobs still running when ``timeout`` expired.
        """
        self._stopping.set()
        with self._lock:
            for ctx in self._running.values():
                ctx.cancel(CancelReason.SHUTDOWN)
        for _ in self._threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        with self._lock:
            return list(self._running)

    # --- jobs --------------------------------------------------------------------------------
    def submit(self, job_id: str, attempts: int | None = None) -> bool:
        """Queue ``job_id``; False when it is already queued or running here, or stopping
        (``attempts`` is not needed: the queue dedupes by id)."""
        with self._lock:
            if self._stopping.is_set() or job_id in self._pending or job_id in self._running:
                return False
            self._pending.add(job_id)
        self._queue.put(job_id)
        return True

    def cancel(self, job_id: str, reason: str = CancelReason.USER) -> JobContext | None:
        """Cancel ``job_id`` if it runs here; returns its context (to wait on ``done``)."""
        with self._lock:
            ctx = self._running.get(job_id)
        if ctx is not None:
            ctx.cancel(reason)
        return ctx

    def is_active(self, job_id: str) -> bool:
        """Whether ``job_id`` is queued or running in this runner."""
        with self._lock:
            return job_id in self._pending or job_id in self._running

    def running_ids(self) -> list[str]:
        with self._lock:
            return list(self._running)

    def stats(self) -> RunnerStats:
        with self._lock:
            return RunnerStats(
                workers=self._max_workers,
                busy=len(self._running),
                queued=len(self._pending),
                running=sorted(self._running),
                alive=bool(self._threads) and all(t.is_alive() for t in self._threads)
                and not self._stopping.is_set(),
            )

    def health(self) -> dict[str, Any]:
        return {"backend": self.name, "status": "ok"}

    # --- workers -------------------------------------------------------------------------------
    def _work(self) -> None:
        if self._niceness > 0:
            _lower_thread_priority(self._niceness)
        while True:
            job_id = self._queue.get()
            if job_id is None:
                return
            with self._lock:
                self._pending.discard(job_id)
                if self._stopping.is_set():
                    continue
                ctx = JobContext(job_id)
                self._running[job_id] = ctx
            try:
                with log_context(**{f"{self._name}_id": job_id}):
                    self._handler(job_id, ctx)
            except Exception:  # the handler records its own failures; never kill a worker
                with log_context(**{f"{self._name}_id": job_id}):
                    _logger.exception("job %s: handler raised", job_id)
            finally:
                with self._lock:
                    self._running.pop(job_id, None)
                ctx.done.set()


def _lower_thread_priority(niceness: int) -> None:
    """Raise this thread's nice value (Linux: per thread, inherited by the threads and ffmpeg
    processes it starts), so analyses yield the CPU to the API when both want it."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid)
                                                  + niceness))
    except (AttributeError, OSError) as exc:  # pragma: no cover - not Linux, or not allowed
        _logger.debug("could not lower worker priority: %s", exc)
