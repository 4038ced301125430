"""A job's Server-Sent Events: subscribe, *then* read the stored state (nothing can fall
between), then every event until the final one.

When the job is not handled by this process (it runs on another instance, or its events do not
reach this one), the stored state is polled instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any, NamedTuple

from anyio import to_thread

from app.db.models import TERMINAL_STATUSES
from app.jobs.events import Subscription
from app.jobs.lifecycle import Lifecycle

__all__ = ["StreamMessage", "open_stream", "follow", "iso"]


class StreamMessage(NamedTuple):
    """One Server-Sent Event: its ``event`` name, ``id`` and JSON ``data``."""

    event: str
    id: int
    data: dict[str, Any]


def iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


async def open_stream(jobs: Lifecycle[Any], job_id: str, get: Callable[[str], Any]
                      ) -> tuple[Subscription, Any]:
    """Subscribe to a job, then read it with ``get`` (which raises for an unknown id, leaving
    no subscription)."""
    sub = jobs.bus.subscribe(job_id)
    try:
        row = await to_thread.run_sync(get, job_id)
    except BaseException:
        jobs.bus.unsubscribe(sub)
        raise
    return sub, row


async def follow(jobs: Lifecycle[Any], sub: Subscription, row: Any, *,
                 state: Callable[[Any], dict[str, Any]],
                 progress: Callable[[Any], dict[str, Any]],
                 poll_seconds: float = 2.0) -> AsyncIterator[StreamMessage]:
    """``state`` of the job now, every event, then the final one; while its events do not
    reach this process, a ``progress`` message from the stored state when it changed."""
    job_id = sub.analysis_id
    last_seq = sub.start_seq
    try:
        yield StreamMessage("state", last_seq, state(row))
        last_progress = row.updated_at
        while row.status not in TERMINAL_STATUSES:
            try:
                event = await asyncio.wait_for(sub.get(), timeout=poll_seconds)
            except TimeoutError:
                if sub.lagged or not jobs.backend.is_active(job_id):
                    row = await to_thread.run_sync(jobs.repo.get, job_id)
                    if row is None:
                        return
                    if sub.lagged:
                        jobs.bus.unsubscribe(sub)
                        sub = jobs.bus.subscribe(job_id)
                        last_seq = sub.start_seq
                        yield StreamMessage("state", last_seq, state(row))
                    elif row.updated_at != last_progress and \
                            row.status not in TERMINAL_STATUSES:
                        yield StreamMessage("progress", last_seq, progress(row))
                    last_progress = row.updated_at
                continue
            last_seq = event["seq"]
            yield StreamMessage(event["type"], last_seq, event)
            if event.get("final"):
                return
        while not sub.queue.empty():  # finished: the events already queued, then the final one
            event = sub.queue.get_nowait()
            yield StreamMessage(event["type"], event["seq"], event)
            if event.get("final"):
                return
        yield StreamMessage(row.status, sub.start_seq, jobs.handler.final_event(row))
    finally:
        jobs.bus.unsubscribe(sub)
