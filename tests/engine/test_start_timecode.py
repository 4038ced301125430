"""Programme timecode: timecode labels parsed and written (drop-frame included), each file's
start read from its tags (BWF time_reference, MXF timecode, MOV tmcd), the request's start
overriding it, and the engine telling master positions on the programme's clock."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.engine import AnalysisOptions, ParameterError, analyze_files, probe
from app.engine.start_timecode import ProgrammeClock, clock_of, programme_timecode
from app.engine.timecode import (
    TimecodeError,
    frames_to_timecode,
    parse_timecode,
    seconds_to_timecode,
)
from tests.timecode_media import SR, noise_programme, write_bwf, write_with_video

TEN_HOURS = 36000.0


class TestLabels:
    @pytest.mark.parametrize(("label", "fps", "frames", "drop"), [
        ("00:00:00:00", 25, 0, False),
        ("10:00:00:00", 25, 900_000, False),
        ("01:02:03:04", 24, (3600 + 120 + 3) * 24 + 4, False),
        ("00:01:00;02", 29.97, 1800, True),       # frames 0 and 1 of minute 1 are dropped
        ("00:10:00;00", 29.97, 17982, True),      # every tenth minute keeps them
        ("10:00:00;00", 29.97, 1_078_920, True),
        ("10:00:00:00", 29.97, 1_080_000, False),  # non-drop at 29.97 counts every label
    ])
    def test_round_trip(self, label: str, fps: float, frames: int, drop: bool) -> None:
        assert parse_timecode(label, fps) == (frames, drop)
        assert frames_to_timecode(frames, fps, drop=drop) == label

    def test_matches_the_offset_timecodes_below_a_day(self) -> None:
        for fps in (23.976, 25, 29.97, 30):
            for frames in (0, 1, 1799, 1800, 17982, 107_892, 2_000_000):
                seconds = frames / (30000 / 1001 if fps == 29.97 else
                                    24000 / 1001 if fps == 23.976 else fps)
                assert frames_to_timecode(frames, fps) == seconds_to_timecode(seconds, fps)

    def test_a_day_wraps(self) -> None:
        assert frames_to_timecode(25 * 86400 + 3, 25) == "00:00:00:03"
        assert ProgrammeClock(25.0, master_start_seconds=86399.0).master(2.0) == "00:00:01:00"

    @pytest.mark.parametrize(("label", "fps", "words"), [
        ("1:2:3", 25, "expected HH:MM:SS:FF"),
        ("24:00:00:00", 25, "hours 00-23"),
        ("00:60:00:00", 25, "minutes and seconds 00-59"),
        ("00:00:00:25", 25, "frame 25 does not exist at 25 fps"),
        ("00:00:00;00", 25, "drop-frame (';') exists at 29.97 and 59.94"),
        ("00:01:00;01", 29.97, "this label does not exist"),
    ])
    def test_invalid(self, label: str, fps: float, words: str) -> None:
        with pytest.raises(TimecodeError, match=r".*") as err:
            parse_timecode(label, fps)
        assert words in str(err.value) and repr(label) in str(err.value)


@pytest.fixture(scope="module")
def tagged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same 20-s noise as BWF (10:00:00:00 at 48 kHz), plain WAV, MXF at 25 fps and MOV
    at 29.97 drop-frame; and a dub late by 0.5 s as a plain WAV."""
    d = tmp_path_factory.mktemp("tagged")
    x = noise_programme(20.0, seed=3)
    late = np.concatenate([np.zeros(SR // 2, np.float32), x])
    return {
        "bwf": write_bwf(d / "master_bwf.wav", x, time_reference=int(TEN_HOURS * SR)),
        "wav": write_bwf(d / "master.wav", x, time_reference=None),
        "mxf": write_with_video(d / "master.mxf", x, timecode="10:00:00:00"),
        "mov": write_with_video(d / "master.mov", x, timecode="01:00:00;00",
                                fps="30000/1001"),
        "dub": write_bwf(d / "dub.wav", late, time_reference=None),
    }


class TestFileTags:
    def test_bwf_time_reference(self, tagged: dict[str, Path]) -> None:
        tc = probe(tagged["bwf"]).start_timecode
        assert tc == {"tag": "time_reference", "samples": 1_728_000_000, "sample_rate": SR,
                      "seconds": TEN_HOURS, "where": "bext chunk (BWF)"}
        assert probe(tagged["wav"]).start_timecode is None

    def test_mxf_timecode(self, tagged: dict[str, Path]) -> None:
        tc = probe(tagged["mxf"]).start_timecode
        assert tc is not None and tc["tag"] == "timecode"
        assert (tc["timecode"], tc["fps"]) == ("10:00:00:00", 25.0)

    def test_mov_tmcd_drop_frame(self, tagged: dict[str, Path]) -> None:
        tc = probe(tagged["mov"]).start_timecode
        assert tc is not None and (tc["timecode"], tc["fps"]) == ("01:00:00;00", 29.97)
        assert "tmcd" in tc["where"]
        record = programme_timecode(tc, None)
        assert (record["fps"], record["fps_source"]) == (29.97, "master file timecode")
        assert record["master"]["timecode"] == "01:00:00;00" and record["drop_frame"]
        # 01:00:00;00 drop-frame is 107892 frames = 3599.9964 s of real time
        assert record["master"]["seconds"] == pytest.approx(107892 * 1001 / 30000, abs=1e-6)
        # 1800 frames (60.06 s) later: minute 1's first two labels are dropped
        assert clock_of(record).master(1800 * 1001 / 30000) == "01:01:00;02"
        assert clock_of(record).master(60.0) == "01:00:59;28"  # 60 s = 1798.2 frames


class TestResolution:
    def test_request_overrides_the_file(self) -> None:
        tag = {"tag": "timecode", "timecode": "10:00:00:00", "fps": 25.0, "where": "format"}
        record = programme_timecode(tag, None, master_start="09:59:50:00",
                                    dub_start="01:00:00:00")
        assert record["master"]["source"] == "request"
        assert record["master"]["file_timecode"] == "10:00:00:00"
        assert record["master"]["seconds"] == pytest.approx(TEN_HOURS - 10)
        assert record["dub"] == {**record["dub"], "source": "request", "seconds": 3600.0}

    def test_none(self) -> None:
        record = programme_timecode(None, None)
        assert (record["fps"], record["fps_source"]) == (25.0, "default")
        assert record["master"]["source"] == record["dub"]["source"] == "none"
        assert record["master"]["timecode"] == "00:00:00:00"

    def test_a_drop_frame_request_alone_means_29_97(self) -> None:
        record = programme_timecode(None, None, master_start="01:00:00;00")
        assert (record["fps"], record["fps_source"]) == (29.97, "drop-frame start timecode")

    def test_bad_request_names_the_field(self) -> None:
        with pytest.raises(TimecodeError, match="dub_start_timecode: timecode '00:00:00:30'"):
            programme_timecode(None, None, dub_start="00:00:00:30")
        with pytest.raises(ParameterError, match="master_start_timecode"):
            AnalysisOptions(master_start_timecode="10:00:00;00", frame_rate=25).validate()


class TestEngine:
    def test_bwf_master_timecodes(self, tagged: dict[str, Path]) -> None:
        r = analyze_files(tagged["bwf"], tagged["dub"]).to_dict()
        assert r["offset_seconds"] == pytest.approx(0.5, abs=1e-3)
        prog = r["programme_timecode"]
        assert prog["master"] == {**prog["master"], "timecode": "10:00:00:00",
                                  "source": "file", "tag": "time_reference"}
        assert prog["dub"]["source"] == "none"
        assert r["master"]["start_timecode"]["samples"] == 1_728_000_000
        cov = r["coverage"]
        assert cov["master_start_timecode"] == "10:00:00:00"
        assert cov["master_end_timecode"] == "10:00:20:00"
        # the dub's 0.5-s head beyond the master is told on the dub's own (zero) clock
        assert cov["dub_extra"][0]["start_timecode"] == "00:00:00:00"
        assert r["timecodes"]["25"] == "00:00:00:12"  # an offset: a duration, not shifted

    def test_request_start_on_a_plain_wav(self, tagged: dict[str, Path]) -> None:
        opts = AnalysisOptions(master_start_timecode="01:00:00:00", frame_rate=24)
        r = analyze_files(tagged["wav"], tagged["dub"], options=opts).to_dict()
        assert r["programme_timecode"]["master"]["source"] == "request"
        assert r["coverage"]["master_end_timecode"] == "01:00:20:00"
        assert r["coverage"]["fps"] == 24

    def test_mxf_master(self, tagged: dict[str, Path]) -> None:
        r = analyze_files(tagged["mxf"], tagged["dub"]).to_dict()
        assert r["offset_seconds"] == pytest.approx(0.5, abs=1e-3)
        assert r["programme_timecode"]["fps_source"] == "master file timecode"
        assert r["coverage"]["master_end_timecode"] == "10:00:20:00"
