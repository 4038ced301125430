"""The evidence plots (app.services.plots), read back from the figures the functions build:
axis ranges (at least one frame either side of the data, the data inside), no offset notation
on any axis, frames on the secondary axis, master time in programme timecode, every segment and
edit drawn; the envelope view of a real late dub; the QC verdict and plots in the reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from app.engine.qc import judge
from app.engine.timeline import Edit, Segment, Timeline, TimelineWindow
from app.engine.types import AudioInfo, SyncResult, Verdict
from app.engine.wording import qc_pairs
from app.services.plots import (
    envelope_figure,
    envelope_of,
    evidence_moments,
    frame_ms,
    offset_limits,
    png_bytes,
    timeline_figure,
    windows_figure,
)
from app.services.workflow_report import render_html
from tests.conftest import DUBS

TEN_HOURS = 36000.0  # programme start 10:00:00:00


def _window(t0: float, offset: float, *, status: str = "ok", residual: float = 0.0001
            ) -> TimelineWindow:
    return TimelineWindow(start_seconds=t0, end_seconds=t0 + 10.0, offset_seconds=offset,
                          confidence=0.9, source="gcc", status=status,
                          residual_seconds=residual)


def _result(kind: str, duration: float = 600.0) -> dict[str, Any]:
    """A result like the engine's: constant +234.5 ms, a 1000/1001 drift 0 → +180 ms, or an
    edit at 300 s (+200 ms, then -2800 ms)."""
    if kind == "constant":
        def at(t: float) -> float:
            return 0.2345
        segments = [(0.0, duration, 0.2345, 0.2345)]
        edits: list[Edit] = []
        verdict, model = Verdict.CONSTANT_OFFSET, "constant"
    elif kind == "drift":
        def at(t: float) -> float:
            return 0.18 * t / duration
        segments = [(0.0, duration, 0.0, 0.18)]
        edits, verdict, model = [], Verdict.DRIFT, "drift"
    else:
        def at(t: float) -> float:
            return 0.2 if t < 300 else -2.8
        segments = [(0.0, 300.0, 0.2, 0.2), (300.0, duration, -2.8, -2.8)]
        edits = [Edit(master_time_seconds=300.0, kind="removed", duration_seconds=3.0,
                      offset_before_seconds=0.2, offset_after_seconds=-2.8,
                      uncertainty_seconds=0.01)]
        verdict, model = Verdict.EDITED, "piecewise"
    windows = [_window(t0, at(t0 + 5.0)) for t0 in np.arange(0.0, duration - 9.0, 5.0)]
    windows.append(_window(100.0, 9.0, status="outlier"))  # far off: must not set the scale
    timeline = Timeline(verdict, str(verdict), model, at(0.0), 1.0, None, None, 10.0, 5.0,
                        windows, [Segment(a, b, c, d, 10) for a, b, c, d in segments], edits,
                        None)
    info = AudioInfo(path="/m/x.wav", container="wav", codec="pcm_s16le", sample_rate=48000,
                     channels=1, channel_layout=None, duration_seconds=duration,
                     stream_index=0)
    result = SyncResult(
        offset_seconds=at(0.0), confidence=0.95, reliable=True, verdict=verdict,
        reason=str(verdict), offset_samples=None, offset_frames={}, timecodes={},
        polarity_inverted=False, agreement=1.0, support=1.0, methods=[], master=info,
        dub=info, overlap_seconds=duration, timeline=timeline.to_dict(),
        programme_timecode={"fps": 25, "master": {"seconds": TEN_HOURS},
                            "dub": {"seconds": TEN_HOURS}, "drop_frame": False}).to_dict()
    result["qc"] = judge(result)
    return result


def _no_offset_text(fig: Figure) -> None:
    """After drawing, no axis of ``fig`` shows matplotlib's offset or scientific notation."""
    fig.canvas.draw()
    for ax in [*fig.axes, *(c for a in fig.axes for c in a.child_axes)]:
        for axis in (ax.xaxis, ax.yaxis):
            assert axis.get_offset_text().get_text() == "", axis


def _x(line: Line2D) -> float:
    """The first x of a line."""
    return float(np.asarray(line.get_xdata(), dtype=float)[0])


def _frames_axis(ax: Axes) -> Any:
    """The secondary (frames) axis of ``ax``."""
    children = list(ax.child_axes)
    assert len(children) == 1, children
    assert children[0].get_ylabel().startswith("frames at 25 fps")
    return children[0]


class TestOffsetLimits:
    def test_at_least_one_frame_each_side(self) -> None:
        assert offset_limits([234.5, 234.5], 25.0) == (194.5, 274.5)
        lo, hi = offset_limits([234.5001, 234.4999], 23.976)
        assert hi - lo == pytest.approx(2 * frame_ms(23.976)) and lo < 234.4999 < hi
        assert offset_limits([], 25.0) == (-40.0, 40.0)

    def test_wide_data_keeps_its_range_plus_margin(self) -> None:
        lo, hi = offset_limits([-2800.0, 200.0], 25.0)
        assert lo < -2800.0 and hi > 200.0 and hi - lo == pytest.approx(3000 * 1.15)


class TestTimelineFigure:
    def test_constant_offset_is_a_flat_line_with_a_frame_of_span(self) -> None:
        fig = timeline_figure(_result("constant"))
        ax = fig.axes[0]
        lo, hi = ax.get_ylim()
        assert (lo, hi) == pytest.approx((194.5, 274.5))  # not microseconds around 234.5
        assert ax.get_xlim() == pytest.approx((0.0, 600.0))
        fig.canvas.draw()  # a secondary axis takes its limits when drawn
        frames = _frames_axis(ax)
        assert frames.get_ylim() == pytest.approx((194.5 / 40, 274.5 / 40))
        _no_offset_text(fig)
        fmt = ax.xaxis.get_major_formatter()
        labels = [fmt(t) for t in ax.get_xticks() if 0.0 <= t <= 600.0]
        assert labels[0] == "10:00:00:00" and "10:10:00:00" in labels, labels
        assert "ms" in ax.get_ylabel() and "QC FAIL" in ax.get_title()
        assert any("+234.5 ms" in t.get_text() for t in ax.texts)

    def test_drift_spans_start_to_end(self) -> None:
        fig = timeline_figure(_result("drift"))
        lo, hi = fig.axes[0].get_ylim()
        assert lo < 0.0 < 180.0 < hi and hi - lo < 1.3 * 180.0
        assert any("+0.0 → +180.0 ms" in t.get_text() for t in fig.axes[0].texts)
        _no_offset_text(fig)

    def test_every_segment_and_edit_marked(self) -> None:
        fig = timeline_figure(_result("edited"))
        ax = fig.axes[0]
        lo, hi = ax.get_ylim()
        assert lo < -2800.0 and 200.0 < hi < 1000.0  # the outlier at +9 s is off the scale
        texts = [t.get_text() for t in ax.texts]
        assert any(t.startswith("segment 1: +200.0 ms") for t in texts), texts
        assert any(t.startswith("segment 2: -2800.0 ms") for t in texts), texts
        assert any("removed 3.000 s" in t and "10:05:00:00" in t for t in texts), texts
        edit_lines = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
        assert len(edit_lines) == 1 and _x(edit_lines[0]) == 300.0
        _no_offset_text(fig)

    def test_repaired_panel_within_a_frame(self) -> None:
        after = _result("constant")
        for w in after["timeline"]["windows"]:
            w["offset_seconds"] = 0.0002
        fig = timeline_figure(_result("constant"), after=after)
        bottom = [a for a in fig.axes if a.get_title().startswith("After repair")][0]
        assert bottom.get_ylim() == pytest.approx((-40 + 0.1, 40 + 0.1), abs=0.2)
        _no_offset_text(fig)


class TestWindowsFigure:
    def test_drift_windows_and_residuals(self) -> None:
        fig = windows_figure(_result("drift"))
        top, bottom = [a for a in fig.axes if a.get_title()][:2]
        assert top.get_title().startswith("Offset measured in each window (10 s windows)")
        assert top.get_ylim()[0] < 0.0 and top.get_ylim()[1] > 180.0
        assert bottom.get_ylim() == pytest.approx((-40.0 + 0.05, 40.0 + 0.05), abs=0.1)
        _no_offset_text(fig)


class TestEnvelopes:
    def test_moments_largest_error_and_each_edit(self) -> None:
        constant = evidence_moments(_result("constant"))
        assert len(constant) == 1 and constant[0].master_seconds == 300.0
        assert constant[0].label == "largest error: dub 234.5 ms late at 10:05:00:00"
        edited = evidence_moments(_result("edited"))
        assert [m.label.split(":")[0] for m in edited] == ["largest error", "removed 3.000 s at 10"]
        assert edited[0].dub_offsets == (-2.8,) and edited[0].half_width >= 3.8
        assert edited[1].dub_offsets == (0.2, -2.8)

    def test_late_dub_envelope_view(self, media_dir: Path) -> None:
        result = _result("constant", duration=30.0)
        master = envelope_of(media_dir / "master.wav")
        dub = envelope_of(media_dir / "dub_late.wav")
        assert master.db.size == pytest.approx(30.0 / master.hop_seconds, abs=2)
        # the dub's envelope is the master's, later by the offset (to the hop)
        a, b = master.db[400:4000], dub.db[400:4000]
        lags = range(0, 100)
        best = max(lags, key=lambda k: float(np.corrcoef(a[: a.size - k], b[k:])[0, 1]))
        assert abs(best * dub.hop_seconds - DUBS["dub_late.wav"]) <= dub.hop_seconds
        fig = envelope_figure(result, master, dub, master)
        ax = fig.axes[0]
        assert [t.get_text() for t in ax.get_yticklabels()] == ["master", "dub", "repaired dub"]
        assert ax.get_xlim() == pytest.approx((13.0, 17.0))
        ticks = [ax.xaxis.get_major_formatter()(t) for t in ax.get_xticks() if 13 <= t <= 17]
        assert ticks[0] == "10:00:13:00" and ticks[-1] == "10:00:17:00", ticks
        markers = [_x(line) for line in ax.get_lines() if line.get_linestyle() == ":"]
        assert sorted(markers) == pytest.approx([15.0, 15.0, 15.2345])
        _no_offset_text(fig)
        assert png_bytes(fig)[:8] == b"\x89PNG\r\n\x1a\n"


class TestReportsShowQc:
    def test_qc_rows_in_words(self) -> None:
        rows = dict(qc_pairs(_result("edited")["qc"]))
        assert rows["Status"] == "FAIL"
        assert rows["Tolerance"] == ("one_frame at 25 fps: audio at most 40.0 ms early and "
                                     "40.0 ms late")
        assert rows["Worst offset"].startswith("-2800.0 ms at ")
        assert rows["At the start → at the end"] == "+200.0 ms → -2800.0 ms"
        assert rows["Reason"].startswith("Dub 2800.0 ms early") and rows["Reason"].endswith(".")

    def test_workflow_html_report_has_qc_tables_and_plots(self) -> None:
        result = _result("constant")
        report = {"workflow_id": "wf_1", "master_file": "m.wav", "dub_file": "d.wav",
                  "analysis": result, "qc": result["qc"], "decision": {"action": "repair"},
                  "plots": ["timeline.png", "envelope.png"]}
        page = render_html(report)
        assert "<th>QC</th><td>FAIL</td>" in page and "QC tolerance" in page
        assert "src='plots/timeline.png'" in page and "src='plots/envelope.png'" in page
