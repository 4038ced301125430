"""In-memory event bus: progress of analyses, from worker threads to SSE subscribers.

Publishers (worker threads) call :meth:`EventBus.publish` from any thread; delivery happens on the
event loop through ``loop.call_soon_threadsafe``, in publication order. Every subscriber has its
own unbounded ``asyncio.Queue``, so no event is dropped for a slow reader (a subscriber more than
``max_pending`` events behind is marked ``lagged`` and told to resynchronise from the database
instead of growing without bound).

Each event gets a per-analysis sequence number ``seq`` (1, 2, 3 …) on delivery.
:meth:`EventBus.subscribe` runs on the loop and records ``start_seq``, the last number delivered
before it subscribed, so a subscriber sees exactly the events ``start_seq + 1, start_seq + 2 …``:
subscribe first, read the stored state afterwards, and nothing falls in between.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["EventBus", "Subscription", "Event", "to_jsonable"]

_logger = logging.getLogger(__name__)

#: An event: ``{"type": "progress" | "status" | <final status>, "seq": int, ...payload}``.
Event = dict[str, Any]


def to_jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars unwrapped, tuples as lists, NaN/inf as null, str enums
    (:class:`~app.engine.Verdict`) as their plain strings."""
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


@dataclass(eq=False)
class Subscription:
    """One subscriber's queue for one analysis."""

    analysis_id: str
    start_seq: int
    queue: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    lagged: bool = False
    closed: bool = False

    async def get(self) -> Event:
        return await self.queue.get()


class EventBus:
    """Publish/subscribe of analysis events, thread-safe on the publishing side."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, max_pending: int = 10_000) -> None:
        self._loop = loop
        self._max_pending = max_pending
        self._subs: dict[str, set[Subscription]] = {}
        self._seq: dict[str, int] = {}
        self._lock = threading.Lock()  # guards counters read from other threads (stats)
        self.published = 0
        self.delivered = 0
        self._closed = False

    # --- publishing (any thread) ---------------------------------------------------------------
    def publish(self, analysis_id: str, event: Event) -> None:
        """Queue ``event`` for delivery to the subscribers of ``analysis_id``."""
        if self._closed:
            return
        with self._lock:
            self.published += 1
        try:
            if _running_loop() is self._loop:
                self._deliver(analysis_id, event)
            else:
                self._loop.call_soon_threadsafe(self._deliver, analysis_id, event)
        except RuntimeError:  # the loop is closed: the service is shutting down
            _logger.debug("event for %s dropped: loop closed", analysis_id)

    # --- on the loop -------------------------------------------------------------------------
    def _deliver(self, analysis_id: str, event: Event) -> None:
        seq = self._seq.get(analysis_id, 0) + 1
        self._seq[analysis_id] = seq
        stamped = {**event, "seq": seq}
        for sub in list(self._subs.get(analysis_id, ())):
            if sub.closed or sub.lagged:
                continue
            if sub.queue.qsize() >= self._max_pending:
                sub.lagged = True
                _logger.warning("subscriber of %s lagged %d events behind; resyncing",
                                analysis_id, self._max_pending)
                continue
            sub.queue.put_nowait(stamped)
            with self._lock:
                self.delivered += 1
        if event.get("final"):
            self._seq.pop(analysis_id, None)

    def subscribe(self, analysis_id: str) -> Subscription:
        """Subscribe to ``analysis_id`` (call on the event loop, before reading stored state)."""
        sub = Subscription(analysis_id, self._seq.get(analysis_id, 0))
        self._subs.setdefault(analysis_id, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        sub.closed = True
        subs = self._subs.get(sub.analysis_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.analysis_id]

    def last_seq(self, analysis_id: str) -> int:
        return self._seq.get(analysis_id, 0)

    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._subs.values())

    def close(self) -> None:
        self._closed = True
        self._subs.clear()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
