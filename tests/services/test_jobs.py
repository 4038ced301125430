"""JobRunner: bounded concurrency, cooperative cancellation, shutdown."""

from __future__ import annotations

import threading
import time

import pytest

from app.jobs.runner import CancelReason, JobContext, JobRunner


def _wait(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


class TestJobRunner:
    def test_never_more_than_max_workers(self) -> None:
        lock = threading.Lock()
        active, peak, done = [0], [0], []

        def handler(job_id: str, ctx: JobContext) -> None:
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            time.sleep(0.05)
            with lock:
                active[0] -= 1
                done.append(job_id)

        runner = JobRunner(handler, max_workers=3)
        runner.start()
        for i in range(12):
            assert runner.submit(f"j{i}")
        _wait(lambda: len(done) == 12)
        assert peak[0] == 3
        assert sorted(done) == sorted(f"j{i}" for i in range(12))
        assert runner.shutdown(timeout=2) == []

    def test_cancel_reaches_the_token(self) -> None:
        started = threading.Event()
        outcome: list[str | None] = []

        def handler(job_id: str, ctx: JobContext) -> None:
            started.set()
            while not ctx.token.cancelled:
                time.sleep(0.01)
            outcome.append(ctx.reason)

        runner = JobRunner(handler, max_workers=1)
        runner.start()
        runner.submit("a")
        assert started.wait(2)
        assert runner.is_active("a") and runner.stats().busy == 1
        ctx = runner.cancel("a")
        assert ctx is not None and ctx.done.wait(2)
        assert outcome == [CancelReason.USER]
        assert runner.cancel("a") is None and not runner.is_active("a")
        runner.shutdown(timeout=2)

    def test_duplicates_refused_and_failures_contained(self) -> None:
        gate = threading.Event()
        calls: list[str] = []

        def handler(job_id: str, ctx: JobContext) -> None:
            calls.append(job_id)
            gate.wait(2)
            if job_id == "boom":
                raise RuntimeError("handler bug")

        runner = JobRunner(handler, max_workers=1)
        runner.start()
        assert runner.submit("boom")
        _wait(lambda: calls == ["boom"])
        assert not runner.submit("boom")  # running
        assert runner.submit("next") and not runner.submit("next")  # queued
        gate.set()
        _wait(lambda: calls == ["boom", "next"])
        _wait(lambda: runner.stats().busy == 0)
        assert runner.stats().alive
        runner.shutdown(timeout=2)

    def test_shutdown_cancels_running_and_skips_queued(self) -> None:
        reasons: list[str | None] = []
        started = threading.Event()

        def handler(job_id: str, ctx: JobContext) -> None:
            started.set()
            while not ctx.token.cancelled:
                time.sleep(0.01)
            reasons.append(ctx.reason)

        runner = JobRunner(handler, max_workers=1)
        runner.start()
        runner.submit("running")
        runner.submit("queued")
        assert started.wait(2)
        assert runner.shutdown(timeout=2) == []
        assert reasons == [CancelReason.SHUTDOWN]
        assert not runner.submit("late")
        assert not runner.stats().alive

    def test_bad_size(self) -> None:
        with pytest.raises(ValueError, match="max_workers=0"):
            JobRunner(lambda job_id, ctx: None, max_workers=0)
