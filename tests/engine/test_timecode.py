"""Offsets as frames and timecode."""

import pytest

from app.engine.timecode import exact_rate, frames_and_timecodes, seconds_to_timecode


class TestTimecode:
    def test_exact_ntsc_rates(self) -> None:
        assert exact_rate(23.976).numerator == 24000
        assert exact_rate(29.97).denominator == 1001
        assert float(exact_rate(25)) == 25.0

    @pytest.mark.parametrize(
        ("seconds", "fps", "expected"),
        [
            (0.0, 25, "00:00:00:00"),
            (1.0, 25, "00:00:01:00"),
            (0.04, 25, "00:00:00:01"),
            (-0.08, 25, "-00:00:00:02"),
            (3661.5, 24, "01:01:01:12"),
            # drop-frame: frame 1800 at 29.97 is 00:01:00;02 (frames 0 and 1 are dropped)
            (1800 / (30000 / 1001), 29.97, "00:01:00;02"),
            (17982 / (30000 / 1001), 29.97, "00:10:00;00"),
        ],
    )
    def test_timecode(self, seconds: float, fps: float, expected: str) -> None:
        assert seconds_to_timecode(seconds, fps) == expected

    def test_frames_keys_and_values(self) -> None:
        frames, codes = frames_and_timecodes(0.5)
        assert set(frames) == {"23.976", "24", "25", "29.97", "30"}
        assert frames["25"] == pytest.approx(12.5)
        assert frames["23.976"] == pytest.approx(0.5 * 24000 / 1001, abs=1e-4)
        assert codes["29.97"].count(";") == 1
