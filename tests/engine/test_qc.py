"""The QC gate (app.engine.qc) on synthetic result dicts: presets, both signs, the WARN band,
drift and edits judged on their worst offset, missing programme, no match, tolerances."""

from __future__ import annotations

from typing import Any

import pytest

from app.engine.qc import NO_MATCH_REASON, Tolerance, ToleranceError, judge, parse_tolerance

#: preset → (early limit ms, late limit ms); offset > 0 = dub (audio) late
PRESET_LIMITS = {"one_frame": (40.0, 40.0), "ebu_r37": (40.0, 60.0),
                 "itu_bt1359": (45.0, 125.0)}


def seg(start: float, end: float, off_start_ms: float, off_end_ms: float) -> dict[str, Any]:
    return {"master_start_seconds": start, "master_end_seconds": end,
            "offset_start_seconds": off_start_ms / 1000, "offset_end_seconds": off_end_ms / 1000,
            "windows": 10}


def result(*segments: dict[str, Any], offset_ms: float | None = None,
           missing: list[dict[str, Any]] | None = None, verdict: str = "constant_offset",
           reliable: bool = True) -> dict[str, Any]:
    first = segments[0]["offset_start_seconds"] if segments else (
        None if offset_ms is None else offset_ms / 1000)
    return {"offset_seconds": first, "reliable": reliable, "verdict": verdict,
            "confidence": 0.9 if reliable else 0.1,
            "timeline": {"segments": list(segments), "edits": []} if segments else None,
            "coverage": {"master_start_seconds": 0.0, "master_end_seconds": 1800.0,
                         "missing": missing or [], "fps": 25.0}}


def constant(ms: float) -> dict[str, Any]:
    return result(seg(0.0, 1800.0, ms, ms))


class TestPresets:
    @pytest.mark.parametrize("preset", list(PRESET_LIMITS))
    def test_just_inside_and_outside_each_limit_both_signs(self, preset: str) -> None:
        early, late = PRESET_LIMITS[preset]
        for ms, status in ((late - 0.1, "WARN"), (late, "WARN"), (late + 0.1, "FAIL"),
                           (-(early - 0.1), "WARN"), (-early, "WARN"),
                           (-(early + 0.1), "FAIL")):
            qc = judge(constant(ms), preset)
            assert qc["status"] == status, (preset, ms, qc["reason"])
            assert qc["worst_offset_ms"] == pytest.approx(ms)
            side = "late" if ms > 0 else "early"
            limit = late if ms > 0 else early
            assert f"{side} limit of {limit:.1f} ms" in qc["reason"], qc["reason"]
            assert ("over" in qc["reason"]) == (status == "FAIL")
        assert judge(constant(0.0), preset)["status"] == "PASS"
        assert judge(constant(late * 0.5), preset)["status"] == "PASS"
        assert judge(constant(-early * 0.5), preset)["status"] == "PASS"

    def test_tolerance_reported(self) -> None:
        assert judge(constant(0), "ebu_r37")["tolerance"] == {
            "name": "ebu_r37", "early_ms": 40.0, "late_ms": 60.0, "fps": None}
        assert judge(constant(0), "itu_bt1359")["tolerance"]["late_ms"] == 125.0
        assert judge(constant(0))["tolerance"] == {"name": "one_frame", "early_ms": 40.0,
                                                   "late_ms": 40.0, "fps": 25.0}

    def test_asymmetric(self) -> None:
        # 50 ms late is inside EBU R37 (60 ms late) but 50 ms early is not (40 ms early)
        assert judge(constant(50), "ebu_r37")["status"] == "WARN"
        assert judge(constant(-50), "ebu_r37")["status"] == "FAIL"
        assert judge(constant(100), "itu_bt1359")["status"] == "PASS"  # 100 = 0.8 x 125
        assert judge(constant(-50), "itu_bt1359")["status"] == "FAIL"

    def test_one_frame_at_the_programme_rate(self) -> None:
        # 23.976 fps: a frame is 41.708 ms, compared as shown (41.7 ms)
        assert judge(constant(41.7), "one_frame", fps=23.976)["status"] == "WARN"
        qc = judge(constant(41.8), "one_frame", fps=23.976)
        assert qc["status"] == "FAIL" and qc["tolerance"]["late_ms"] == pytest.approx(41.708)
        assert "(one_frame at 23.976 fps)" in qc["reason"]
        assert judge(constant(33.4), "one_frame", fps=30)["status"] == "FAIL"
        assert judge(constant(-33.3), "one_frame", fps=30)["status"] == "WARN"
        assert judge(constant(41.0), "one_frame", fps=24)["status"] == "WARN"  # 41.667 ms


class TestWarnBand:
    def test_band_edges(self) -> None:
        assert judge(constant(32.0), "one_frame")["status"] == "PASS"  # 0.8 x 40 ms
        assert judge(constant(32.1), "one_frame")["status"] == "WARN"
        assert judge(constant(-32.1), "one_frame")["status"] == "WARN"
        qc = judge(constant(35.0), "one_frame")
        assert qc["reason"] == ("dub 35.0 ms late throughout, within the late limit of 40.0 ms "
                                "(one_frame at 25 fps) but beyond 80% of it")

    def test_configurable(self) -> None:
        assert judge(constant(39.9), "one_frame", 1.0)["status"] == "PASS"
        assert judge(constant(20.1), "one_frame", 0.5)["status"] == "WARN"
        assert judge(constant(20.0), "one_frame", 0.5)["status"] == "PASS"
        with pytest.raises(ToleranceError):
            judge(constant(0), "one_frame", 1.5)


class TestWholeTimeline:
    def test_drift_judged_on_its_end(self) -> None:
        # a 1000/1001 dub: in sync at the start, 180 ms late at the end of 90 minutes
        drift = result(seg(0.0, 5399.96, 0.0, 180.0), verdict="drift")
        assert drift["offset_seconds"] == 0.0  # the old headline
        qc = judge(drift, "one_frame")
        assert qc["status"] == "FAIL"
        assert (qc["offset_start_ms"], qc["offset_end_ms"]) == (0.0, 180.0)
        assert qc["worst_offset_ms"] == qc["max_abs_offset_ms"] == 180.0
        assert qc["worst_at_master_seconds"] == 5399.96
        assert qc["worst_at_timecode"] == "01:29:59:24"
        assert qc["reason"] == ("dub 180.0 ms late at 01:29:59:24, over the late limit of "
                                "40.0 ms (one_frame at 25 fps); from 0.0 ms at the start to "
                                "180.0 ms late at the end")
        assert judge(drift, {"early_ms": 0, "late_ms": 200})["status"] == "WARN"
        assert judge(drift, {"early_ms": 0, "late_ms": 250})["status"] == "PASS"

    def test_edit_judged_on_its_worst_segment(self) -> None:
        # +200 ms until an insertion at 94.84 s, then 2.8 s early
        edited = result(seg(0.0, 94.84, 200.0, 200.0), seg(94.84, 1800.0, -2800.0, -2800.0),
                        verdict="edited")
        qc = judge(edited, "itu_bt1359")
        assert qc["status"] == "FAIL"
        assert qc["worst_offset_ms"] == -2800.0 and qc["max_abs_offset_ms"] == 2800.0
        assert qc["worst_at_timecode"] == "00:01:34:21"
        assert (qc["offset_start_ms"], qc["offset_end_ms"]) == (200.0, -2800.0)
        assert "dub 2800.0 ms early at 00:01:34:21, over the early limit of 45.0 ms" \
            in qc["reason"]

    def test_worst_is_relative_to_its_own_limit(self) -> None:
        # 100 ms late (80 % of 125) is less bad than 50 ms early (111 % of 45)
        r = result(seg(0.0, 600.0, 100.0, 100.0), seg(600.0, 1200.0, -50.0, -50.0),
                   verdict="edited")
        qc = judge(r, "itu_bt1359")
        assert qc["status"] == "FAIL" and qc["worst_offset_ms"] == -50.0
        assert qc["worst_at_master_seconds"] == 600.0
        assert qc["max_abs_offset_ms"] == 100.0 and qc["max_abs_at_master_seconds"] == 0.0
        assert judge(r, {"early_ms": 100, "late_ms": 100})["worst_offset_ms"] == 100.0

    def test_edit_within_tolerance_passes(self) -> None:
        r = result(seg(0.0, 600.0, 10.0, 10.0), seg(600.0, 1200.0, -12.0, -12.0),
                   verdict="edited")
        qc = judge(r, "one_frame")
        assert qc["status"] == "PASS" and qc["worst_offset_ms"] == -12.0
        assert qc["reason"] == ("dub 12.0 ms early at 00:10:00:00, within the early limit of "
                                "40.0 ms (one_frame at 25 fps); from 10.0 ms late at the "
                                "start to 12.0 ms early at the end")

    def test_no_timeline_uses_the_offset(self) -> None:
        qc = judge(result(offset_ms=20.0), "one_frame")
        assert qc["status"] == "PASS" and qc["worst_offset_ms"] == 20.0
        assert qc["offset_start_ms"] == qc["offset_end_ms"] == 20.0
        assert qc["reason"] == ("dub 20.0 ms late throughout, within the late limit of 40.0 ms "
                                "(one_frame at 25 fps)")

    def test_rounding_matches_the_figures(self) -> None:
        qc = judge(constant(40.04), "one_frame")  # shown as 40.0 ms: not over 40.0 ms
        assert qc["status"] == "WARN" and qc["worst_offset_ms"] == 40.0
        qc = judge(constant(40.06), "one_frame")
        assert qc["status"] == "FAIL" and "40.1 ms late" in qc["reason"]
        assert judge(constant(-0.04))["worst_offset_ms"] == 0.0  # no "-0.0"
        assert "0.0 ms throughout" in judge(constant(0.0))["reason"]


class TestFailures:
    def test_missing_programme_fails_with_timecodes(self) -> None:
        r = result(seg(5.0, 1800.0, 10.0, 10.0),
                   missing=[{"part": "head", "start_seconds": 0.0, "end_seconds": 5.0},
                            {"part": "tail", "start_seconds": 1790.0,
                             "end_seconds": 1800.0}])
        qc = judge(r, "one_frame")
        assert qc["status"] == "FAIL"
        assert qc["reason"].startswith("programme missing from the dub: head 00:00:00:00–"
                                       "00:00:05:00 (5.0 s), tail 00:29:50:00–00:30:00:00 "
                                       "(10.0 s); dub 10.0 ms late throughout")
        assert [m["part"] for m in qc["missing"]] == ["head", "tail"]
        assert qc["worst_offset_ms"] == 10.0

    def test_missing_inside_at_the_programme_rate(self) -> None:
        r = result(seg(0.0, 1800.0, 0.0, 0.0),
                   missing=[{"part": "inside", "start_seconds": 60.0, "end_seconds": 62.5}])
        qc = judge(r, "ebu_r37", fps=24)
        assert qc["status"] == "FAIL"
        assert "inside 00:01:00:00–00:01:02:12 (2.5 s)" in qc["reason"]

    @pytest.mark.parametrize("case", [
        {"offset_seconds": None, "reliable": False, "verdict": "no_reliable_match",
         "timeline": None, "coverage": None},
        {"offset_seconds": 0.0, "reliable": False, "verdict": "no_reliable_match"},
        {"offset_seconds": 0.01, "reliable": True, "verdict": "no_reliable_match"},
        {"offset_seconds": None},
    ])
    def test_no_reliable_match_fails(self, case: dict[str, Any]) -> None:
        qc = judge(case, "itu_bt1359")
        assert qc["status"] == "FAIL" and qc["reason"] == NO_MATCH_REASON
        assert qc["reason"] == "no reliable match: sync cannot be confirmed"
        assert qc["worst_offset_ms"] is None and qc["max_abs_offset_ms"] is None
        assert qc["tolerance"]["name"] == "itu_bt1359"


class TestTolerances:
    def test_presets_and_defaults(self) -> None:
        assert parse_tolerance() == Tolerance("one_frame", 40.0, 40.0, 25.0)
        assert parse_tolerance(None, fps=50) == Tolerance("one_frame", 20.0, 20.0, 50.0)
        assert parse_tolerance(" EBU_R37 ") == Tolerance("ebu_r37", 40.0, 60.0)
        assert parse_tolerance("itu_bt1359") == Tolerance("itu_bt1359", 45.0, 125.0)

    def test_custom_ms_and_frames(self) -> None:
        assert parse_tolerance({"early_ms": 5, "late_ms": 15}) == Tolerance("custom", 5, 15)
        t = parse_tolerance({"early_frames": 1, "late_frames": 2})
        assert (t.early_ms, t.late_ms, t.fps) == (40.0, 80.0, 25.0)
        t = parse_tolerance({"early_frames": 1, "late_frames": 2, "fps": 50})
        assert (t.early_ms, t.late_ms, t.fps) == (20.0, 40.0, 50.0)
        t = parse_tolerance({"early_frames": 0.5, "late_frames": 1}, fps=24)
        assert t.fps == 24 and t.late_ms == pytest.approx(1000 / 24)
        assert parse_tolerance('{"early_ms": 10, "late_ms": 20}') == \
            Tolerance("custom", 10, 20)
        qc = judge(constant(25), {"early_frames": 1, "late_frames": 1, "fps": 50})
        assert qc["status"] == "FAIL" and "(custom at 50 fps)" in qc["reason"]
        assert judge(constant(-5.0), {"early_ms": 0, "late_ms": 100})["status"] == "FAIL"

    @pytest.mark.parametrize("bad", [
        "two_frames", "", '{"early_ms": 1', {"early_ms": 10}, {"late_frames": 1},
        {"early_ms": 10, "late_frames": 1, "late_ms": 5}, {"early_ms": -1, "late_ms": 10},
        {"early_ms": True, "late_ms": 10}, {"early_ms": float("nan"), "late_ms": 10},
        {"early_ms": 10, "late_ms": 1e9}, {"early_ms": 10, "late_ms": 10, "fps": 25},
        {"early_frames": 1, "late_frames": 1, "fps": 0}, {"early_ms": 1, "late_ms": 1, "x": 1},
        {"early_ms": "10", "late_ms": 10}, 42, [40, 60],
    ])
    def test_bad_tolerances_are_named(self, bad: Any) -> None:
        with pytest.raises(ToleranceError, match="tolerance"):
            parse_tolerance(bad)
        with pytest.raises(ValueError):  # what pydantic and the settings catch
            judge(constant(0), bad)
