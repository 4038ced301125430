"""AnalysisOptions validation names the bad value."""

import pytest

from app.engine import AnalysisOptions, ParameterError


class TestOptions:
    @pytest.mark.parametrize(
        ("kwargs", "needle"),
        [
            ({"methods": ("nope",)}, "nope"),
            ({"methods": ()}, "methods"),
            ({"sample_rate": 100}, "sample_rate=100"),
            ({"max_offset_seconds": 601}, "max_offset_seconds=601"),
            ({"confidence_threshold": 2}, "confidence_threshold=2"),
            ({"dub_channel": -1}, "dub_channel=-1"),
        ],
    )
    def test_bad_values(self, kwargs: dict, needle: str) -> None:
        with pytest.raises(ParameterError, match=needle):
            AnalysisOptions(**kwargs).validate()

    def test_defaults_valid(self) -> None:
        opts = AnalysisOptions().validate()
        assert opts.max_offset_seconds == 120.0 and "correlation" in opts.methods
