"""``/api/v1/repair``: per-channel repair (typed or measured offsets, interleaved or multi-mono)
and repair from an analysis, through the real app, engine and ffmpeg."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from app.core.config import Settings
from app.engine.repair import read_audio
from tests.api.helpers import running_app, wait_status
from tests.conftest import DUBS, SR

DURATION = 20.0
#: L R C LFE Ls Rs, seconds (> 0 = late), whole samples at 48 kHz
OFFSETS = [0.0, 0.01, 0.12, -0.02, 0.0005, -0.0015]


def _programme51(seed: int) -> np.ndarray:
    """Six independent broadband noise channels with a random loudness envelope."""
    rng = np.random.default_rng(seed)
    n = int(DURATION * SR)
    x = rng.standard_normal((n, 6)).astype(np.float32) * 0.2
    env = np.repeat(rng.uniform(0.05, 1.0, (n // 4800 + 1, 6)), 4800, axis=0)[:n]
    return (x * env).astype(np.float32)


def _write(path: Path, x: np.ndarray, layout: str | None) -> Path:
    ch = 1 if x.ndim == 1 else x.shape[1]
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "f32le", "-ar", str(SR), "-ac", str(ch)]
    if layout:
        cmd += ["-channel_layout", layout]
    subprocess.run([*cmd, "-i", "pipe:0", "-c:a", "pcm_s24le", str(path)],
                   input=np.ascontiguousarray(x, np.float32).tobytes(), check=True)
    return path


@pytest.fixture(scope="module")
def mount51(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """(folder with master51.wav, dub51.wav (OFFSETS per channel) and dub51_<c>.wav mono
    files, the dub as written (n, 6))."""
    root = tmp_path_factory.mktemp("mount51")
    master = _programme51(3)
    _write(root / "master51.wav", master, "5.1")
    dub = np.zeros_like(master)
    for c, off in enumerate(OFFSETS):
        k = int(round(off * SR))
        src = 0.9 * master[:, c] + 0.003 * np.random.default_rng(c).standard_normal(
            master.shape[0]).astype(np.float32)
        dub[:, c] = np.concatenate([np.zeros(k), src])[: dub.shape[0]] if k >= 0 else \
            np.concatenate([src[-k:], np.zeros(-k)])
    _write(root / "dub51.wav", dub, "5.1")
    for c in range(6):
        _write(root / f"dub51_{c}.wav", dub[:, c], None)
    written, _ = read_audio(root / "dub51.wav")
    return root, written


class TestPerChannel:
    async def test_typed_offsets_are_applied_sample_for_sample(
            self, make_settings: Callable[..., Settings], mount51: tuple) -> None:
        root, dub = mount51
        async with running_app(make_settings(MOUNT_PATH=root)) as (_, client):
            r = await client.post("/api/v1/repair/per-channel", json={
                "dub_file": "dub51.wav", "master_file": "master51.wav",
                "offsets_seconds": OFFSETS, "match_master_duration": True,
                "output_name": "ep1_fixed"})
            assert r.status_code == 201, r.text
            body = r.json()
            assert r.headers["location"] == f"/api/v1/repair/{body['repair_id']}"
            assert [c["label"] for c in body["channels"]] == ["L", "R", "C", "LFE", "Ls", "Rs"]
            assert [c["offset_samples"] for c in body["channels"]] == \
                [int(round(o * SR)) for o in OFFSETS]
            out = body["outputs"][0]
            assert out["name"] == "ep1_fixed.wav"
            assert (out["codec"], out["bits"], out["sample_rate"], out["channels"],
                    out["channel_layout"]) == ("pcm_s24le", 24, SR, 6, "5.1")
            assert out["duration_seconds"] == pytest.approx(DURATION, abs=1 / SR)
            v = body["verification"]
            assert v["passed"] is True and v["measured"] == 6, v
            for row in v["channels"]:  # channel by channel, measured again
                assert abs(row["residual_offset_seconds"]) <= 0.001, row

            audio = await client.get(out["download"])
            assert audio.status_code == 200
            assert hashlib.sha256(audio.content).hexdigest() == out["sha256"]
            path = make_settings(MOUNT_PATH=root).output_root / "repairs" / \
                body["repair_id"] / out["name"]
            y, _ = read_audio(path)
            for c, off in enumerate(OFFSETS):  # bit for bit, shifted
                k = int(round(off * SR))
                n = dub.shape[0]
                expected = dub[k:, c] if k >= 0 else np.concatenate(
                    [np.zeros(-k, np.float32), dub[: n + k, c]])
                np.testing.assert_array_equal(y[: expected.size, c], expected)

            again = await client.get(f"/api/v1/repair/{body['repair_id']}")
            assert again.status_code == 200 and again.json()["outputs"] == body["outputs"]

    async def test_measured_offsets_of_a_multi_mono_set(
            self, make_settings: Callable[..., Settings], mount51: tuple) -> None:
        root, _ = mount51
        async with running_app(make_settings(MOUNT_PATH=root)) as (_, client):
            r = await client.post("/api/v1/repair/per-channel", json={
                "dub_files": [f"dub51_{c}.wav" for c in range(6)],
                "master_file": "master51.wav"})
            assert r.status_code == 201, r.text
            body = r.json()
            assert len(body["outputs"]) == 6
            assert all(o["channels"] == 1 and o["bits"] == 24 for o in body["outputs"])
            for c, truth in zip(body["channels"], OFFSETS, strict=True):
                assert c["source"] == "measured"
                assert c["offset_seconds"] == pytest.approx(truth, abs=0.0002), c
            measured = body["analysis"]["channels"]
            assert all(m["reference"].startswith("master channel") for m in measured)
            v = body["verification"]
            assert v["passed"] and max(abs(c["residual_offset_seconds"])
                                       for c in v["channels"]) <= 0.001, v

    async def test_bad_requests(self, make_settings: Callable[..., Settings],
                                mount51: tuple) -> None:
        root, _ = mount51
        async with running_app(make_settings(MOUNT_PATH=root)) as (_, client):
            r = await client.post("/api/v1/repair/per-channel", json={
                "dub_file": "dub51.wav", "dub_files": ["dub51_0.wav"], "offsets_seconds": [0]})
            assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
            r = await client.post("/api/v1/repair/per-channel", json={
                "dub_file": "dub51.wav", "offsets_seconds": [0.1, 0.2]})
            assert r.status_code == 422
            assert r.json()["error"]["code"] == "invalid_parameter"
            assert "6 channels" in r.json()["error"]["message"]
            r = await client.post("/api/v1/repair/per-channel", json={
                "dub_file": "/etc/passwd", "offsets_seconds": [0.1]})
            assert r.status_code == 403
            r = await client.post("/api/v1/repair/per-channel", json={
                "dub_files": ["dub51.wav"], "master_file": "master51.wav"})
            assert r.status_code == 422 and "must be mono" in r.json()["error"]["message"]
            r = await client.get("/api/v1/repair/repair_20250101_000000_00000000")
            assert r.status_code == 404 and r.json()["error"]["code"] == "repair_not_found"
            # a 10 ms file shifted by 1 s would be left with no audio: refused, not an empty WAV
            _write(root / "tiny.wav", np.full(480, 0.1, np.float32), None)
            r = await client.post("/api/v1/repair/per-channel", json={
                "dub_file": "tiny.wav", "offsets_seconds": [1.0]})
            assert r.status_code == 422, r.text
            assert r.json()["error"]["code"] == "invalid_parameter"
            assert "would leave no audio" in r.json()["error"]["message"]
            out = make_settings(MOUNT_PATH=root).output_root / "repairs"
            assert not out.exists() or not any(out.iterdir())  # nothing left behind


class TestFromAnalysis:
    async def test_constant_offset_repaired_from_the_result(
            self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings()) as (_, client):
            r = await client.post("/api/v1/analysis/sync", json={
                "master_file": "master.wav", "dub_file": "dub_late.wav"})
            aid = r.json()["analysis_id"]
            done = await wait_status(client, aid)
            assert done["status"] == "completed"
            r = await client.post("/api/v1/repair/from-analysis", json={
                "analysis_id": aid, "match_master_duration": True, "output_format": "flac"})
            assert r.status_code == 201, r.text
            body = r.json()
            assert body["kind"] == "constant"
            assert body["outputs"][0]["codec"] == "flac" and body["outputs"][0]["bits"] == 16
            v = body["verification"]
            assert v["passed"] and abs(v["residual_offset_seconds"]) <= 0.001, v
            assert body["plan"]["segments"][0]["offset_seconds"] == \
                pytest.approx(DUBS["dub_late.wav"], abs=0.0005)

    async def test_unknown_or_unfinished_analysis(
            self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings()) as (_, client):
            r = await client.post("/api/v1/repair/from-analysis", json={
                "analysis_id": "analysis_20250101_000000_00000000"})
            assert r.status_code == 404


class TestRepairsOffTheRequestPath:
    async def test_api_stays_fast_under_60_concurrent_repairs(
            self, make_settings: Callable[..., Settings], mount51: tuple) -> None:
        """60 repairs at once: the first REPAIR_MAX_PENDING run in the repair pool, the rest get
        503 + Retry-After at once; GET /analysis/{id}, /health and /files answer quickly all
        the while (they used to wait ~20 s for threads that repairs held)."""
        import asyncio
        import time

        root, _ = mount51
        settings = make_settings(MOUNT_PATH=root, MAX_WORKERS=2, REPAIR_MAX_PENDING=4)
        async with running_app(settings) as (_, client):
            r = await client.post("/api/v1/analysis/sync", json={
                "master_file": "master51.wav", "dub_file": "master51.wav",
                "methods": ["correlation"]})
            aid = r.json()["analysis_id"]
            await wait_status(client, aid)
            # health runs ffmpeg -version and reads the system once, then caches: warm it, so
            # that what is timed below is waiting for a thread, not that first check
            assert (await client.get("/api/v1/health")).status_code == 200
            body = {"dub_file": "dub51.wav", "master_file": "master51.wav"}  # measured: slow
            repairs = [asyncio.create_task(client.post("/api/v1/repair/per-channel", json=body))
                       for _ in range(60)]
            await asyncio.sleep(0.3)
            worst = 0.0
            for _ in range(10):
                for url in (f"/api/v1/analysis/{aid}", "/api/v1/health", "/api/v1/files"):
                    t0 = time.perf_counter()
                    got = await client.get(url)
                    worst = max(worst, time.perf_counter() - t0)
                    assert got.status_code == 200, (url, got.text)
                await asyncio.sleep(0.05)
            done = await asyncio.gather(*repairs)
        codes = sorted(d.status_code for d in done)
        assert codes.count(201) == 4 and codes.count(503) == 56, codes
        busy = next(d for d in done if d.status_code == 503)
        assert busy.headers["Retry-After"] == "5"
        assert busy.json()["error"]["code"] == "repair_queue_full"
        assert worst < 1.0, f"slowest GET during the repairs took {worst:.2f} s"


class TestRewiring:
    async def test_swapped_and_inverted_channels_are_put_right(
            self, make_settings: Callable[..., Settings], mount51: tuple) -> None:
        """A 5.1 dub with L/R swapped and Ls inverted (and every channel 25 ms late): the
        measured per-channel repair re-wires, flips and shifts it; the verification passes
        and each output channel equals the master's own, sample for sample in shape."""
        root, _ = mount51
        master, _ = read_audio(root / "master51.wav")
        k = int(round(0.025 * SR))
        dub = np.concatenate([np.zeros((k, 6), np.float32), 0.9 * master[:-k]])
        dub = dub[:, [1, 0, 2, 3, 4, 5]]
        dub[:, 4] *= -1.0
        _write(root / "wired51.wav", dub, "5.1")
        settings = make_settings(MOUNT_PATH=root)
        async with running_app(settings) as (_, client):
            r = await client.post("/api/v1/repair/per-channel", json={
                "dub_file": "wired51.wav", "master_file": "master51.wav",
                "match_master_duration": True, "output_name": "rewired"})
            assert r.status_code == 201, r.text
            body = r.json()
        check = body["analysis"]["channel_check"]
        kinds = sorted(f["kind"] for f in check["faults"])
        assert kinds == ["inverted", "swapped"], check["faults"]
        assert body["verification"]["passed"], body["verification"]
        out, _ = read_audio(settings.output_root / "repairs" / body["repair_id"]
                            / body["outputs"][0]["name"])
        n = min(out.shape[0], master.shape[0]) - k
        for c in range(6):  # the repaired channel c is 0.9 × the master's channel c
            r_c = np.corrcoef(out[:n, c], master[:n, c])[0, 1]
            assert r_c > 0.999, (c, r_c)
