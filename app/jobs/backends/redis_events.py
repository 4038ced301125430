"""Events between processes through Redis pub/sub (``JOB_BACKEND=celery``).

Workers and API instances publish every analysis event on one channel; every API instance
subscribes to it and feeds its own in-memory :class:`~app.jobs.events.EventBus`, which numbers
and delivers them to its Server-Sent-Event subscribers as before. So a dashboard connected to any
API instance sees the live progress of an analysis running on any worker. Cancel requests travel
on a second channel to the workers. Redis pub/sub is fire-and-forget: the database stays the
record (state is committed before its event is published, and a stream reads it after
subscribing), events only make it live.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from app.jobs.events import Event, EventBus

__all__ = ["RedisEventBus", "CancelListener", "redis_client", "publish_cancel",
           "EVENTS_CHANNEL", "CANCEL_CHANNEL", "WORKER_KEY_PREFIX"]

_logger = logging.getLogger(__name__)

#: after a failed publish, events skip Redis this long (seconds): a dead broker must not slow
#: every progress callback of an analysis down to a connection timeout
_PUBLISH_BACKOFF_SECONDS = 5.0

EVENTS_CHANNEL = "sync_analyzer:events"
CANCEL_CHANNEL = "sync_analyzer:cancel"
#: ``<prefix><celery node name>`` → JSON heartbeat of a worker (expires when it stops)
WORKER_KEY_PREFIX = "sync_analyzer:worker:"


def redis_client(url: str) -> redis.Redis:
    """A client with short timeouts (a dead broker must not hang a request)."""
    return redis.Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=5.0,
                                health_check_interval=30)


def publish_cancel(client: redis.Redis, job_id: str) -> None:
    """Tell every worker to stop ``job_id`` if it runs there."""
    client.publish(CANCEL_CHANNEL, job_id)


class _Subscriber:
    """A thread reading one pub/sub channel, reconnecting with back-off after errors."""

    def __init__(self, url: str, channel: str, on_message: Callable[[bytes], None],
                 name: str) -> None:
        self._client = redis_client(url)
        self._channel = channel
        self._on_message = on_message
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._tried = threading.Event()  # the first attempt succeeded or failed
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def subscribed(self) -> bool:
        return self._subscribed.is_set() and self._thread.is_alive()

    def start(self, *, wait_seconds: float = 5.0) -> bool:
        """Start; True when the subscription is confirmed within ``wait_seconds`` (False at
        once when the first attempt fails: the thread keeps trying)."""
        self._thread.start()
        self._tried.wait(wait_seconds)
        return self._subscribed.is_set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=3.0)
        self._client.close()

    def _run(self) -> None:
        backoff = 0.2
        while not self._stop.is_set():
            pubsub = self._client.pubsub()
            try:
                pubsub.subscribe(self._channel)
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        self._subscribed.set()
                        self._tried.set()
                        backoff = 0.2
                    elif message["type"] == "message":
                        try:
                            self._on_message(message["data"])
                        except Exception:  # one bad message must not stop the listener
                            _logger.exception("bad message on %s", self._channel)
            except (redis.RedisError, OSError) as exc:
                if self._subscribed.is_set():
                    _logger.warning("lost the Redis subscription to %s (%s); reconnecting",
                                    self._channel, exc)
                self._subscribed.clear()
                self._tried.set()
                self._stop.wait(backoff)
                backoff = min(5.0, backoff * 2)
            finally:
                try:
                    pubsub.close()
                except (redis.RedisError, OSError):
                    pass
        self._subscribed.clear()


class RedisEventBus(EventBus):
    """The event bus of a process in a Celery deployment.

    ``publish`` sends the event to Redis; with ``listen`` (API instances) a thread receives every
    event from Redis and delivers it locally. When Redis cannot be reached, events published
    here are delivered locally only (this instance's streams stay live; the database has the
    state for the others).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, url: str, *, listen: bool = True,
                 max_pending: int = 10_000) -> None:
        super().__init__(loop, max_pending=max_pending)
        self._client = redis_client(url)
        self._listener = _Subscriber(url, EVENTS_CHANNEL, self._received,
                                     "redis-events") if listen else None
        self._skip_until = 0.0

    @property
    def connected(self) -> bool:
        """Whether events from other processes arrive (the subscription is up)."""
        return self._listener is not None and self._listener.subscribed

    def start(self) -> None:
        if self._listener is not None and not self._listener.start():
            _logger.error("could not subscribe to Redis events yet; progress streams poll the "
                          "database until the subscription is up")

    def publish(self, analysis_id: str, event: Event) -> None:
        if time.monotonic() >= self._skip_until:
            try:
                self._client.publish(EVENTS_CHANNEL, json.dumps(
                    {"id": analysis_id, "event": event}, default=str, separators=(",", ":")))
                return
            except (redis.RedisError, OSError) as exc:
                self._skip_until = time.monotonic() + _PUBLISH_BACKOFF_SECONDS
                _logger.warning("events not sent to Redis for %.0f s (%s): delivered in this "
                                "process only", _PUBLISH_BACKOFF_SECONDS, exc)
        if self._listener is not None:
            super().publish(analysis_id, event)

    def _received(self, data: bytes) -> None:
        message: dict[str, Any] = json.loads(data)
        super().publish(str(message["id"]), message["event"])

    def close(self) -> None:
        super().close()
        if self._listener is not None:
            self._listener.stop()
        self._client.close()


class CancelListener:
    """Worker side: calls ``on_cancel(job_id)`` for every cancel request published."""

    def __init__(self, url: str, on_cancel: Callable[[str], None]) -> None:
        self._sub = _Subscriber(url, CANCEL_CHANNEL,
                                lambda data: on_cancel(data.decode()), "redis-cancel")

    def start(self) -> bool:
        return self._sub.start()

    def stop(self) -> None:
        self._sub.stop()
