"""``options_for``: the one place a request's analysis options meet the server's defaults."""

from __future__ import annotations

from typing import Any

from app.core.config import Settings
from app.engine import AnalysisOptions
from app.services.options import options_for


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_defaults_come_from_the_settings() -> None:
    s = _settings(DEFAULT_WINDOW_SIZE=12.0, DEFAULT_SAMPLE_RATE=22050,
                  DEFAULT_MAX_OFFSET_SECONDS=60.0, DEFAULT_CONFIDENCE_THRESHOLD=0.4)
    o = options_for({}, s)
    assert o == AnalysisOptions(methods=tuple(s.engine_methods), sample_rate=22050,
                                max_offset_seconds=60.0, confidence_threshold=0.4,
                                window_seconds=12.0, search_whole=True)
    assert options_for({"window_size": None, "sample_rate": None}, s) == o


def test_request_values_win() -> None:
    s = _settings(DEFAULT_WINDOW_SIZE=12.0)
    o = options_for({"methods": ["mfcc"], "sample_rate": 8000, "max_offset_seconds": 5.0,
                     "window_size": 6.0, "confidence_threshold": 0.0, "master_stream": 1,
                     "dub_channel": 2, "frame_rate": 24.0,
                     "master_start_timecode": "01:00:00:00"}, s)
    assert (o.methods, o.sample_rate, o.max_offset_seconds, o.window_seconds) == \
        (("mfcc",), 8000, 5.0, 6.0)
    assert o.confidence_threshold == 0.0 and o.master_stream == 1 and o.dub_channel == 2
    assert o.frame_rate == 24.0 and o.master_start_timecode == "01:00:00:00"
    assert not o.search_whole  # an explicit limit is a local search
    assert options_for({"max_offset_seconds": 5.0, "search_whole": True}, s).search_whole


def test_ai_options_only_for_an_available_ai_request() -> None:
    s = _settings()
    ai = {"ai_model": "spectral", "ai_batch_size": 4, "speech_weighting": True}
    assert options_for({**ai, "enable_ai": True}, s).ai_model == "spectral"
    assert options_for({**ai, "enable_ai": True}, s).ai_batch_size == 4
    assert options_for({**ai, "enable_ai": False}, s).ai_model is None
    assert options_for({**ai, "enable_ai": True, "ai_unavailable": {"x": 1}}, s).ai_model \
        is None
