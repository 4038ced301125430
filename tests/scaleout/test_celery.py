"""``JOB_BACKEND=celery``: the API hands analyses, workflows and repairs to Celery worker
processes through Redis, both sharing PostgreSQL; progress comes back live over Redis pub/sub;
cancellation reaches the running worker; a worker killed mid-job hands it to the other one;
batches spread.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import redis

from tests.api.helpers import check_sse_sequence, read_sse, running_app, wait_status
from tests.conftest import DUBS
from tests.scaleout.conftest import VISIBILITY_TIMEOUT_SECONDS, Cluster

SHORT = {"master_file": "master.wav", "dub_file": "dub_late.wav", "methods": ["correlation"]}


class TestAnalysisOnWorkers:
    async def test_result_computed_by_a_worker_and_health(self, workers: Cluster) -> None:
        async with running_app(workers.settings()) as (_, client):
            r = await client.post("/api/v1/analysis/sync", json={
                "master_file": "master.wav", "dub_file": "dub_early.flac"})
            assert r.status_code == 202, r.text
            aid = r.json()["analysis_id"]
            body = await wait_status(client, aid, timeout=60)
            assert body["status"] == "completed", (body, workers.logs())
            assert abs(body["result"]["offset_seconds"] - DUBS["dub_early.flac"]) < 0.001
            row = workers.row(aid)
            assert workers.worker_of(row["owner"]) in ("w1", "w2") and row["attempts"] == 1

            health = (await client.get("/api/v1/health")).json()
            jobs = health["jobs"]
            assert jobs["backend"] == "celery" and jobs["status"] == "ok", jobs
            assert jobs["broker"]["reachable"] is True
            assert {w["name"].split("@")[0] for w in jobs["workers_seen"]} == {"w1", "w2"}
            assert all("analysis" in w["queues"] for w in jobs["workers_seen"])
            assert health["database"]["dialect"] == "postgresql"

    async def test_unreachable_broker_is_a_health_error_and_submissions_wait(
            self, workers: Cluster) -> None:
        """With the broker gone the service still answers: health says why (503), a
        submission is stored queued (202), and it is sent once the broker is back."""
        settings = workers.settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0")
        async with running_app(settings) as (_, client):
            r = await client.get("/api/v1/health")
            assert r.status_code == 503
            jobs = r.json()["jobs"]
            assert jobs["status"] == "error" and jobs["broker"]["reachable"] is False
            r = await client.post("/api/v1/analysis/sync", json=SHORT)
            assert r.status_code == 202, r.text
            aid = r.json()["analysis_id"]
            assert (await client.get(f"/api/v1/analysis/{aid}")).json()["status"] == "queued"
        # another instance on the real broker adopts it (its instance is gone) and sends it
        async with running_app(workers.settings()) as (_, client):
            done = await wait_status(client, aid, timeout=60)
            assert done["status"] == "completed"
            assert abs(done["result"]["offset_seconds"] - DUBS["dub_late.wav"]) < 0.001


class TestQueues:
    async def test_ai_analyses_go_to_the_gpu_queue(self, workers: Cluster) -> None:
        """An ``enable_ai`` analysis is sent to CELERY_GPU_QUEUE (here a queue no worker
        consumes, so it waits there and health says why); a plain one to ``analysis``."""
        settings = workers.settings(ENABLED_AI_MODELS="spectral", CELERY_GPU_QUEUE="gpu-only")
        broker = redis.Redis.from_url(workers.redis.url)
        try:
            async with running_app(settings) as (_, client):
                r = await client.post("/api/v1/analysis/sync", json={**SHORT, "enable_ai": True})
                assert r.status_code == 202, r.text
                ai_id = r.json()["analysis_id"]
                assert broker.llen("gpu-only") == 1
                plain = (await client.post("/api/v1/analysis/sync", json=SHORT)
                         ).json()["analysis_id"]
                done = await wait_status(client, plain, timeout=30)
                assert abs(done["result"]["offset_seconds"] - DUBS["dub_late.wav"]) < 0.001

                jobs = (await client.get("/api/v1/health")).json()["jobs"]
                assert jobs["status"] == "degraded" and "gpu-only" in jobs["note"], jobs
                assert jobs["queue_lengths"] == {"analysis": 0, "gpu-only": 1}
                waiting = (await client.get(f"/api/v1/analysis/{ai_id}")).json()
                assert waiting["status"] == "queued" and waiting["attempts"] == 0
                r = await client.delete(f"/api/v1/analysis/{ai_id}")
                assert r.json()["status"] == "cancelled"
        finally:
            broker.delete("gpu-only")
            broker.close()


class TestLiveProgress:
    async def test_progress_from_a_worker_reaches_every_api_instance(
            self, workers: Cluster) -> None:
        settings = workers.settings()
        async with running_app(settings) as (_, first), running_app(settings) as (_, second):
            aid = (await first.post("/api/v1/analysis/sync", json={
                "master_file": "master.wav", "dub_file": "dub_late2.wav"})
                   ).json()["analysis_id"]
            url = f"/api/v1/analysis/{aid}/progress/stream"
            results = await asyncio.gather(read_sse(first, url), read_sse(second, url),
                                           read_sse(second, url))
            for events, _ in results:
                check_sse_sequence(events)
                assert events[-1].event == "completed", [e.event for e in events]
                assert abs(events[-1].data["result"]["offset_seconds"] - DUBS["dub_late2.wav"]) \
                    < 0.001
                progress = [e.data["progress"] for e in events if e.event == "progress"]
                # live events of the engine in the worker, not database polls
                assert {"decode", "coarse", "refine"} <= {p["stage"] for p in progress}
                assert progress[-1]["stage"] == "done"
                fractions = [p["fraction"] for p in progress]
                assert fractions == sorted(fractions) and len(fractions) > 5
            assert workers.worker_of(workers.row(aid)["owner"]) in ("w1", "w2")


class TestCancel:
    async def test_cancel_reaches_the_running_worker(self, workers: Cluster, long_media: Path
                                                     ) -> None:
        long_pair = {"master_file": long_media.name, "dub_file": long_media.name}
        async with running_app(workers.settings()) as (_, client):
            a = (await client.post("/api/v1/analysis/sync", json=long_pair)).json()
            b = (await client.post("/api/v1/analysis/sync", json=long_pair)).json()
            c = (await client.post("/api/v1/analysis/sync", json=SHORT)).json()
            running = [await wait_status(client, x["analysis_id"], {"running"}, timeout=30)
                       for x in (a, b)]
            assert {workers.worker_of(workers.row(x["analysis_id"])["owner"])
                    for x in running} == {"w1", "w2"}

            # queued (both workers busy): cancelled at once, never run
            r = await client.delete(f"/api/v1/analysis/{c['analysis_id']}")
            assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text

            stream = asyncio.create_task(
                read_sse(client, f"/api/v1/analysis/{a['analysis_id']}/progress/stream"))
            # mid-analysis (a 30-min pair decodes for seconds; the later stages of an identical
            # pair now pass in tens of milliseconds, too fast to be seen by a poller)
            await wait_status(client, a["analysis_id"], {"running"},
                              stage={"decode", "speed", "methods", "coarse"}, timeout=60)
            for x in (a, b):
                t0 = time.monotonic()
                r = await client.delete(f"/api/v1/analysis/{x['analysis_id']}")
                assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
                assert time.monotonic() - t0 < 2.0
            events, _ = await stream
            assert events[-1].event == "cancelled" and events[-1].data["final"] is True

            # the cancel reached each running worker process (Redis cancel channel)
            deadline = time.monotonic() + 10
            while not all(f"analysis {x['analysis_id']}: cancel received" in
                          (log := workers.logs()) for x in (a, b)):
                assert time.monotonic() < deadline, log
                await asyncio.sleep(0.1)
            # both workers are free: the next analyses run to their results; the cancelled
            # queued one was never claimed
            nxt = [(await client.post("/api/v1/analysis/sync", json={
                "master_file": "master.wav", "dub_file": name, "methods": ["correlation"]})
                   ).json()["analysis_id"] for name in ("dub_late.wav", "dub_late2.wav")]
            for aid, name in zip(nxt, ("dub_late.wav", "dub_late2.wav"), strict=True):
                done = await wait_status(client, aid, timeout=30)
                assert abs(done["result"]["offset_seconds"] - DUBS[name]) < 0.001
            cancelled = workers.row(c["analysis_id"])
            assert cancelled["status"] == "cancelled" and cancelled["attempts"] == 0


class TestBatch:
    async def test_batch_of_20_spreads_over_both_workers(self, workers: Cluster) -> None:
        names = list(DUBS)
        items = [{"master_file": "master.wav", "dub_file": names[i % len(names)],
                  "methods": ["correlation"], "label": f"ep{i:02d}"} for i in range(20)]
        async with running_app(workers.settings()) as (_, client):
            r = await client.post("/api/v1/analysis/batch", json={"items": items})
            assert r.status_code == 202, r.text
            batch_id = r.json()["batch_id"]
            deadline = time.monotonic() + 120
            while (status := (await client.get(
                    f"/api/v1/analysis/batch/{batch_id}/status")).json())["status"] in (
                    "queued", "running"):
                assert time.monotonic() < deadline, (status["totals"], workers.logs())
                await asyncio.sleep(0.2)
            assert status["status"] == "completed", status["totals"]
            results = (await client.get(f"/api/v1/analysis/batch/{batch_id}/results")).json()
            ran_on: dict[str, int] = {}
            for item in results["items"]:
                expected = DUBS[item["dub_file"]]
                assert abs(item["result"]["offset_seconds"] - expected) < 0.001, item
                worker = workers.worker_of(workers.row(item["analysis_id"])["owner"])
                ran_on[str(worker)] = ran_on.get(str(worker), 0) + 1
            assert set(ran_on) == {"w1", "w2"}, ran_on
            assert sum(ran_on.values()) == 20


class TestWorkerDeath:
    async def _running_on(self, cluster: Cluster, client: httpx.AsyncClient,
                          analysis_id: str) -> str:
        """The worker running ``analysis_id`` once it is past decoding (mid-analysis)."""
        deadline = time.monotonic() + 60
        while True:
            body = (await client.get(f"/api/v1/analysis/{analysis_id}")).json()
            if body["status"] == "running" and body["progress"]["fraction"] >= 0.45:
                break
            assert body["status"] in ("queued", "running"), body
            assert time.monotonic() < deadline, body
            await asyncio.sleep(0.02)
        assert body["attempts"] == 1
        worker = cluster.worker_of(cluster.row(analysis_id)["owner"])
        assert worker in ("w1", "w2")
        return str(worker)

    async def test_sigkill_mid_analysis_completes_on_the_other_worker(
            self, workers: Cluster, long_media: Path) -> None:
        async with running_app(workers.settings()) as (_, client):
            aid = (await client.post("/api/v1/analysis/sync", json={
                "master_file": long_media.name, "dub_file": long_media.name})
                   ).json()["analysis_id"]
            victim = await self._running_on(workers, client, aid)
            workers.workers[victim].kill()
            done = await wait_status(client, aid, timeout=90)
            assert done["status"] == "completed", (done, workers.logs())
            assert abs(done["result"]["offset_seconds"]) < 0.001
            assert done["attempts"] == 2
            survivor = workers.worker_of(workers.row(aid)["owner"])
            assert survivor is not None and survivor != victim

    async def test_pool_process_killed_task_handed_back_at_once(
            self, workers: Cluster, long_media: Path) -> None:
        """Only the pool process running the analysis dies (say, the OOM killer): its worker
        rejects the task back to the queue (``task_reject_on_worker_lost``) and the analysis
        is re-run; the worker itself lives on."""
        async with running_app(workers.settings()) as (_, client):
            aid = (await client.post("/api/v1/analysis/sync", json={
                "master_file": long_media.name, "dub_file": long_media.name})
                   ).json()["analysis_id"]
            victim = await self._running_on(workers, client, aid)
            pool_pid = int(str(workers.row(aid)["owner"]).split(":")[1])
            assert pool_pid in workers.workers[victim].pids() - {workers.workers[victim].proc.pid}
            os.kill(pool_pid, signal.SIGKILL)
            done = await wait_status(client, aid, timeout=90)
            assert done["status"] == "completed", (done, workers.logs())
            assert abs(done["result"]["offset_seconds"]) < 0.001 and done["attempts"] == 2
            assert workers.workers[victim].proc.poll() is None
            assert workers.row(aid)["owner"].split(":")[1] != str(pool_pid)

    async def test_redelivered_task_reclaims_the_dead_workers_analysis(
            self, workers: Cluster, long_media: Path) -> None:
        """No API instance recovers anything here (its maintenance is minutes apart): the
        broker hands the unacknowledged task to the other worker after the visibility
        timeout, and that worker re-claims the analysis whose owner is dead."""
        settings = workers.settings(HEARTBEAT_SECONDS=60, INSTANCE_STALE_SECONDS=600)
        async with running_app(settings) as (_, client):
            aid = (await client.post("/api/v1/analysis/sync", json={
                "master_file": long_media.name, "dub_file": long_media.name})
                   ).json()["analysis_id"]
            victim = await self._running_on(workers, client, aid)
            killed_at = time.monotonic()
            workers.workers[victim].kill()
            done = await wait_status(client, aid, timeout=90)
            assert done["status"] == "completed", (done, workers.logs())
            assert time.monotonic() - killed_at > VISIBILITY_TIMEOUT_SECONDS - 2
            assert abs(done["result"]["offset_seconds"]) < 0.001 and done["attempts"] == 2
            survivor = workers.worker_of(workers.row(aid)["owner"])
            assert survivor is not None and survivor != victim


class TestOtherJobsSurviveWorkerDeath:
    """Workflows and repairs are jobs like analyses: they run on the workers, and a worker
    SIGKILLed mid-job hands the job to the other one (run 2), live progress included."""

    async def test_sigkill_mid_workflow_completes_on_the_other_worker(
            self, workers: Cluster, long_media: Path) -> None:
        async with running_app(workers.settings()) as (_, client):
            r = await client.post("/api/v1/workflows/analyze-and-repair", json={
                "master_file": long_media.name, "dub_file": long_media.name,
                "create_package": False})
            assert r.status_code == 202, r.text
            wid = r.json()["workflow_id"]
            stream = asyncio.create_task(
                read_sse(client, f"/api/v1/workflows/{wid}/status/stream", timeout=150))
            deadline = time.monotonic() + 60
            while (body := (await client.get(f"/api/v1/workflows/{wid}/status")).json())[
                    "fraction"] < 0.15 or body["status"] != "running":
                assert body["status"] in ("queued", "running"), body
                assert time.monotonic() < deadline, (body, workers.logs())
                await asyncio.sleep(0.05)
            assert body["attempts"] == 1 and body["stage"] == "analysis", body
            victim = workers.worker_of(workers.row(wid, "workflows")["owner"])
            assert victim in ("w1", "w2")
            workers.workers[str(victim)].kill()
            events, _ = await stream
            assert events[-1].event == "completed", ([e.event for e in events], workers.logs())
            stages = {e.data["stage"] for e in events if e.event == "progress"}
            assert {"analysis", "decision", "package"} <= stages, stages  # live, from workers
            done = (await client.get(f"/api/v1/workflows/{wid}/status")).json()
            assert done["status"] == "completed" and done["attempts"] == 2, done
            assert done["outcome"] == "not_needed", done
            survivor = workers.worker_of(workers.row(wid, "workflows")["owner"])
            assert survivor is not None and survivor != victim

    async def test_sigkill_mid_repair_completes_on_the_other_worker(
            self, workers: Cluster, long_media: Path) -> None:
        """The request awaiting the repair gets its 201 record from the second run."""
        before = {r["id"] for r in workers.rows("repairs", "running")}
        async with running_app(workers.settings()) as (_, client):
            post = asyncio.create_task(client.post("/api/v1/repair/per-channel", json={
                "dub_file": long_media.name, "master_file": long_media.name}, timeout=150))
            deadline = time.monotonic() + 60
            while not (running := [r for r in workers.rows("repairs", "running")
                                   if r["id"] not in before]):
                assert not post.done(), post.result().text
                assert time.monotonic() < deadline, workers.logs()
                await asyncio.sleep(0.05)
            rid = running[0]["id"]
            await asyncio.sleep(1.0)  # measuring the channels
            row = workers.row(rid, "repairs")
            assert row["status"] == "running" and row["attempts"] == 1, row
            victim = workers.worker_of(row["owner"])
            assert victim in ("w1", "w2")
            workers.workers[str(victim)].kill()
            r = await post
            assert r.status_code == 201, (r.text, workers.logs())
            body = r.json()
            assert body["repair_id"] == rid and body["kind"] == "per_channel"
            assert body["verification"]["passed"] is True, body["verification"]
            row = workers.row(rid, "repairs")
            assert row["status"] == "completed" and row["attempts"] == 2, row
            survivor = workers.worker_of(row["owner"])
            assert survivor is not None and survivor != victim


class TestSharedRateLimit:
    async def test_api_instances_count_one_client_together(self, workers: Cluster) -> None:
        """RATE_LIMIT_PER_MINUTE holds across API instances: the counts live in Redis."""
        fresh = f"rate-limit-{time.time_ns()}"  # a client (key) no earlier run has counted
        settings = workers.settings(ENABLE_RATE_LIMITING=True, RATE_LIMIT_PER_MINUTE=6,
                                    API_KEYS=fresh)
        key = {"X-API-Key": fresh}
        async with running_app(settings) as (_, first), running_app(settings) as (_, second):
            codes = []
            for i in range(8):
                client = (first, second)[i % 2]
                r = await client.get("/api/v1/analysis?limit=1", headers=key)
                codes.append(r.status_code)
            assert codes[:6] == [200] * 6, codes
            assert codes[6:] == [429, 429], codes
            assert "Retry-After" in r.headers
