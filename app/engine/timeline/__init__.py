"""The offset across the whole programme: windows, a fitted model (constant, drift, piecewise
with edits) and a verdict.

Time axes: ``t`` is master time in seconds; the offset at ``t`` is ``dub_time(t) - t`` (> 0 =
dub late). The speed ratio ``s`` is the dub's speed relative to the master (> 1 when the dub
runs fast): with drift alone, ``dub_time(t) = a + t / s``. An edit is a jump of the offset:
material removed from the dub makes it drop, material inserted makes it rise.

Modules (each imports only those below it): :mod:`.build` (:func:`build_timeline`) →
:mod:`.fit` (model and verdict) and :mod:`.stretch` (time-stretch trial) → :mod:`.edits`
(edit location) → :mod:`.scan` (window scan) and :mod:`.speed` (speed search) →
:mod:`.types` (data and constants). Every name is re-exported here.
"""

from app.engine.timeline.build import build_timeline
from app.engine.timeline.coherence import _coherence as _coherence
from app.engine.timeline.coherence import _segment_offset as _segment_offset
from app.engine.timeline.edits import _edit_split as _edit_split
from app.engine.timeline.edits import _hypothesis_z as _hypothesis_z
from app.engine.timeline.edits import _locate_edits as _locate_edits
from app.engine.timeline.edits import _refine_split as _refine_split
from app.engine.timeline.fit import _fit as _fit
from app.engine.timeline.fit import _model as _model
from app.engine.timeline.fit import _renumber as _renumber
from app.engine.timeline.fit import _segments as _segments
from app.engine.timeline.fit import _slope_error as _slope_error
from app.engine.timeline.fit import _snap_slope as _snap_slope
from app.engine.timeline.scan import _feature_geometry as _feature_geometry
from app.engine.timeline.scan import _feature_offset as _feature_offset
from app.engine.timeline.scan import _gcc_at as _gcc_at
from app.engine.timeline.scan import _Raw as _Raw
from app.engine.timeline.scan import _scan_windows as _scan_windows
from app.engine.timeline.scan import _segment_ncc as _segment_ncc
from app.engine.timeline.scan import _wide_feature_search as _wide_feature_search
from app.engine.timeline.scan import _window_starts as _window_starts
from app.engine.timeline.scan import scan_at_offset
from app.engine.timeline.speed import _average_frames as _average_frames
from app.engine.timeline.speed import detect_speed, warp_features, warp_signal
from app.engine.timeline.stretch import Stretched as Stretched
from app.engine.timeline.stretch import _corrected as _corrected
from app.engine.timeline.stretch import (
    measure_stretch_shift,
    stretch_to_master,
)
from app.engine.timeline.stretch import stretch_shifts as stretch_shifts
from app.engine.timeline.types import (
    NAMED_CONVERSIONS,
    THRESHOLDS,
    Drift,
    Edit,
    Segment,
    SpeedEstimate,
    Timeline,
    TimelineWindow,
    WindowScan,
)
from app.engine.timeline.types import Measured as Measured

__all__ = [
    "NAMED_CONVERSIONS",
    "THRESHOLDS",
    "SpeedEstimate",
    "TimelineWindow",
    "Drift",
    "Segment",
    "Edit",
    "Timeline",
    "detect_speed",
    "warp_signal",
    "warp_features",
    "build_timeline",
    "scan_at_offset",
    "WindowScan",
    "stretch_to_master",
    "measure_stretch_shift",
]
