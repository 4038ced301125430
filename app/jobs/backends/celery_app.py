"""The Celery application, configured from ``Settings`` (API instances send, workers run).

Delivery guarantees: a task is acknowledged *after* it ran (``task_acks_late``), a worker
reserves one task at a time (``worker_prefetch_multiplier=1``), a task whose worker process died
is handed back at once (``task_reject_on_worker_lost``), and a task whose whole worker vanished
is handed to another worker after ``CELERY_VISIBILITY_TIMEOUT_SECONDS`` (the Redis transport's
visibility timeout). Redelivery is safe: a task claims its job in the database first, and
only a queued job, or a running one whose owner is dead, can be claimed (attempts counted,
at most JOB_MAX_ATTEMPTS runs). Results live in the database, not in Celery.
"""

from __future__ import annotations

from celery import Celery
from kombu import Exchange, Queue

from app.core.config import Settings

__all__ = ["make_celery", "TASK_RUN_JOB", "ANALYSIS_QUEUE", "queue_for"]

#: one task per job run: ``(kind, job_id)``
TASK_RUN_JOB = "sync_analyzer.run_job"
#: CPU jobs; AI-method analyses go to ``CELERY_GPU_QUEUE`` (default ``gpu``)
ANALYSIS_QUEUE = "analysis"


def queue_for(settings: Settings, request: dict[str, object]) -> str:
    """The queue of an analysis request: GPU work (AI methods) or CPU work (also an
    ``enable_ai`` request whose model is unavailable: only classical methods run)."""
    ai = request.get("enable_ai") and not request.get("ai_unavailable")
    return settings.CELERY_GPU_QUEUE if ai else ANALYSIS_QUEUE


def make_celery(settings: Settings) -> Celery:
    """A Celery app on ``CELERY_BROKER_URL`` with the delivery guarantees above."""
    app = Celery("sync_analyzer", broker=settings.CELERY_BROKER_URL)
    visibility = float(settings.CELERY_VISIBILITY_TIMEOUT_SECONDS)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=ANALYSIS_QUEUE,
        # each queue on its own direct exchange (a shared default exchange would put a
        # task routed to one queue in both)
        task_queues=[Queue(q, Exchange(q, type="direct"), routing_key=q)
                     for q in dict.fromkeys((ANALYSIS_QUEUE, settings.CELERY_GPU_QUEUE))],
        task_default_exchange=ANALYSIS_QUEUE,
        task_default_routing_key=ANALYSIS_QUEUE,
        task_create_missing_queues=True,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": visibility,
            # look for tasks of vanished workers every few seconds (one Redis query)
            "unacked_restore_interval": max(1, min(10, int(visibility // 4))),
            "unacked_restore_throttle": 1,
            "socket_connect_timeout": 2,
        },
        # a submission must not hang on a dead broker: the analysis stays queued in the
        # database and the next maintenance pass sends it again
        task_publish_retry_policy={"max_retries": 1, "interval_start": 0,
                                   "interval_step": 0.5, "interval_max": 0.5},
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
    )
    return app
