"""Recommendations and the human report for every verdict (pure functions, synthetic
results with known numbers)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from app.db.models import AnalysisRow
from app.engine.timecode import frames_and_timecodes
from app.engine.timeline import Drift, Edit, Timeline
from app.engine.types import Verdict
from app.services.reports import build_report, recommend, render


def _timeline(verdict: str, model: str, offset: float, *, drift: Drift | None = None,
              edits: tuple[Edit, ...] = ()) -> dict[str, Any]:
    """A timeline as the engine stores it (no windows or segments: none are read here)."""
    return Timeline(Verdict(verdict), f"because {verdict}", model, offset, 1.0, None, None,
                    10.0, 10.0, [], [], list(edits), drift).to_dict()


def _row(verdict: str, offset: float | None, *, status: str = "completed",
         timeline: dict[str, Any] | None = None, confidence: float = 0.95,
         polarity: bool = False, error: dict[str, Any] | None = None) -> AnalysisRow:
    frames, codes = frames_and_timecodes(offset or 0.0)
    info = {"path": "/m/x.wav", "container": "wav", "codec": "pcm_s24le", "sample_rate": 48000,
            "channels": 2, "channel_layout": "stereo", "duration_seconds": 1800.0,
            "stream_index": 0, "analysed_seconds": 1800.0}
    result = None if status != "completed" else {
        "offset_seconds": offset, "confidence": confidence, "reliable": True,
        "verdict": verdict, "reason": f"because {verdict}",
        "offset_samples": None if offset is None else round(offset * 48000),
        "offset_frames": frames, "timecodes": codes, "polarity_inverted": polarity,
        "agreement": 1.0, "support": 0.9, "methods": [], "master": info, "dub": info,
        "overlap_seconds": 1800.0, "findings": [], "timings": {}, "engine_version": "1.0.0",
        "options": {"confidence_threshold": 0.5}, "timeline": timeline}
    now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    return AnalysisRow(id="analysis_20250101_120000_00000000", status=status, batch_id=None,
                       master_file="/m/master.wav", dub_file="/m/dub.wav",
                       master_name="master.wav", dub_name="dub.wav",
                       request={"master_file": "master.wav", "dub_file": "dub.wav",
                                "master_path": "/m/master.wav", "dub_path": "/m/dub.wav",
                                "methods": ["correlation"], "max_offset_seconds": 120.0,
                                "confidence_threshold": 0.5, "label": "EP1"},
                       result=result, error=error, created_at=now, updated_at=now,
                       started_at=now, finished_at=now, attempts=1)


class TestRecommend:
    def test_in_sync(self) -> None:
        assert recommend(_row("in_sync", 0.0004), "25")["action"] == "none"

    def test_less_than_a_frame_is_optional(self) -> None:
        rec = recommend(_row("constant_offset", 0.012), "25")
        assert rec["action"] == "optional_shift"
        assert "12.0 ms late" in rec["summary"] and "0.30 frames at 25 fps" in rec["summary"]
        assert "remove 12.0 ms (576 samples at 48000 Hz)" in rec["summary"]
        assert not rec["details"]  # below the BT.1359 thresholds

    @pytest.mark.parametrize(("offset", "noticed"), [(0.1, False), (0.13, True),
                                                     (-0.05, True), (-0.041, False)])
    def test_one_frame_or_more_is_a_reject(self, offset: float, noticed: bool) -> None:
        rec = recommend(_row("constant_offset", offset), "25")
        assert rec["action"] == "shift" and "reject" in rec["summary"]
        assert ("add" in rec["summary"]) == (offset < 0)
        assert any("BT.1359" in d for d in rec["details"]) == noticed

    def test_polarity_and_moderate_confidence(self) -> None:
        rec = recommend(_row("constant_offset", 0.5, polarity=True, confidence=0.6), "24")
        assert any("polarity" in d for d in rec["details"])
        assert any("spot-check" in d for d in rec["details"])

    def test_drift(self) -> None:
        timeline = _timeline("drift", "drift", 0.1, drift=Drift(
            speed_ratio=1000 / 1001, ppm=-999.0, conversion="1000/1001", pitch_changed=True,
            total_seconds=-1.8))
        rec = recommend(_row("drift", 0.1, timeline=timeline), "25")
        assert rec["action"] == "conform_speed"
        assert "slower" in rec["summary"] and "1000/1001" in rec["summary"]
        assert "+100.0 ms at the start to -1700.0 ms at the end" in rec["summary"]
        assert "re-time by 1.001000" in rec["summary"]
        assert any("resample" in d for d in rec["details"])

    def test_edits(self) -> None:
        timeline = _timeline("edited", "piecewise", 0.2, edits=(Edit(
            master_time_seconds=600.0, kind="removed", duration_seconds=-2.0,
            offset_before_seconds=0.2, offset_after_seconds=-1.8, uncertainty_seconds=0.1),))
        row = _row("edited", 0.2, timeline=timeline)
        rec = recommend(row, "25")
        assert rec["action"] == "conform_edits"
        assert "00:10:00:00 (removed 2.000 s)" in rec["summary"]
        report = build_report(row, fps="25", probes={}, probe_errors={}, versions={})
        assert report["timeline"]["edits"][0]["timecode"] == "00:10:00:00"
        text = render(report, "text")
        assert "00:10:00:00" in text and "removed" in text and "OUT OF SYNC (edits)" in text

    def test_no_reliable_match_and_failure(self) -> None:
        rec = recommend(_row("no_reliable_match", None, confidence=0.1), "25")
        assert rec["action"] == "review" and "±120 s" in " ".join(rec["details"])
        failed = _row("", None, status="failed",
                      error={"code": "audio_decode_error", "message": "cannot decode"})
        assert recommend(failed, "25")["action"] == "rerun"
        report = build_report(failed, fps="25", probes={}, probe_errors={}, versions={})
        assert report["verdict"]["code"] == "failed" and report["offset"] is None
        for fmt in ("text", "markdown", "html"):
            assert "cannot decode" in render(report, fmt)
