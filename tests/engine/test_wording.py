"""Reasons in plain sentences (app.engine.wording): the helpers, the reasons the timeline and
the pipeline write, and a real analysis whose reason quotes the offset as its figures do."""

from __future__ import annotations

import re
from pathlib import Path

from app.engine import analyze_files
from app.engine.timeline import Edit, Timeline
from app.engine.types import AnalysisOptions
from app.engine.wording import (
    constant_words,
    edits_words,
    listing,
    offset_words,
    plural,
    sentence,
    sentences,
    signed_ms,
    speed_words,
)
from tests.conftest import DUBS

#: a Python list repr, or a number with more decimals than any figure shows
LOG_LINE = re.compile(r"\[['\"]|\d\.\d{4,}(?! ?ppm)")


class TestHelpers:
    def test_offsets_rounded_as_the_figures(self) -> None:
        assert signed_ms(0.4799995) == "+480.0 ms"  # never "+0.479999 s" next to 480.000 ms
        assert signed_ms(-0.01249) == "-12.5 ms" and signed_ms(-0.00004) == "0.0 ms"
        assert offset_words(0.4799995) == "480.0 ms late"
        assert offset_words(-0.8765) == "876.5 ms early" and offset_words(0.00001) == "0.0 ms"
        assert offset_words(-2233.4567) == "2233.457 s (37 min 13.457 s) early"
        assert offset_words(12.0004) == "12.000 s late"
        assert signed_ms(0.2345, 3) == "+234.500 ms"

    def test_lists_and_counts_in_words(self) -> None:
        assert listing([]) == "" and listing(["correlation"]) == "correlation"
        assert listing(["correlation", "onset"]) == "correlation and onset"
        assert listing(["correlation", "onset", "mfcc"]) == "correlation, onset and mfcc"
        assert plural(1, "edit") == "1 edit" and plural(3, "edit") == "3 edits"
        assert plural(2, "piece of audio", "pieces of audio") == "2 pieces of audio"

    def test_sentences(self) -> None:
        assert sentence("the dub is late") == "The dub is late."
        assert sentence("Done.") == "Done." and sentence("  ") == ""
        assert sentences("a; b", "", "c") == "A; b. C."

    def test_reason_phrases(self) -> None:
        assert constant_words(0.4799995, 0.953) == ("a constant offset: the dub is 480.0 ms "
                                                    "late across 95% of the windows")
        assert speed_words(1000 / 1001, -999.0, "1000/1001") == (
            "runs 999.0 ppm slow (the 1000/1001 conversion, speed ratio 0.999001)")
        assert speed_words(1.0425, 42500.0) == "runs 42500.0 ppm fast (speed ratio 1.042500)"
        edits = [Edit(300.0, "removed", 3.0, 0.2, -2.8), Edit(812.25, "inserted", 1.5, -2.8,
                                                              -1.3)]
        assert edits_words(edits) == ("2 edits: 3.000 s removed at master 300.000 s and "
                                      "1.500 s inserted at master 812.250 s")


class TestEngineReasons:
    def test_shifted_timeline_tells_its_reason_again(self) -> None:
        tl = Timeline("constant_offset", "", "constant", 0.12, 0.97, 0.0001, 0.0002, 10.0, 5.0,
                      [], [], [], None)
        moved = tl.shifted(master_seconds=60.0, offset_seconds=0.3599995)
        assert moved.reason == ("a constant offset: the dub is 480.0 ms late across 97% of "
                                "the windows")
        edited = Timeline("edited", "", "piecewise", 0.2, 0.9, None, None, 10.0, 5.0, [], [],
                          [Edit(10.0, "removed", 2.5, 0.2, -2.3)], None)
        assert edited.shifted(master_seconds=5.0, offset_seconds=0.0).reason == (
            "1 edit: 2.500 s removed at master 15.000 s")

    def test_real_analysis_reason_is_plain(self, media_dir: Path) -> None:
        r = analyze_files(media_dir / "master.wav", media_dir / "dub_late.wav",
                          options=AnalysisOptions(methods=("correlation", "onset")))
        assert r.verdict == "constant_offset" and r.offset_seconds is not None
        shown = f"{r.offset_seconds * 1000:.1f} ms"  # as the figures round it
        assert shown == f"{DUBS['dub_late.wav'] * 1000:.1f} ms"
        assert r.reason.startswith(f"A constant offset: the dub is {shown} late across "), \
            r.reason
        assert "methods agree; confidence" in r.reason and "threshold." in r.reason
        assert "correlation and onset" in r.reason or "onset and correlation" in r.reason
        assert not LOG_LINE.search(r.reason), r.reason
        assert ">=" not in r.reason and "(s)" not in r.reason
