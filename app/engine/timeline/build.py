"""The whole timeline: scan the windows, fit the model on GCC-PHAT, on the time-stretched
dub (pitch kept) and on features, and keep the one that explains most of the programme.

Units: times and offsets in seconds (master time; offset > 0 = dub late; reported on the
dub's own timeline); signals at ``mid_rate`` / ``full_rate`` Hz, features at ``frame_rate``
Hz; ``speed.ratio`` is the dub's speed relative to the master (> 1 = dub runs fast).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from app.engine.halfrate import Signal, as_array
from app.engine.timeline.fit import _model
from app.engine.timeline.scan import _scan_windows
from app.engine.timeline.stretch import _corrected, stretch_to_master
from app.engine.timeline.types import SpeedEstimate, Timeline, WindowScan
from app.engine.types import CancelToken


def build_timeline(
    m_mid: Signal,
    d_mid: Signal,
    *,
    mid_rate: float,
    master_flux: np.ndarray,
    dub_flux: np.ndarray,
    frame_rate: float,
    speed: SpeedEstimate,
    start_offset_seconds: float,
    m_full: np.ndarray | None = None,
    d_full: np.ndarray | None = None,
    full_rate: float | None = None,
    window_seconds: float,
    hop_seconds: float,
    max_offset_seconds: float,
    cancel: CancelToken | None = None,
    on_window: Callable[[int, int], None] | None = None,
    d_mid_unwarped: Signal | None = None,
    pre: WindowScan | None = None,
) -> Timeline:
    """Windowed offsets, fitted model and verdict.

    ``d_mid``/``dub_flux`` are already warped to the master's timeline by ``speed.ratio``
    (resampled: right for a dub whose pitch moved with its speed);
    ``start_offset_seconds`` is the offset in that warped domain where tracking starts.
    ``m_full``/``d_full`` (at ``full_rate`` Hz, the dub warped too), when given, locate edits
    with the full bandwidth. ``d_mid_unwarped``: the dub as delivered (mid rate); when the
    speed differs, it is also time-stretched onto the master's timeline with its pitch kept
    (the other way a conversion is made) and the windows measured again on that.
    ``pre``: windows already measured (:func:`scan_at_offset`) on these same signals around a
    coarse offset, reused where the tracking stays near it.
    Reported offsets are converted back to the dub's own timeline.
    """
    s0 = speed.ratio
    scan = partial(_scan_windows, mf=master_flux, df=dub_flux, frame_rate=frame_rate,
                   start_offset=start_offset_seconds, window=window_seconds, hop=hop_seconds,
                   wide=min(max_offset_seconds, 30.0), cancel=cancel)
    model = partial(_model, m_mid=m_mid, mid_rate=mid_rate, s0=s0,
                    window_seconds=window_seconds, hop_seconds=hop_seconds)
    raws = scan(m_mid, d_mid, mid_rate, on_window=on_window, pre=pre)
    edit_signals = ((m_full, d_full, full_rate) if m_full is not None and d_full is not None
                    and full_rate else (m_mid, d_mid, mid_rate))
    best = model(raws, feature_mode=False, d_mid=d_mid, edit_signals=edit_signals)
    if s0 == 1.0:
        return best
    # the waveform (GCC-PHAT) model is more precise; another wins only when it explains
    # clearly more of the programme: the time-stretched dub (pitch kept), else the features
    if d_mid_unwarped is not None and best.coverage < 0.9:
        stretched = stretch_to_master(as_array(d_mid_unwarped), s0, mid_rate)
        if stretched is not None:
            y = stretched.signal
            raws_kept = _corrected(scan(m_mid, y, mid_rate, on_window=None), stretched, s0)
            kept = model(raws_kept, feature_mode=False, d_mid=y,
                         edit_signals=(m_mid, y, mid_rate), pitch_kept=True)
            if kept.coverage > best.coverage + 0.1:
                best = kept
    features = model(raws, feature_mode=True, d_mid=d_mid, edit_signals=edit_signals)
    if features.coverage > best.coverage + 0.1:
        best = features
    return best
