"""EventBus: thread-safe publication, per-analysis order, no lost events, subscribe-first."""

from __future__ import annotations

import asyncio
import threading

from app.jobs.events import EventBus


class TestEventBus:
    async def test_many_threads_no_event_lost_order_kept(self) -> None:
        bus = EventBus(asyncio.get_running_loop())
        subs = {aid: [bus.subscribe(aid) for _ in range(3)] for aid in ("a", "b", "c", "d")}
        per_job = 500

        def produce(aid: str) -> None:
            for i in range(per_job):
                bus.publish(aid, {"type": "progress", "i": i})
            bus.publish(aid, {"type": "completed", "final": True})

        threads = [threading.Thread(target=produce, args=(aid,)) for aid in subs]
        for t in threads:
            t.start()
        for t in threads:
            await asyncio.to_thread(t.join)
        for _aid, aid_subs in subs.items():
            for sub in aid_subs:
                got = [await asyncio.wait_for(sub.get(), 5) for _ in range(per_job + 1)]
                assert [e["i"] for e in got[:-1]] == list(range(per_job))
                assert [e["seq"] for e in got] == list(range(1, per_job + 2))
                assert got[-1]["final"] is True and sub.queue.empty()
        assert bus.published == 4 * (per_job + 1)
        assert bus.delivered == 4 * 3 * (per_job + 1)

    async def test_late_subscriber_starts_after_the_last_delivered_event(self) -> None:
        bus = EventBus(asyncio.get_running_loop())
        early = bus.subscribe("x")
        for i in range(3):
            bus.publish("x", {"type": "progress", "i": i})  # on the loop: delivered at once
        late = bus.subscribe("x")
        assert late.start_seq == 3 and early.start_seq == 0
        bus.publish("x", {"type": "progress", "i": 3})
        assert (await late.get())["seq"] == 4
        assert [(await early.get())["seq"] for _ in range(4)] == [1, 2, 3, 4]

    async def test_publish_from_thread_is_delivered_on_the_loop(self) -> None:
        loop = asyncio.get_running_loop()
        bus = EventBus(loop)
        sub = bus.subscribe("x")
        seen: list[bool] = []
        original = bus._deliver

        def spy(aid: str, event: dict) -> None:
            seen.append(asyncio.get_running_loop() is loop)
            original(aid, event)

        bus._deliver = spy  # type: ignore[method-assign]
        await asyncio.to_thread(bus.publish, "x", {"type": "progress"})
        assert (await asyncio.wait_for(sub.get(), 5))["seq"] == 1
        assert seen == [True]

    async def test_unsubscribe_and_lagging_subscriber(self) -> None:
        bus = EventBus(asyncio.get_running_loop(), max_pending=2)
        sub, slow = bus.subscribe("x"), bus.subscribe("x")
        bus.unsubscribe(sub)
        for i in range(3):
            bus.publish("x", {"type": "progress", "i": i})
        assert sub.queue.empty()
        assert slow.lagged and slow.queue.qsize() == 2
        bus.unsubscribe(slow)
        assert bus.subscriber_count() == 0

    async def test_final_event_resets_the_sequence(self) -> None:
        bus = EventBus(asyncio.get_running_loop())
        bus.publish("x", {"type": "progress"})
        bus.publish("x", {"type": "completed", "final": True})
        assert bus.last_seq("x") == 0
        bus.close()
        bus.publish("x", {"type": "progress"})  # ignored after close
        assert bus.last_seq("x") == 0
