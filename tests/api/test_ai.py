"""``/api/v1/ai/models``, health ``ai-models`` and ``enable_ai`` analyses through the real app
with a tiny random Wav2Vec2 in a temporary model cache (loaded offline)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import pytest

from app.core.config import Settings
from app.engine.ai.registry import SPECS
from tests.api.helpers import read_sse, running_app, wait_status
from tests.conftest import DUBS

HAS_TORCH = all(importlib.util.find_spec(p) is not None for p in ("torch", "transformers"))


class TestModels:
    async def test_list_and_one(self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings(ENABLED_AI_MODELS="wav2vec2,spectral")) as (_, c):
            r = await c.get("/api/v1/ai/models")
            assert r.status_code == 200, r.text
            body = r.json()
            names = [m["name"] for m in body["items"]]
            assert names[:2] == ["wav2vec2", "spectral"] and body["total"] == 5
            assert set(names) == {"wav2vec2", "spectral", "basic_pitch", "yamnet", "silero_vad"}
            by = {m["name"]: m for m in body["items"]}
            assert by["spectral"]["available"] and by["spectral"]["enabled"]
            w2v = by["wav2vec2"]
            assert w2v["available"] is False and w2v["enabled"] and w2v["load_path"] is None
            assert w2v["frame_rate_hz"] == 50.0 and w2v["device"] == "cpu"
            if HAS_TORCH:
                assert "weights not found in AI_MODEL_CACHE_DIR" in w2v["reason"]
                assert "expected layout" in w2v["reason"]
            one = (await c.get("/api/v1/ai/models/yamnet")).json()
            assert one["name"] == "yamnet" and one["embedding_size"] == 1024
            missing = await c.get("/api/v1/ai/models/whisper")
            assert missing.status_code == 404
            assert missing.json()["error"]["code"] == "ai_model_not_found"

    async def test_unavailable_model_runs_without_it_and_says_why(
            self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings(ENABLED_AI_MODELS="wav2vec2")) as (_, c):
            r = await c.post("/api/v1/analysis/sync", json={
                "master_file": "master.wav", "dub_file": "dub_late.wav", "enable_ai": True,
                "methods": ["correlation"], "max_offset_seconds": 5})
            assert r.status_code == 202, r.text
            warning = r.json()["warnings"][0]
            assert warning.startswith("the ai method did not run: ai_model 'wav2vec2' is not "
                                      "installed here: ")
            layout = SPECS["wav2vec2"].expected_layout
            assert warning.count(layout) == 1  # the install layout, once
            done = await wait_status(c, r.json()["analysis_id"])
            assert done["status"] == "completed" and done["warnings"] == [warning]
            result = done["result"]
            assert abs(result["offset_seconds"] - DUBS["dub_late.wav"]) < 0.001
            assert result["warnings"] == [warning]
            by = {m["method"]: m for m in result["methods"]}
            assert set(by) == {"correlation", "ai"} and by["correlation"]["status"] == "ok"
            ai = by["ai"]
            assert ai["status"] == "unavailable" and ai["offset_seconds"] is None
            assert ai["confidence"] == 0.0 and "wav2vec2" in ai["reason"]
            assert ai["diagnostics"]["expected_layout"] == layout
            assert ai["diagnostics"]["model"] == "wav2vec2"
            assert done["request"]["ai_unavailable"]["reason"] == ai["reason"]
            h = (await c.get("/api/v1/health")).json()
            assert h["components"]["ai-models"] == "degraded"

    async def test_unknown_model_is_refused(self, make_settings: Callable[..., Settings]
                                            ) -> None:
        async with running_app(make_settings(ENABLED_AI_MODELS="spectral")) as (_, c):
            for name in ("whisper", "silero_vad"):
                r = await c.post("/api/v1/analysis/sync", json={
                    "master_file": "master.wav", "dub_file": "dub_late.wav",
                    "enable_ai": True, "ai_model": name})
                assert r.status_code == 422, r.text
                err = r.json()["error"]
                assert err["code"] == "unknown_ai_model" and name in err["message"]
                assert err["details"]["known"] == ["spectral", "basic_pitch", "wav2vec2",
                                                   "yamnet"]

    async def test_spectral_needs_no_weights(self, make_settings: Callable[..., Settings]
                                             ) -> None:
        async with running_app(make_settings(ENABLED_AI_MODELS="spectral")) as (_, c):
            h = (await c.get("/api/v1/health")).json()
            assert h["components"]["ai-models"] == "ok"
            assert h["ai-models"]["models"][0]["available"] is True


@pytest.mark.skipif(not HAS_TORCH, reason="torch/transformers not installed")
class TestWav2Vec2EndToEnd:
    async def test_tiny_model_through_the_api(self, make_settings: Callable[..., Settings],
                                              tmp_path: Path) -> None:
        from testkit.ai_models import make_tiny_wav2vec2

        cache = tmp_path / "models"
        make_tiny_wav2vec2(cache / "wav2vec2")
        settings = make_settings(ENABLED_AI_MODELS="wav2vec2", AI_MODEL_CACHE_DIR=cache,
                                 AI_BATCH_SIZE=2)
        async with running_app(settings) as (_, c):
            h = (await c.get("/api/v1/health")).json()
            assert h["components"]["ai-models"] == "ok"
            model = h["ai-models"]["models"][0]
            assert model["load_path"] == str(cache / "wav2vec2") and model["embedding_size"] == 32
            r = await c.post("/api/v1/analysis/sync", json={
                "master_file": "master.wav", "dub_file": "dub_late.wav", "enable_ai": True,
                "ai_model": "wav2vec2", "max_offset_seconds": 10})
            assert r.status_code == 202, r.text
            events, _ = await read_sse(c, r.json()["links"]["stream"], timeout=120)
            assert events[-1].event == "completed", events[-1].data
            windows = [e.data["progress"] for e in events if e.event == "progress"
                       and e.data["progress"]["stage"] == "ai"
                       and e.data["progress"]["window"] is not None]
            assert windows and windows[-1]["message"] == "embedding window 6/6"
            done = (await c.get(f"/api/v1/analysis/{r.json()['analysis_id']}")).json()
            result = done["result"]
            assert abs(result["offset_seconds"] - DUBS["dub_late.wav"]) < 0.001
            ai = next(m for m in result["methods"] if m["method"] == "ai")
            assert ai["diagnostics"]["model"] == "wav2vec2"
            assert abs(ai["offset_seconds"] - DUBS["dub_late.wav"]) < 0.001
            assert done["request"]["ai_model"] == "wav2vec2"
            assert result["options"]["ai_cache_dir"] == str(cache)
            listed = (await c.get("/api/v1/ai/models/wav2vec2")).json()
            assert listed["loaded"] is True and listed["device"] == "cpu"


def test_unavailable_ai_is_cpu_work(make_settings: Callable[..., Settings]) -> None:
    """JOB_BACKEND=celery: an enable_ai analysis whose model cannot run here has only classical
    methods to run, so it goes to the CPU queue, not to CELERY_GPU_QUEUE."""
    from app.jobs.backends.celery_app import ANALYSIS_QUEUE, queue_for

    settings = make_settings(CELERY_GPU_QUEUE="gpu")
    assert queue_for(settings, {"enable_ai": True, "ai_model": "spectral"}) == "gpu"
    assert queue_for(settings, {"enable_ai": True, "ai_unavailable": {"model": "wav2vec2"}}
                     ) == ANALYSIS_QUEUE
    assert queue_for(settings, {"enable_ai": False}) == ANALYSIS_QUEUE
