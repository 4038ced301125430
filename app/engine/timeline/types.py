"""Data of the timeline: the speed estimate, windows, drift, segments, edits, the timeline
itself, a window scan, and the constants (named speed conversions, thresholds).

Units: times and offsets in seconds (master time ``t``; offset = ``dub_time(t) - t``, > 0 =
dub late); speed ratios are the dub's speed relative to the master (> 1 = dub runs fast);
ppm = (ratio − 1)·1e6. No sample or frame counts are stored here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from typing import Any

from app.engine.types import IN_SYNC_SECONDS, Verdict, verdict_of
from app.engine.wording import constant_words, edits_words

#: Standard speed conversions: name → dub speed relative to the master.
NAMED_CONVERSIONS: dict[str, Fraction] = {
    "1000/1001": Fraction(1000, 1001),
    "1001/1000": Fraction(1001, 1000),
    "25/24": Fraction(25, 24),
    "24/25": Fraction(24, 25),
    "25/23.976": Fraction(25 * 1001, 24000),
    "23.976/25": Fraction(24000, 25 * 1001),
}

#: Thresholds of the model and the verdict (reported with every timeline).
THRESHOLDS: dict[str, float] = {
    "in_sync_seconds": IN_SYNC_SECONDS,
    "edit_jump_seconds": 0.02,
    "drift_min_ppm": 10.0,
    "drift_min_total_seconds": 0.001,
    "drift_min_sigmas": 5.0,
    "named_conversion_tolerance_ppm": 60.0,
    "window_min_zscore": 7.0,
    "feature_min_zscore": 6.0,
    "min_coverage": 0.5,
    "max_edits_per_minute": 0.75,
    # a resampled dub (pitch changed) warped back matches the master sample for sample: its
    # windows sit within ~0.01 ms of the line; a time-stretched one (pitch kept, WSOLA) keeps
    # the stretcher's own jitter of a few ms (median |residual| >= ~0.7 ms on the bench)
    "pitch_changed_max_residual_seconds": 0.0003,
}


@dataclass(frozen=True)
class SpeedEstimate:
    """Result of the speed search: ratio (dub speed / master speed), its name, the dub-side
    offset in the warped domain (seconds) and the feature correlation peak it gave."""

    ratio: float
    name: str | None
    warped_offset_seconds: float
    peak: float
    peak_at_unity: float


@dataclass
class TimelineWindow:
    """One window of master time [start, end) s; offset (> 0 = dub late) or None; confidence
    in [0, 1]; source "gcc" or "features"; status "ok", "weak" (no confident match, e.g.
    dialogue only), "silence", "outside" (the dub does not cover it) or "outlier" (confident
    but off the fitted model)."""

    start_seconds: float
    end_seconds: float
    offset_seconds: float | None
    confidence: float
    source: str | None
    status: str
    residual_seconds: float | None = None


@dataclass
class Drift:
    """speed_ratio: dub speed relative to the master (> 1 = dub runs fast); ppm: (ratio − 1)·1e6;
    conversion: the named standard conversion it matches, if any; pitch_changed: True when the
    dub is a resampled copy (pitch moved with speed), False when time-stretched (pitch kept),
    None when it cannot be told; total_seconds: offset change over the analysed programme;
    fitted_speed_ratio: the windows' own least-squares ratio (speed_ratio is the named
    conversion's exact ratio where the fit is statistically consistent with it)."""

    speed_ratio: float
    ppm: float
    conversion: str | None
    pitch_changed: bool | None
    total_seconds: float
    fitted_speed_ratio: float | None = None


@dataclass
class Segment:
    """A stretch of the programme with one offset line: offsets (s) at its start and end."""

    master_start_seconds: float
    master_end_seconds: float
    offset_start_seconds: float
    offset_end_seconds: float
    windows: int


@dataclass
class Edit:
    """A jump of the offset at ``master_time_seconds``: kind "removed" (material of the master
    missing from the dub), "inserted" (material added to the dub) or "replaced" (master
    material swapped in the dub for ``replacement_seconds`` of other material);
    ``duration_seconds``: of the master material removed or replaced, or of the dub material
    inserted; ``uncertainty_seconds``: ± range of the location (wide where the gap has no
    shared sound, e.g. dialogue only)."""

    master_time_seconds: float
    kind: str
    duration_seconds: float
    offset_before_seconds: float
    offset_after_seconds: float
    uncertainty_seconds: float = 0.0
    replacement_seconds: float = 0.0

    @property
    def master_missing_seconds(self) -> float:
        """Master seconds the dub lacks here (removed or replaced material)."""
        return self.duration_seconds if self.kind in ("removed", "replaced") else 0.0

    @property
    def dub_added_seconds(self) -> float:
        """Dub seconds the master lacks here (inserted or replacing material)."""
        return {"inserted": self.duration_seconds,
                "replaced": self.replacement_seconds}.get(self.kind, 0.0)


@dataclass
class Timeline:
    """The offset over the programme and the :class:`~app.engine.types.Verdict`: "in_sync",
    "constant_offset", "drift", "edited" or "no_reliable_match"."""

    verdict: Verdict
    reason: str
    model: str
    offset_at_start_seconds: float | None
    coverage: float
    residual_rms_seconds: float | None
    residual_max_seconds: float | None
    window_seconds: float
    hop_seconds: float
    windows: list[TimelineWindow]
    segments: list[Segment]
    edits: list[Edit]
    drift: Drift | None
    thresholds: dict[str, float] = field(default_factory=lambda: dict(THRESHOLDS))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Timeline:
        """A :class:`Timeline` back from its ``to_dict()``."""
        drift = d.get("drift")
        return cls(Verdict(d["verdict"]), d["reason"], d["model"], d["offset_at_start_seconds"],
                   d["coverage"], d["residual_rms_seconds"], d["residual_max_seconds"],
                   d["window_seconds"], d["hop_seconds"],
                   [TimelineWindow(**w) for w in d["windows"]],
                   [Segment(**g) for g in d["segments"]], [Edit(**e) for e in d["edits"]],
                   None if drift is None else Drift(**drift), dict(d["thresholds"]))

    def shifted(self, *, master_seconds: float, offset_seconds: float) -> Timeline:
        """This timeline of a stretch that starts ``master_seconds`` into the master, with
        offsets that lack ``offset_seconds``, expressed on the whole programme: master times
        + ``master_seconds``, offsets + ``offset_seconds``; the verdict between in_sync and
        constant_offset and the reasons that name times or offsets are told again."""
        def t(x: float) -> float:
            return round(x + master_seconds, 6)

        def o(x: float) -> float:
            return round(x + offset_seconds, 9)

        windows = [replace(w, start_seconds=t(w.start_seconds), end_seconds=t(w.end_seconds),
                           offset_seconds=None if w.offset_seconds is None
                           else o(w.offset_seconds)) for w in self.windows]
        segments = [replace(g, master_start_seconds=t(g.master_start_seconds),
                            master_end_seconds=t(g.master_end_seconds),
                            offset_start_seconds=o(g.offset_start_seconds),
                            offset_end_seconds=o(g.offset_end_seconds)) for g in self.segments]
        edits = [replace(e, master_time_seconds=t(e.master_time_seconds),
                         offset_before_seconds=o(e.offset_before_seconds),
                         offset_after_seconds=o(e.offset_after_seconds)) for e in self.edits]
        start = None if self.offset_at_start_seconds is None else \
            o(self.offset_at_start_seconds)
        verdict, reason = self.verdict, self.reason
        if self.model == "constant" and start is not None:
            verdict = verdict_of(self.model, start)
            reason = "constant offset within 1 ms of zero" if verdict == Verdict.IN_SYNC \
                else constant_words(start, self.coverage)
        elif verdict == Verdict.EDITED:
            reason = edits_words(edits)
        return replace(self, verdict=verdict, reason=reason, offset_at_start_seconds=start,
                       windows=windows, segments=segments, edits=edits)

    def offset_at(self, t: float) -> float | None:
        """Model offset (s) at master time ``t`` (s)."""
        if not self.segments:
            return self.offset_at_start_seconds
        seg = self.segments[-1]
        for s in self.segments:
            if t < s.master_end_seconds:
                seg = s
                break
        span = max(seg.master_end_seconds - seg.master_start_seconds, 1e-9)
        slope = (seg.offset_end_seconds - seg.offset_start_seconds) / span
        return seg.offset_start_seconds + slope * (t - seg.master_start_seconds)


Measured = tuple[tuple[float, float] | None, tuple[float, float] | None]


@dataclass
class WindowScan:
    """Every window measured around one starting offset (warped domain, seconds): per window
    (GCC-PHAT ±1 s, features ±1 s) as (offset, z) or None. Measured once, it serves any later
    tracking whose prediction stays within ``REUSE_SECONDS`` of that offset."""

    start_offset: float
    window: float
    hop: float
    first: list[Measured]

    REUSE_SECONDS = 0.05

    def serves(self, offset: float, window: float, hop: float) -> bool:
        return (self.window == window and self.hop == hop
                and abs(self.start_offset - offset) <= self.REUSE_SECONDS)
