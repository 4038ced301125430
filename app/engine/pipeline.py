"""The analysis pipeline: decode → features → coarse search → methods → refinement →
consistency check → consensus.

``analyze_files`` is the engine's entry point for files; ``analyze_signals`` runs the same
pipeline on mono arrays already at the analysis rate.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from app.engine import consensus as cons
from app.engine import wording as wd
from app.engine.channel_check import (
    CHANNEL_TOLERANCE_SECONDS,
    ChannelCheck,
    check_channels,
)
from app.engine.coverage import coverage_findings, coverage_of
from app.engine.decision import (
    FALSE_ALARM_RATE,
    MIN_SHARED,
    MIN_TOLERANCE_SECONDS,
    Decision,
    decide,
    is_tone,
    uniqueness,
)
from app.engine.decode import decode, probe
from app.engine.features import FeatureSet, LogMelStream, compute_features
from app.engine.halfrate import HalfRate, coarse_view
from app.engine.locate import Placement, locate
from app.engine.methods import correlation, mfcc, onset, spectral
from app.engine.methods._feature import local_detrend
from app.engine.piecewise import CHUNK_SECONDS, Piece, merge_close, pieces_of, place_chunks
from app.engine.shared import emphasise_shared
from app.engine.start_timecode import ProgrammeClock, clock_of, programme_timecode
from app.engine.timecode import frames_and_timecodes
from app.engine.timeline import (
    NAMED_CONVERSIONS,
    THRESHOLDS,
    SpeedEstimate,
    Timeline,
    WindowScan,
    build_timeline,
    detect_speed,
    scan_at_offset,
    warp_features,
    warp_signal,
)
from app.engine.timeline import _locate_edits as locate_edits
from app.engine.types import (
    IN_SYNC_SECONDS,
    AnalysisOptions,
    AudioInfo,
    CancelToken,
    MethodResult,
    ProgressCallback,
    ProgressEvent,
    SyncResult,
    Verdict,
    verdict_of,
)
from app.engine.windows import window_seconds_for
from app.engine.wording import edits_words, sentence, sentences
from app.engine.xcorr import LagCurve, peak_confidence

__all__ = ["ENGINE_VERSION", "IN_SYNC_TOLERANCE_SECONDS", "analyze_files", "analyze_signals"]

ENGINE_VERSION = "1.0.0"
#: |offset| at or below this (seconds) is reported as "in_sync".
IN_SYNC_TOLERANCE_SECONDS = IN_SYNC_SECONDS  # the name the per-channel pass imports
_COARSE_RATE = 2000
_FEATURE_METHODS = {"mfcc": mfcc.detect, "onset": onset.detect, "spectral": spectral.detect}
_CANDIDATES = 4
_PROBE_BLOCKS = 48
_CLEAR_Z, _CLEAR_RATIO = 14.0, 2.0  # a coarse peak this prominent is refined without probing


@dataclass
class _Track:
    """One decoded track: ``signal`` at the analysis rate, ``mid`` at half of it (the
    timeline's windows; decimated on demand), ``coarse`` at about 2 kHz (coarse search)."""

    signal: np.ndarray
    mid: HalfRate
    coarse: np.ndarray
    coarse_rate: float
    features: FeatureSet


class _Follower:
    """Runs ``work(latest)`` in its own thread on the newest data fed to it, so the feeding
    thread (reading ffmpeg's pipe) never waits for the work."""

    def __init__(self, work: Callable[[np.ndarray], None]) -> None:
        self.work = work
        self.latest: np.ndarray | None = None
        self.ready = threading.Event()
        self.stop = False
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="features", daemon=True)

    def feed(self, data: np.ndarray) -> None:
        self.latest = data
        self.ready.set()

    def _run(self) -> None:
        while True:
            self.ready.wait()
            self.ready.clear()
            if self.stop:
                return
            data = self.latest
            if data is not None:
                try:
                    self.work(data)
                except BaseException as exc:  # reported by __exit__
                    self.error = exc
                    return

    def __enter__(self) -> _Follower:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop = True
        self.ready.set()
        self.thread.join()
        if self.error is not None and exc[0] is None:
            raise self.error


class _Progress:
    """Publishes :class:`ProgressEvent` objects and checks cancellation between stages."""

    def __init__(self, callback: ProgressCallback | None, cancel: CancelToken | None) -> None:
        self.callback = callback
        self.cancel = cancel
        self.estimate: dict[str, float] | None = None
        #: seconds added to estimates while a located stretch is analysed (its own offsets)
        self.offset_shift = 0.0
        #: the fraction reported last: a second pass (shared sound, a channel) never goes back
        self.last = 0.0

    def __call__(
        self, stage: str, fraction: float, message: str, *, window: int | None = None,
        windows: int | None = None,
    ) -> None:
        if self.cancel is not None:
            self.cancel.raise_if_cancelled()
        if self.callback is not None:
            estimate = self.estimate
            if estimate is not None and self.offset_shift and "offset_seconds" in estimate:
                estimate = {**estimate, "offset_seconds": round(
                    estimate["offset_seconds"] + self.offset_shift, 5)}
            self.last = max(self.last, round(min(max(fraction, 0.0), 1.0), 4))
            self.callback(ProgressEvent(stage, self.last, message, window, windows, estimate))


def _prepare(x: np.ndarray, *, sample_rate: int,
             features: FeatureSet | Callable[[], FeatureSet] | None = None,
             cancel: CancelToken | None = None) -> _Track:
    """The track's coarse view (decimated on another thread) and its features (given,
    computed by ``features()`` meanwhile, or from ``x``); the half-rate view is decimated on
    demand."""
    factor = max(1, sample_rate // _COARSE_RATE)  # sample_rate >= 4000 (validated): >= 2
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="decimate") as pool:
        decimated = pool.submit(coarse_view, x, factor // 2)
        if isinstance(features, FeatureSet):
            feats = features
        elif features is not None:
            feats = features()
        else:
            feats = compute_features(x, sample_rate=sample_rate, cancel=cancel)
        coarse = decimated.result()
    return _Track(x, HalfRate(x), coarse, sample_rate / (2 * (factor // 2)), feats)


def analyze_files(
    master: str | Path,
    dub: str | Path,
    *,
    options: AnalysisOptions | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> SyncResult:
    """Measure how late ``dub`` is against ``master`` (> 0 = dub late).

    Both files are probed, then decoded in parallel straight to mono at
    ``options.sample_rate``; features are computed as each decode finishes.
    """
    opts = (options or AnalysisOptions()).validate()
    report = _Progress(progress, cancel)
    t0 = time.perf_counter()
    report("probe", 0.0, "probing files")
    info_m = probe(master, stream=opts.master_stream)
    info_d = probe(dub, stream=opts.dub_stream)
    _programme(info_m, info_d, opts)  # a requested start timecode is checked before decoding
    report("decode", 0.02, f"decoding both files to {opts.sample_rate} Hz mono")

    done = [0.0, 0.0]  # decoded fraction of each file, written by the decode threads

    def load(k: int, path: str | Path, info: AudioInfo, stream: int, channel: int | None
             ) -> _Track:
        def progress(f: float) -> None:
            done[k] = f

        mel = LogMelStream(sample_rate=opts.sample_rate, cancel=cancel)
        if info.codec.startswith("pcm_"):
            # PCM: two ffmpeg processes decode the halves at once, each half's features
            # computed while it arrives
            second = LogMelStream(sample_rate=opts.sample_rate, cancel=cancel)
            joins: list[int] = []
            with _Follower(mel.update) as f0, _Follower(second.update) as f1:
                def on_half(half: int, join: int, data: np.ndarray) -> None:
                    if half < 0:
                        joins.append(join)
                    else:
                        (f0, f1)[half].feed(data)

                x = decode(path, sample_rate=opts.sample_rate, stream=stream, channel=channel,
                           info=info, cancel=cancel, on_progress=progress, parallel=True,
                           on_half_data=on_half)
            if joins:
                mel.join(second, x, joins[0])
            else:  # decoded in one go (short, or not as long as probed): features now
                mel = LogMelStream(sample_rate=opts.sample_rate, cancel=cancel)
                mel.compute_all(x)
        else:
            with _Follower(mel.update) as follow:  # features computed while ffmpeg decodes
                x = decode(path, sample_rate=opts.sample_rate, stream=stream, channel=channel,
                           info=info, cancel=cancel, on_progress=progress,
                           on_data=follow.feed)
            mel.update(x, final=True)
        return _prepare(x, sample_rate=opts.sample_rate, features=lambda: FeatureSet(
            frame_rate=1.0 / (mel.hop / opts.sample_rate), mel=mel.result()))

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="decode") as pool:
        futures = [pool.submit(load, 0, master, info_m, opts.master_stream, opts.master_channel),
                   pool.submit(load, 1, dub, info_d, opts.dub_stream, opts.dub_channel)]
        pending = set(futures)
        try:
            while pending:  # progress is reported from this thread only
                _, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
                if any(f.done() and f.exception() is not None for f in futures):
                    break
                report("decode", 0.02 + 0.4 * (done[0] + done[1]) / 2,
                       f"decoding and extracting features: master {done[0]:.0%}, "
                       f"dub {done[1]:.0%}")
        except BaseException:
            if cancel is not None:
                cancel.cancel()  # stop the other decode too
            raise
        track_m, track_d = futures[0].result(), futures[1].result()
    decode_seconds = time.perf_counter() - t0
    report("decode", 0.45, "decoded; features ready")
    info_m = replace(info_m, analysed_seconds=track_m.signal.size / opts.sample_rate)
    info_d = replace(info_d, analysed_seconds=track_d.signal.size / opts.sample_rate)
    result = _analyze_tracks(track_m, track_d, info_m, info_d, opts, report)
    if opts.channel_check and opts.dub_channel is None and info_d.channels > 1:
        result = _with_channels(master, dub, info_m, info_d, opts, report, result)
    result.timings["decode_and_features"] = round(decode_seconds, 3)
    result.timings["total"] = round(time.perf_counter() - t0, 3)
    return result


def analyze_signals(
    master: np.ndarray,
    dub: np.ndarray,
    *,
    sample_rate: int,
    options: AnalysisOptions | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> SyncResult:
    """The pipeline on mono float arrays at ``sample_rate`` Hz (no decoding)."""
    opts = replace(options or AnalysisOptions(), sample_rate=sample_rate).validate()
    report = _Progress(progress, cancel)
    t0 = time.perf_counter()
    tm = _prepare(np.asarray(master, np.float32), sample_rate=sample_rate)
    td = _prepare(np.asarray(dub, np.float32), sample_rate=sample_rate)

    def info(name: str, x: np.ndarray) -> AudioInfo:
        secs = x.size / sample_rate
        return AudioInfo(name, "array", "pcm_f32", sample_rate, 1, "mono", secs, 0, secs)

    result = _analyze_tracks(tm, td, info("master", tm.signal), info("dub", td.signal), opts,
                             report)
    result.timings["total"] = round(time.perf_counter() - t0, 3)
    return result


@dataclass(frozen=True)
class _Stretch:
    """The stretch a located analysis runs on: it starts ``master_seconds`` into the master and
    ``dub_seconds`` into the dub; the whole tracks have ``master_samples``/``dub_samples``."""

    master_seconds: float
    dub_seconds: float
    master_samples: int
    dub_samples: int
    placement: Placement

    @property
    def offset(self) -> float:
        """Seconds to add to the stretch's offsets (dub late > 0) for the whole tracks'."""
        return self.dub_seconds - self.master_seconds


#: the placement of a piece's stretch (found chunk by chunk, not by one search)
_NO_PLACEMENT = Placement(0.0, 0.0, 0.0, 0.0, 0.0, 0, 0.0)

#: seconds the located stretch opens before the placed overlap, plus this share of it (a
#: drift of 2000 ppm moves the start of a 20-min overlap by 2.4 s)
_LEAD_SECONDS, _LEAD_DRIFT = 5.0, 0.002

#: a dub shorter than this many chunks is not looked for as pieces (a promo, a clip); a
#: located answer that leaves this many chunks of the dub unexplained is tried as pieces too
_MIN_PIECEWISE_CHUNKS = 4
_PIECEWISE_LEFT_CHUNKS = 2
#: adjacent pieces this close in offset (s) are measured as one stretch: a cut or insertion
#: this short splits 10-s chunks unevenly, and the stretch's own timeline places it exactly;
#: longer edits are placed between the pieces
_MERGE_PIECES_SECONDS = 0.25
#: a piece that starts this much (s) before the previous one ends in master time, or chunks
#: between two pieces placed this far from both their offsets, are material out of order
#: (chunk placements overlap by a few seconds at a plain edit)
_REORDER_SECONDS = 5.0

#: a placement is analysed as a stretch when it lies beyond this share of the local search
#: window, or when the overlap is under this share of the longer track
_FAR_SHARE, _SMALL_SHARE = 0.75, 0.5


def _crop(track: _Track, start: int, end: int, *, sample_rate: int,
          cancel: CancelToken | None) -> _Track:
    if start <= 0 and end >= track.signal.size:
        return track
    return _prepare(track.signal[start:end], sample_rate=sample_rate, cancel=cancel)


def _located(tm: _Track, td: _Track, info_m: AudioInfo, info_d: AudioInfo,
             opts: AnalysisOptions, report: _Progress, flux_m: np.ndarray,
             flux_d: np.ndarray, frame_rate: float, max_off: float,
             min_overlap: float) -> SyncResult | Placement | None:
    """Search every lag; when the dub lies far away or covers a small part (or the master a
    small part of the dub), analyse the overlapping stretch (a lead before it, ``max_off``
    after it) and return that
    result on the whole tracks' axes. Otherwise the placement (or None) for the record."""
    t = time.perf_counter()
    placed = locate(flux_m, flux_d, frame_rate=frame_rate,
                    min_overlap_seconds=min(min_overlap, 5.0))
    elapsed = time.perf_counter() - t
    if placed is None or not (placed.significant or placed.ambiguous):
        return placed
    sr = opts.sample_rate
    n_m, n_d = tm.signal.size, td.signal.size
    far = abs(placed.offset_seconds) > _FAR_SHARE * max_off
    small = placed.overlap_seconds < _SMALL_SHARE * max(n_m, n_d) / sr
    report.estimate = {"offset_seconds": round(placed.offset_seconds, 3), "confidence": 0.0}
    a = max(0.0, -placed.offset_seconds)
    rivals = (f"; {len(placed.alternatives)} other placements match about as well"
              if placed.ambiguous else "")
    report("locate", 0.46, f"dub found at master {a:.2f}–{a + placed.overlap_seconds:.2f} s "
           f"(coarse offset {placed.offset_seconds:+.2f} s, z {placed.z:.1f}{rivals})")
    if not (far or small):
        return placed

    def run(stretch: _Stretch, spans: Sequence[tuple[int, int]]) -> SyncResult:
        (ms, me), (ds, de) = spans
        sub_m = _crop(tm, ms, me, sample_rate=sr, cancel=report.cancel)
        sub_d = _crop(td, ds, de, sample_rate=sr, cancel=report.cancel)
        report.offset_shift = stretch.offset
        report.estimate = {"offset_seconds": round(
            stretch.placement.offset_seconds - stretch.offset, 3), "confidence": 0.0}
        return _analyze_once(sub_m, sub_d, info_m, info_d, opts, report, stretch=stretch)

    result = _best_placed([run(st, spans) for st, *spans in _stretches(
        placed, n_m, n_d, sr=sr, max_off=max_off, frame_rate=frame_rate)])
    result.timings["locate"] = round(elapsed, 3)
    return result


def _stretches(placed: Placement, n_m: int, n_d: int, *, sr: int, max_off: float,
               frame_rate: float
               ) -> list[tuple[_Stretch, tuple[int, int], tuple[int, int]]]:
    """The stretch of each candidate of a placement (itself, then its rivals), each recording
    the others as its alternatives."""
    cands = placed.candidates()
    out = []
    for i, c in enumerate(cands):
        others = tuple((o.offset_seconds, o.overlap_seconds) for j, o in enumerate(cands)
                       if j != i)
        out.append(_stretch_for(replace(c, alternatives=others), n_m, n_d, sr=sr,
                                max_off=max_off, frame_rate=frame_rate))
    return out


def _agreeing(result: SyncResult) -> tuple[bool, int, float]:
    """Sort key of a candidate's result: reliable, windows agreeing, −P_fa."""
    d = (result.evidence or {}).get("decision") or {}
    p_fa = d.get("p_false_alarm")
    return (bool(result.reliable), int(d.get("windows_agreeing") or 0),
            -float(p_fa if p_fa is not None else 1.0))


def _best_placed(results: list[SyncResult]) -> SyncResult:
    """The candidate stretch whose exact analysis holds best (reliable, then most windows
    agreeing, then the smallest P_fa); when others hold too, a finding names them."""
    ranked = sorted(results, key=_agreeing, reverse=True)
    best = ranked[0]
    also = [r for r in ranked[1:] if r.reliable and r.offset_seconds is not None]
    if best.reliable and also:
        where = ", ".join(wd.seconds(max(0.0, -(r.offset_seconds or 0.0))) for r in also)
        best.findings.append(
            f"the dub's sound also matches the master at {where} (repeated music or a re-used "
            "cue); the placement with the most windows agreeing is given")
    return best


def _stretch_for(placed: Placement, n_m: int, n_d: int, *, sr: int, max_off: float,
                 frame_rate: float) -> tuple[_Stretch, tuple[int, int], tuple[int, int]]:
    """The stretch a placement is analysed on, with its master and dub sample spans. It opens
    a little before the placed overlap (the coarse lag is a 10–40 ms frame; a drift moves the
    start by its share of the overlap), so that the stretch's own offset lies well inside the
    methods' ±``max_off`` search, and closes ``max_off`` after it."""
    k = placed.offset_seconds
    lead = min(0.5 * max_off, _LEAD_SECONDS + _LEAD_DRIFT * placed.overlap_seconds)
    m0 = max(0.0, -k) - lead
    m1 = min(n_m / sr, n_d / sr - k) + max_off
    ms, me = max(0, int(m0 * sr)), min(n_m, int(np.ceil(m1 * sr)))
    ds, de = max(0, int((m0 + k) * sr)), min(n_d, int(np.ceil((m1 + k) * sr)))
    hop = max(1, int(round(sr / frame_rate)))
    ms, ds = ms - ms % hop, ds - ds % hop  # the stretches keep the feature frame grid
    return _Stretch(ms / sr, ds / sr, n_m, n_d, placed), (ms, me), (ds, de)


def _stretches_of(result: SyncResult, n_m: int, n_d: int, *, sr: int, max_off: float,
                  frame_rate: float
                  ) -> list[tuple[_Stretch, tuple[int, int], tuple[int, int]]]:
    """The located stretches ``result`` was chosen among (from its placement record: the
    placement and its alternatives); empty when the whole tracks were analysed."""
    p = result.placement
    if not p or not p.get("stretch"):
        return []
    return _stretches(Placement.from_dict(p), n_m, n_d, sr=sr, max_off=max_off,
                      frame_rate=frame_rate)


def _with_channels(master: str | Path, dub: str | Path, info_m: AudioInfo, info_d: AudioInfo,
                   opts: AnalysisOptions, report: _Progress, result: SyncResult) -> SyncResult:
    """The result with its per-channel record (:mod:`app.engine.channel_check`) and the named
    channel faults among its findings."""
    if result.offset_seconds is None:
        result.channels = {"skipped": "no programme offset to compare the channels at"}
        return result
    t = time.perf_counter()
    report("channels", 0.99, f"checking the dub's {info_d.channels} channels")
    fps = float(opts.frame_rate) if opts.frame_rate else 25.0
    check = check_channels(master, dub, info_m, info_d, offset_seconds=result.offset_seconds,
                           master_stream=opts.master_stream, dub_stream=opts.dub_stream,
                           frame_rate=fps, cancel=report.cancel)
    result.timings["channels"] = round(time.perf_counter() - t, 3)
    if check is None:
        return result
    again = _bed_channel_result(master, dub, opts, report, result, check)
    if again is not None:
        result = again
    result.channels = check.to_dict()
    result.findings.extend(check.findings)
    return result


def _bed_channel_result(master: str | Path, dub: str | Path, opts: AnalysisOptions,
                        report: _Progress, result: SyncResult, check: ChannelCheck
                        ) -> SyncResult | None:
    """When most channels agree on an offset that the downmix did not give (it followed one
    faulty channel, e.g. a late centre carrying the dialogue) or could not confirm, the
    analysis again on the strongest of those channels; None when it is not needed or fails."""
    common = check.common_offset_seconds
    if common is None or result.offset_seconds is None:
        return None
    agree = [c for c in check.channels if c["offset_seconds"] is not None
             and abs(c["offset_seconds"] - common) <= CHANNEL_TOLERANCE_SECONDS]
    measured = [c for c in check.channels if c["offset_seconds"] is not None]
    off_common = abs(common - result.offset_seconds) > CHANNEL_TOLERANCE_SECONDS
    faulty = len(agree) < len(measured)  # a channel off on its own explains a failed downmix
    if not (off_common or (faulty and not result.reliable)) or \
            len(agree) < max(2, len(measured) / 2):
        return None
    ref = max((c for c in agree if c["label"] != "LFE"), key=lambda c: c["z"], default=None)
    if ref is None or check.reference != "matching":
        return None
    again = analyze_files(master, dub, options=replace(
        opts, master_channel=ref["master_channel"], dub_channel=ref["index"]),
        progress=report.callback, cancel=report.cancel)
    if not again.reliable or again.offset_seconds is None or \
            abs(again.offset_seconds - common) > CHANNEL_TOLERANCE_SECONDS:
        return None  # the channel alone must confirm what the channels agreed on
    followed = [c["label"] for c in measured if c not in agree and abs(
        c["offset_seconds"] - result.offset_seconds) <= 0.005] or ["other material"]
    was = ("gave no reliable match" if not result.reliable else
           f"followed {' and '.join(followed)} at {result.offset_seconds * 1000:+.1f} ms")
    again.findings.insert(0, f"the downmix {was}; {len(agree)} of {len(check.channels)} "
                          f"channels agree at {common * 1000:+.1f} ms: the programme offset is "
                          f"measured on {ref['label']}")
    again.evidence = {**(again.evidence or {}), "channel": ref["label"]}
    return again


def _programme(info_m: AudioInfo, info_d: AudioInfo, opts: AnalysisOptions
               ) -> tuple[dict[str, Any], ProgrammeClock]:
    """The ``programme_timecode`` record (each file's start from its tags or the options)
    and its clock; raises TimecodeError (a ParameterError) for a bad requested start."""
    record = programme_timecode(info_m.start_timecode, info_d.start_timecode,
                                fps=opts.frame_rate, master_start=opts.master_start_timecode,
                                dub_start=opts.dub_start_timecode)
    return record, clock_of(record)


def _analyze_tracks(
    tm: _Track, td: _Track, info_m: AudioInfo, info_d: AudioInfo, opts: AnalysisOptions,
    report: _Progress,
) -> SyncResult:
    """The analysis of two prepared tracks: one offset model over the located stretch, or,
    when none explains the dub, the dub as pieces of the master (ad breaks, long edits); when
    neither holds on the mixes as they are, the same again on their shared sound
    (:mod:`app.engine.shared`: the quiet bed under dialogue that differs by language)."""
    result = _analyze_mixes(tm, td, info_m, info_d, opts, report)
    if result.verdict != Verdict.NO_RELIABLE_MATCH or not opts.shared_sound:
        return result
    t = time.perf_counter()
    report("shared", 0.9, "no match on the mixes: weighting every time-frequency cell alike "
           "to find the shared M&E under the dialogue")
    sr = opts.sample_rate
    assert tm.features is not None
    # a dub the mixes placed (a promo, a reel) is looked for again on its stretch (or each
    # candidate's) only: the emphasis of a 90-min master would cost more than its decode
    located = _stretches_of(result, tm.signal.size, td.signal.size, sr=sr,
                            max_off=min(opts.max_offset_seconds,
                                        max(tm.signal.size, td.signal.size) / sr),
                            frame_rate=tm.features.frame_rate)
    whole = (0, tm.signal.size), (0, td.signal.size)
    spans: list[tuple[_Stretch | None, tuple[int, int], tuple[int, int]]] = (
        [*located] if located else [(None, *whole)])
    emphasised = [tuple(_prepare(emphasise_shared(x.signal[a:b], sample_rate=sr,
                                                  cancel=report.cancel),
                                 sample_rate=sr, cancel=report.cancel)
                        for x, (a, b) in ((tm, m_span), (td, d_span)))
                  for _, m_span, d_span in spans]

    def on_shared(o: AnalysisOptions) -> SyncResult:
        found = []
        for (stretch, _, _), (em_m, em_d) in zip(spans, emphasised, strict=True):
            if stretch is None:
                return _analyze_mixes(em_m, em_d, info_m, info_d, o, report)
            report.offset_shift = stretch.offset
            found.append(_analyze_once(em_m, em_d, info_m, info_d, o, report,
                                       stretch=stretch))
        return _best_placed(found)

    shared = on_shared(opts)
    if shared.verdict == Verdict.NO_RELIABLE_MATCH and opts.window_seconds is None:
        # sparse shared sound (effects only): windows twice as long gather enough of it
        shorter = min(tm.signal.size, td.signal.size) / sr
        longer = min(2.0 * window_seconds_for(shorter), shorter / 3.0)
        if longer > window_seconds_for(shorter) * 1.2:
            report("shared", 0.95, f"shared sound is sparse: windows of {longer:.0f} s")
            again = on_shared(replace(opts, window_seconds=longer))
            if again.verdict != Verdict.NO_RELIABLE_MATCH:
                shared = again
    elapsed = round(time.perf_counter() - t, 3)
    if shared.verdict == Verdict.NO_RELIABLE_MATCH:
        result.timings["shared_sound"] = elapsed
        result.evidence = {**(result.evidence or {}), "shared_sound_tried": True}
        return result
    shared.timings = {**result.timings, **shared.timings, "shared_sound": elapsed}
    shared.evidence = {**(shared.evidence or {}), "signal": "shared sound",
                       "shared_sound_tried": True}
    shared.findings.insert(0, "the mixes alone gave no reliable match; the answer comes from "
                           "the sound master and dub share (M&E under the dialogue), every "
                           "time-frequency cell weighted alike")
    shared.reason = f"{shared.reason} (shared sound: speech de-weighted)"
    return shared


def _analyze_mixes(
    tm: _Track, td: _Track, info_m: AudioInfo, info_d: AudioInfo, opts: AnalysisOptions,
    report: _Progress,
) -> SyncResult:
    """One offset model over the located stretch, else the dub as pieces of the master."""
    result = _analyze_once(tm, td, info_m, info_d, opts, report)
    shorter = min(tm.signal.size, td.signal.size) / opts.sample_rate
    if not opts.search_whole or shorter < _MIN_PIECEWISE_CHUNKS * CHUNK_SECONDS:
        return result
    if result.verdict == Verdict.NO_RELIABLE_MATCH:
        return _piecewise(tm, td, info_m, info_d, opts, report, result) or result
    left = td.signal.size / opts.sample_rate - _explained_seconds(result)
    if result.placement and result.placement.get("stretch") and \
            left >= _PIECEWISE_LEFT_CHUNKS * CHUNK_SECONDS:
        # the located stretch explains one part of the dub; the rest may be programme too
        # (a long break inserted near one end leaves the larger piece to be found first)
        pieces = _piecewise(tm, td, info_m, info_d, opts, report, result)
        if pieces is not None and \
                _explained_seconds(pieces) >= _explained_seconds(result) + CHUNK_SECONDS:
            return pieces
    return result


def _explained_seconds(result: SyncResult) -> float:
    """Master seconds the result's offset model explains (its timeline segments)."""
    segments = (result.timeline or {}).get("segments") or []
    return float(sum(s["master_end_seconds"] - s["master_start_seconds"] for s in segments))


def _piecewise(tm: _Track, td: _Track, info_m: AudioInfo, info_d: AudioInfo,
               opts: AnalysisOptions, report: _Progress, single: SyncResult
               ) -> SyncResult | None:
    """The dub placed chunk by chunk (:mod:`app.engine.piecewise`); each piece measured
    exactly on its own stretch, the jumps between pieces located as edits. None when fewer
    than two pieces hold."""
    assert tm.features is not None and td.features is not None
    t = time.perf_counter()
    sr = opts.sample_rate
    report("piecewise", 0.9, "no single offset line: placing the dub chunk by chunk")
    chunks = place_chunks(_flux(tm.features), _flux(td.features),
                          frame_rate=tm.features.frame_rate)
    sub_opts = replace(opts, search_whole=False, max_offset_seconds=min(
        opts.max_offset_seconds, 5.0))
    found = merge_close(pieces_of(chunks), within_seconds=_MERGE_PIECES_SECONDS)
    if len(found) < 2:
        return None
    n_m, n_d = tm.signal.size, td.signal.size
    _, clock = _programme(info_m, info_d, opts)
    hop = max(1, int(round(sr / tm.features.frame_rate)))
    measured: list[tuple[Piece, SyncResult, Timeline]] = []
    for i, piece in enumerate(found):
        report("piecewise", 0.9 + 0.08 * i / len(found),
               f"piece {i + 1}/{len(found)}: dub {piece.dub_start_seconds:.1f}–"
               f"{piece.dub_end_seconds:.1f} s at {piece.offset_seconds:+.2f} s")
        ds = int(piece.dub_start_seconds * sr)
        de = min(n_d, int(piece.dub_end_seconds * sr))
        ms = int(piece.master_start_seconds * sr)
        me = min(n_m, int(piece.master_end_seconds * sr))
        ms, ds = max(0, ms - ms % hop), max(0, ds - ds % hop)
        if me - ms < 2 * sr or de - ds < 2 * sr:
            continue
        stretch = _Stretch(ms / sr, ds / sr, n_m, n_d, _NO_PLACEMENT)
        sub = _analyze_once(_crop(tm, ms, me, sample_rate=sr, cancel=report.cancel),
                            _crop(td, ds, de, sample_rate=sr, cancel=report.cancel),
                            info_m, info_d, sub_opts, report, stretch=stretch)
        if sub.verdict == Verdict.NO_RELIABLE_MATCH or sub.timeline is None:
            continue
        measured.append((piece, sub, Timeline.from_dict(sub.timeline)))
    if len(measured) < 2:
        return None
    for (lp, _, a), (rp, _, b) in zip(measured, measured[1:], strict=False):
        half = CHUNK_SECONDS / 2  # chunks mostly between the pieces (they overlap by half)
        between = [c for c in chunks if lp.dub_end_seconds - half <= c.dub_start_seconds
                   and c.dub_start_seconds + CHUNK_SECONDS <= rp.dub_start_seconds + half]
        elsewhere = [c for c in between if c.offset_seconds is not None and min(
            abs(c.offset_seconds - lp.offset_seconds),
            abs(c.offset_seconds - rp.offset_seconds)) > _REORDER_SECONDS]
        # each segment's end reaches up to half a window past its last matching window (one
        # straddling the edit still matches): two plain pieces overlap by up to a window
        backwards = bool(a.segments and b.segments) and b.segments[0].master_start_seconds < \
            a.segments[-1].master_end_seconds - _REORDER_SECONDS - a.window_seconds
        if backwards or (elsewhere and len(elsewhere) >= 0.25 * len(between)):
            # the master runs backwards from one piece to the next, or what lies between
            # them is the master's own material from elsewhere: re-ordered material (or a
            # cue used twice), not one programme with edits
            single.reason = (f"{single.reason}; the dub's pieces follow the master out of "
                             "order (re-ordered material)")
            return None
    shared = sum(g.master_end_seconds - g.master_start_seconds
                 for _, _, tl in measured for g in tl.segments) / (min(n_m, n_d) / sr)
    if shared < MIN_SHARED:  # another episode's titles and a re-used cue are not the programme
        single.reason = (f"{single.reason}; the pieces that match cover only {shared:.0%} of "
                         "the shorter track (titles or re-used cues are not a match)")
        return None
    window = measured[0][2].window_seconds
    segments = [g for _, _, tl in measured for g in tl.segments]
    edits = [e for _, _, tl in measured for e in tl.edits]
    findings: list[str] = []
    for (lp, _, left), (rp, _, right) in zip(measured, measured[1:], strict=False):
        if not left.segments or not right.segments:
            continue
        located = [e for e in locate_edits([left.segments[-1], right.segments[0]], tm.mid,
                                           td.mid, sr / 2, 1.0, window)
                   if e.duration_seconds >= THRESHOLDS["edit_jump_seconds"]]  # same offset
        for e in located:
            gap = [c for c in chunks if lp.dub_end_seconds <= c.dub_start_seconds
                   and c.dub_start_seconds + CHUNK_SECONDS <= rp.dub_start_seconds]
            if e.kind == "inserted" and gap and all(c.offset_seconds is None for c in gap):
                findings.append(
                    f"{e.duration_seconds:.3f} s of material not in the master inserted at "
                    f"master {clock.master(e.master_time_seconds)} "
                    f"({e.master_time_seconds:.3f} s): a break or new material")
        edits.extend(located)
    edits.sort(key=lambda e: e.master_time_seconds)
    if not edits:  # pieces with no jump between them are no edited programme (a music loop)
        return None
    windows = [w for _, _, tl in measured for w in tl.windows]
    used = [w for w in windows if w.status == "ok"]
    content = [w for w in windows if w.status not in ("silence", "outside")]
    coverage = len(used) / max(len(content), 1)
    confidences = [sub.confidence for _, sub, _ in measured]
    reason = edits_words(edits)
    start = segments[0].offset_start_seconds
    verdict = verdict_of("piecewise", start)
    timeline = Timeline(verdict, reason, "piecewise", start, round(coverage, 4),
                        max((tl.residual_rms_seconds or 0.0) for _, _, tl in measured),
                        max((tl.residual_max_seconds or 0.0) for _, _, tl in measured),
                        window, measured[0][2].hop_seconds, windows, segments, edits, None)
    confidence = float(np.mean(confidences)) * cons.support_factor(coverage)
    if confidence < opts.confidence_threshold:
        return None
    end = segments[-1].offset_end_seconds
    cov = coverage_of(n_m / sr, n_d / sr, start, end, timeline, clock=clock)
    all_findings = [*findings, *coverage_findings(cov)]
    frames, codes = frames_and_timecodes(start)
    report.estimate = {"offset_seconds": start, "confidence": round(confidence, 4)}
    base = measured[0][1]
    timings = dict(single.timings)
    timings["piecewise"] = round(time.perf_counter() - t, 3)
    report("done", 1.0, "verdict: edited")
    return replace(
        base, offset_seconds=start, confidence=round(confidence, 4), reliable=True,
        verdict=verdict, reason=sentences(
            reason, f"{len(measured)} pieces of the dub measured on their own; confidence "
                    f"{wd.confidence(confidence)}, at or above the "
                    f"{wd.confidence(opts.confidence_threshold)} threshold"),
        offset_samples=int(round(start * info_d.sample_rate)), offset_frames=frames,
        timecodes=codes, support=round(coverage, 4),
        findings=all_findings, timings=timings,  # not the first piece's own (its coverage)
        options=single.options, timeline=timeline.to_dict(), coverage=cov,
        placement=single.placement, overlap_seconds=round(sum(
            p.dub_end_seconds - p.dub_start_seconds for p, _, _ in measured), 3))


def _analyze_once(
    tm: _Track, td: _Track, info_m: AudioInfo, info_d: AudioInfo, opts: AnalysisOptions,
    report: _Progress, stretch: _Stretch | None = None,
) -> SyncResult:
    timings: dict[str, float] = {}
    sr = opts.sample_rate
    shorter = min(tm.signal.size, td.signal.size) / sr
    min_overlap = max(min(5.0, shorter), 0.5 * shorter)
    max_off = min(opts.max_offset_seconds, max(tm.signal.size, td.signal.size) / sr)
    assert tm.features is not None and td.features is not None
    frame_rate = tm.features.frame_rate

    flux_m, flux_d = _flux(tm.features), _flux(td.features)
    placement: Placement | None = stretch.placement if stretch is not None else None
    if opts.search_whole and stretch is None:
        found = _located(tm, td, info_m, info_d, opts, report, flux_m, flux_d, frame_rate,
                         opts.max_offset_seconds, min_overlap)
        if isinstance(found, SyncResult):
            return found
        placement = found
    report("speed", 0.47, "searching standard speed conversions")
    use_ai = opts.ai_model is not None or opts.speech_weighting
    window = opts.window_seconds or window_seconds_for(shorter)
    hop = opts.hop_seconds or window
    early = ThreadPoolExecutor(max_workers=1, thread_name_prefix="timeline")
    scans: dict[int, Future[WindowScan]] = {}  # keyed by id(dub track): its latest early scan

    def scan_early(dub: _Track, dub_flux: np.ndarray, stale: Callable[[], bool] = bool
                   ) -> Callable[[float], None]:
        """Once the coarse offset is known, measure the timeline's windows around it while
        GCC-PHAT refines (two threads instead of one); not when ``stale()`` already says this
        dub will be replaced (a speed conversion was found)."""
        def start(coarse: float) -> None:
            if stale():
                return
            scans[id(dub)] = early.submit(
                scan_at_offset, tm.mid, dub.mid, sr / 2, flux_m, dub_flux, frame_rate,
                start_offset=coarse, window=window, hop=hop, cancel=report.cancel)
        return start

    def speed_search() -> tuple[SpeedEstimate, float]:
        t = time.perf_counter()
        found = detect_speed(flux_m, flux_d, frame_rate=frame_rate, max_offset_seconds=max_off,
                             min_overlap_seconds=min_overlap)
        return found, time.perf_counter() - t

    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="speed") as pool:
            searching = pool.submit(speed_search)
            # the usual dub runs at the master's speed: measure it at once while the speed
            # search runs, and again only if a conversion is found (AI stages wait: slow)
            def converted() -> bool:
                return searching.done() and searching.result()[0].name is not None

            results = [] if use_ai else _methods(
                tm, td, opts, max_off, min_overlap, report, timings,
                on_coarse=scan_early(td, flux_d, converted))
            speed, speed_seconds = searching.result()
        timings["speed"] = round(speed_seconds, 3)
        delivered = td  # the dub as delivered (the timeline also tries it time-stretched)
        if speed.name is not None:
            report("speed", 0.49,
                   f"dub speed {speed.name}: warping the dub to the master's timeline")
            td = _warp_track(td, NAMED_CONVERSIONS[speed.name], sample_rate=sr)
            assert td.features is not None
            flux_d = _flux(td.features)
            results = []
        if not results:
            results = _methods(tm, td, opts, max_off, min_overlap, report, timings,
                               on_coarse=scan_early(td, flux_d))

        first = cons.combine(results)
        t = time.perf_counter()
        pre = scans[id(td)].result() if id(td) in scans else None
    finally:  # an early scan never outlives the analysis (cancel stops it at its next window)
        early.shutdown(wait=True, cancel_futures=True)
    timeline: Timeline | None = None
    if first.offset_seconds is not None:
        assert td.features is not None

        def on_window(i: int, n: int) -> None:
            report("timeline", 0.88 + 0.1 * i / max(n, 1), f"window {i}/{n}", window=i,
                   windows=n)

        timeline = build_timeline(
            tm.mid, td.mid, mid_rate=sr / 2, master_flux=flux_m, dub_flux=flux_d,
            frame_rate=frame_rate, speed=speed,
            start_offset_seconds=first.offset_seconds, m_full=tm.signal, d_full=td.signal,
            full_rate=float(sr), window_seconds=window,
            hop_seconds=hop, max_offset_seconds=max_off, cancel=report.cancel,
            on_window=on_window, d_mid_unwarped=delivered.mid if delivered is not td else None,
            pre=pre)
    timings["timeline"] = round(time.perf_counter() - t, 3)
    decision = None if timeline is None else _decision(tm, td, timeline, speed, opts, sr,
                                                        stretch=stretch)
    n_m, n_d = tm.signal.size, delivered.signal.size  # the dub as delivered, not warped
    if stretch is not None:  # back on the whole tracks' axes
        shift = stretch.offset
        n_m, n_d = stretch.master_samples, stretch.dub_samples
        if first.offset_seconds is not None:
            first = replace(first, offset_seconds=first.offset_seconds + shift)
        results = [r if r.offset_seconds is None else replace(
            r, offset_seconds=r.offset_seconds + shift, search_range_seconds=(
                r.search_range_seconds[0] + shift, r.search_range_seconds[1] + shift))
            for r in results]
        if timeline is not None:
            timeline = timeline.shifted(master_seconds=stretch.master_seconds,
                                        offset_seconds=shift)
        report.offset_shift = 0.0
    # offsets so far live in the warped domain; at master time 0 the dub's own offset is o / s
    offset = None if first.offset_seconds is None else first.offset_seconds / speed.ratio
    coverage = timeline.coverage if timeline is not None else 0.0
    confidence = first.confidence * cons.support_factor(coverage)
    verdict = timeline.verdict if timeline is not None else Verdict.NO_RELIABLE_MATCH
    if timeline is not None and verdict in (Verdict.DRIFT, Verdict.EDITED):
        used = [w.confidence for w in timeline.windows if w.status == "ok"]
        confidence = float(np.mean(used)) * cons.support_factor(coverage) if used else 0.0
        confidence = max(confidence, first.confidence * cons.support_factor(coverage))
        offset = timeline.offset_at(0.0)
    elif timeline is not None and verdict == Verdict.NO_RELIABLE_MATCH:
        confidence = min(confidence, 0.49 * opts.confidence_threshold)
    reliable = offset is not None and confidence >= opts.confidence_threshold
    if decision is not None and offset is not None and timeline is not None and \
            timeline.verdict != Verdict.NO_RELIABLE_MATCH:
        # the stated-rate decision rules: it vetoes a match it cannot support, and answers
        # where many windows agree although each peak is weak
        strong = decision.p_false_alarm <= FALSE_ALARM_RATE * 1e-3
        reliable = decision.match and (reliable or strong)
        if reliable and confidence < opts.confidence_threshold:
            confidence = opts.confidence_threshold  # the evidence, not the peaks, decided
    verdict = verdict_of(timeline.model if timeline is not None else "none", offset,
                         reliable=reliable)
    reason = _reason(verdict, first, timeline, confidence, opts)
    if not reliable and decision is not None and decision.reasons:
        reason = f"{'; '.join(decision.reasons)}; {reason}"
    polarity = _polarity(results)
    findings: list[str] = []
    if polarity:
        findings.append("polarity inverted: the dub's waveform is the negative of the master's")
    if speed.name is not None:
        findings.append(f"dub speed differs by the standard conversion {speed.name}")
    coverage_record = None
    programme, clock = _programme(info_m, info_d, opts)
    if offset is not None and reliable:
        end = timeline.segments[-1].offset_end_seconds if timeline and timeline.segments \
            else offset
        coverage_record = coverage_of(n_m / sr, n_d / sr, offset, end, timeline, clock=clock)
        findings.extend(coverage_findings(coverage_record))
    frames, codes = frames_and_timecodes(offset) if offset is not None else ({}, {})
    report.estimate = ({"offset_seconds": offset, "confidence": round(confidence, 4)}
                       if offset is not None else None)
    report("done", 1.0, f"verdict: {verdict}")
    return SyncResult(
        offset_seconds=offset,
        confidence=round(float(confidence), 4),
        reliable=reliable,
        verdict=verdict,
        reason=reason,
        offset_samples=int(round(offset * info_d.sample_rate)) if offset is not None else None,
        offset_frames=frames,
        timecodes=codes,
        polarity_inverted=polarity,
        agreement=round(first.agreement, 4),
        support=round(coverage, 4),
        methods=results,
        master=info_m,
        dub=info_d,
        overlap_seconds=_overlap(n_m, n_d, first.offset_seconds, sr),
        findings=findings,
        timings=timings,
        options={k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(opts).items()},
        engine_version=ENGINE_VERSION,
        timeline=timeline.to_dict() if timeline is not None else None,
        coverage=coverage_record,
        evidence=None if decision is None else {"signal": "mix", "decision": decision.to_dict()},
        programme_timecode=programme,
        placement=None if placement is None else {
            **placement.to_dict(), "method": "band-flux correlation over every lag",
            "stretch": None if stretch is None else {
                "master_start_seconds": round(stretch.master_seconds, 3),
                "dub_start_seconds": round(stretch.dub_seconds, 3),
                "master_seconds": round(tm.signal.size / sr, 3),
                "dub_seconds": round(td.signal.size / sr, 3)}},
    )


def _decision(tm: _Track, td: _Track, timeline: Timeline, speed: SpeedEstimate,
              opts: AnalysisOptions, sr: int, *, stretch: _Stretch | None) -> Decision:
    """The stated-rate decision (:mod:`app.engine.decision`) on this timeline's windows (the
    tracks' own axes, before any shift to the whole programme); the lines and lags searched
    are those of the whole tracks when the whole programme was searched."""
    used = [w for w in timeline.windows if w.status == "ok" and w.offset_seconds is not None
            and timeline.verdict != Verdict.NO_RELIABLE_MATCH]  # no model: no window agrees with it
    n = sum(1 for w in timeline.windows if w.status in ("ok", "weak", "outlier"))
    k = len(used)
    shorter_windows = int(round(k / timeline.coverage)) if timeline.coverage > 0 else n
    if stretch is not None:
        search = (stretch.master_samples + stretch.dub_samples) / sr
    elif opts.search_whole:
        search = (tm.signal.size + td.signal.size) / sr
    else:
        search = 2.0 * opts.max_offset_seconds
    drift = timeline.drift.total_seconds if timeline.drift is not None else 0.0
    unique: tuple[float | None, float | None] = (None, None)
    if speed.ratio == 1.0:
        unique = uniqueness(tm.mid, td.mid, sr / 2,
                            [(w.start_seconds, w.end_seconds, float(w.offset_seconds or 0.0))
                             for w in used])
    tone = is_tone(tm.mid, sr / 2) or is_tone(td.mid, sr / 2)
    return decide(k=k, n=n, shorter_windows=shorter_windows,
                  tolerance=max(timeline.residual_max_seconds or 0.0, MIN_TOLERANCE_SECONDS),
                  search_seconds=search, segments=max(1, len(timeline.segments)),
                  drift_seconds=drift, unique=unique, tone=tone)


def _methods(
    tm: _Track, td: _Track, opts: AnalysisOptions, max_off: float, min_overlap: float,
    report: _Progress, timings: dict[str, float],
    on_coarse: Callable[[float], None] | None = None,
) -> list[MethodResult]:
    """Every requested method on the master and the (possibly warped) dub: the feature
    methods, the AI method when asked for, then GCC-PHAT (which also refines their offsets).
    ``on_coarse(offset)`` receives GCC-PHAT's coarse offset (seconds) before it refines."""
    results: list[MethodResult] = []
    assert tm.features is not None and td.features is not None
    feats_m, feats_d = tm.features, td.features
    ai_stage = None
    if opts.ai_model is not None or opts.speech_weighting:  # app.engine.ai (issue 7)
        from app.engine.ai.method import AiStage

        ai_stage = AiStage(tm.signal, td.signal, tm.features, td.features, opts, report)
        feats_m, feats_d = ai_stage.features()
        timings["speech_activity"] = round(ai_stage.vad_seconds, 3)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="coarse") as pool:
        t = time.perf_counter()
        # GCC-PHAT's whole-overlap coarse search needs no other method: it runs meanwhile
        coarse = pool.submit(correlation.coarse_search, tm.coarse, td.coarse,
                             max_lag=int(round(max_off * tm.coarse_rate))) \
            if "correlation" in opts.methods else None
        for i, name in enumerate(m for m in opts.methods if m in _FEATURE_METHODS):
            report("methods", 0.5 + 0.05 * i, f"method {name}")
            results.append(_FEATURE_METHODS[name](feats_m, feats_d,
                                                  max_offset_seconds=max_off,
                                                  min_overlap_seconds=min_overlap))
            timings[name] = round(results[-1].elapsed_seconds, 3)
        if ai_stage is not None and opts.ai_model is not None:
            results.append(ai_stage.detect(max_offset_seconds=max_off,
                                           min_overlap_seconds=min_overlap))
            timings["ai"] = round(results[-1].elapsed_seconds, 3)
        if coarse is not None:
            results.append(_correlation(tm, td, opts, max_off, results, report, on_coarse,
                                        curve=coarse.result()))
            timings["correlation"] = round(time.perf_counter() - t, 3)
    return results


def _flux(f: FeatureSet) -> np.ndarray:
    """Pitch-robust features for speed search and window tracking: band flux, detrended."""
    return local_detrend(f.flux, frames=max(3, int(f.frame_rate / 2)))


def _warp_track(track: _Track, ratio: Fraction, *, sample_rate: int) -> _Track:
    """The dub resampled onto the master's timeline for dub speed ``ratio``."""
    assert track.features is not None
    signal = warp_signal(track.signal, ratio)
    feats = FeatureSet(frame_rate=track.features.frame_rate,
                       mel=warp_features(track.features.mel, float(ratio)))
    return _prepare(signal, sample_rate=sample_rate, features=feats)


def _reason(verdict: Verdict, first: cons.Consensus, timeline: Timeline | None,
            confidence: float, opts: AnalysisOptions) -> str:
    """The verdict's reason in plain sentences, its figures rounded as the result shows them."""
    threshold = wd.confidence(opts.confidence_threshold)
    if verdict != Verdict.NO_RELIABLE_MATCH:
        assert timeline is not None
        members = list(first.members)
        score = f"confidence {wd.confidence(confidence)}, at or above the {threshold} threshold"
        agree = (f"the {wd.listing(members)} methods agree" if len(members) > 1 else
                 f"the {members[0]} method finds it" if members else "")
        return sentences(timeline.reason, f"{agree}; {score}" if agree else score)
    if first.offset_seconds is None:
        return sentence("no method found a correlation peak")
    if timeline is not None and timeline.verdict == Verdict.NO_RELIABLE_MATCH:
        return sentences(timeline.reason, f"the best offset found was "
                                          f"{wd.signed_ms(first.offset_seconds)}")
    below = wd.confidence(confidence)
    digits = 2
    while below == threshold and digits < 6:  # never "0.50 is below the 0.50 threshold"
        digits += 1
        below = f"{confidence:.{digits}f}"
    return sentences(f"confidence {below} is below the {threshold} threshold",
                     f"the methods agree to {wd.confidence(first.agreement)}")


def _overlap(n_m: int, n_d: int, offset: float | None, sr: int) -> float:
    if offset is None:
        return 0.0
    lag = offset * sr
    return round(max(0.0, min(n_m, n_d - lag) - max(0.0, -lag)) / sr, 3)


def _polarity(results: list[MethodResult]) -> bool:
    for r in results:
        if r.method == "correlation" and r.polarity_inverted is not None and r.confidence > 0.2:
            return bool(r.polarity_inverted)
    return False


def _correlation(
    tm: _Track, td: _Track, opts: AnalysisOptions, max_off: float,
    feature_results: list[MethodResult], report: _Progress,
    on_coarse: Callable[[float], None] | None = None, *, curve: LagCurve | None = None,
) -> MethodResult:
    """GCC-PHAT: coarse search at ~2 kHz over ±max_off, then fine refinement at full rate of the
    best candidates (the coarse peaks and the feature methods' offsets)."""
    t0 = time.perf_counter()
    sr = opts.sample_rate
    rate_c = tm.coarse_rate
    report("coarse", 0.62, f"coarse GCC-PHAT over ±{max_off:g} s")
    if curve is None:
        curve = correlation.coarse_search(tm.coarse, td.coarse,
                                          max_lag=int(round(max_off * rate_c)))
    mag = np.abs(curve.values)
    med = float(np.median(mag))
    spread = max(float(np.median(np.abs(mag - med))) * 1.4826, 1e-12)
    exclusion = int(0.05 * rate_c)
    peaks = _top_indices(mag, count=_CANDIDATES, exclusion=exclusion)
    best_c = peaks[0]
    coarse_offset = (curve.first_lag + best_c) / rate_c
    z_best, ratio_best = _prominence(mag, best_c, med, spread, exclusion)
    report.estimate = {"offset_seconds": round(coarse_offset, 5),
                       "confidence": round(peak_confidence(z_best, ratio_best, z_floor=7.0,
                                                           z_full=14.0), 4)}
    report("coarse", 0.7, f"coarse estimate {coarse_offset:+.4f} s")
    if on_coarse is not None:
        on_coarse(coarse_offset)

    candidates = [(curve.first_lag + p) / rate_c for p in peaks]
    candidates += [r.offset_seconds for r in feature_results
                   if r.offset_seconds is not None and r.confidence > 0.1]
    unique: list[float] = []
    for c in candidates:
        if all(abs(c - u) > 0.004 for u in unique):
            unique.append(c)
    search = int(0.016 * sr)

    def trial(offset: float, max_blocks: int | None) -> correlation.Refinement | None:
        return correlation.refine(tm.signal, td.signal, candidate_lag=int(round(offset * sr)),
                                  search=search, sample_rate=sr, cancel=report.cancel,
                                  max_blocks=max_blocks, fractional=False)

    # a coarse peak that stands far above the rest, with every feature method beside it, needs
    # no fine probing of the other candidates (60 min: saves ~0.2 s on the critical path)
    clear = z_best >= _CLEAR_Z and ratio_best >= _CLEAR_RATIO and all(
        abs(r.offset_seconds - coarse_offset) <= 0.01 for r in feature_results
        if r.offset_seconds is not None and r.confidence > 0.1)
    if len(unique) > 1 and not clear:
        scored = [(t.peak, c) for c in unique if (t := trial(c, _PROBE_BLOCKS)) is not None]
        scored.sort(key=lambda pc: -abs(pc[0]))
        chosen = scored[0][1] if scored else unique[0]
    else:
        chosen = unique[0]

    def on_block(i: int, n: int) -> None:
        report("refine", 0.72 + 0.16 * i / max(n, 1), f"refining block {i}/{n}", window=i,
               windows=n)

    fine = correlation.refine(tm.signal, td.signal, candidate_lag=int(round(chosen * sr)),
                              search=search, sample_rate=sr, cancel=report.cancel,
                              on_block=on_block)
    if fine is None:
        offset, polarity = coarse_offset, None
        fine_diag: dict[str, float | int | None] = {"refined": 0}
    else:
        offset = fine.lag_samples / sr
        polarity = fine.peak < 0
        fine_diag = {"refined": 1, "fine_peak": round(fine.peak, 5),
                     "fine_ratio": round(fine.ratio, 3), "fine_zscore": round(fine.zscore, 2),
                     "blocks": fine.blocks, "fine_search_seconds": search / sr}
    idx = int(np.clip(round(offset * rate_c) - curve.first_lag, 0, mag.size - 1))
    idx = idx - 2 + int(np.argmax(mag[max(0, idx - 2) : idx + 3])) if idx >= 2 else idx
    z, ratio = _prominence(mag, idx, med, spread, exclusion)
    conf = peak_confidence(z, ratio, z_floor=7.0, z_full=14.0)
    second = _top_indices(np.where(np.abs(np.arange(mag.size) - idx) > exclusion, mag, 0.0),
                          count=1, exclusion=1)
    return MethodResult(
        method="correlation",
        offset_seconds=float(offset),
        confidence=conf,
        peak_height=float(fine.peak if fine is not None else curve.values[idx]),
        peak_ratio=float(ratio),
        search_range_seconds=(-max_off, max_off),
        resolution_seconds=1.0 / sr,
        elapsed_seconds=time.perf_counter() - t0,
        polarity_inverted=polarity,
        diagnostics={
            "coarse_rate_hz": rate_c,
            "coarse_offset_seconds": round(coarse_offset, 6),
            "coarse_zscore": round(z, 2),
            "coarse_peak": round(float(mag[idx]), 6),
            "second_peak_offset_seconds": (curve.first_lag + second[0]) / rate_c
            if second else None,
            "candidates_seconds": [round(c, 5) for c in unique],
            "candidates_probed": int(len(unique) > 1 and not clear),
            **fine_diag,
        },
    )


def _top_indices(mag: np.ndarray, *, count: int, exclusion: int) -> list[int]:
    order = np.argpartition(mag, -min(mag.size, count * 64))[-min(mag.size, count * 64):]
    order = order[np.argsort(mag[order])[::-1]]
    chosen: list[int] = []
    for i in order:
        if all(abs(int(i) - c) > exclusion for c in chosen):
            chosen.append(int(i))
            if len(chosen) == count:
                break
    return chosen or [int(np.argmax(mag))]


def _prominence(mag: np.ndarray, idx: int, med: float, spread: float,
                exclusion: int) -> tuple[float, float]:
    """(z-score, ratio to the highest value outside ±exclusion) of the value at ``idx``."""
    peak = float(mag[idx])
    outside = np.concatenate([mag[: max(0, idx - exclusion)], mag[idx + exclusion + 1 :]])
    second = float(outside.max()) if outside.size else med
    ratio = (peak - med) / max(second - med, 1e-12)
    return (peak - med) / spread, float(min(max(ratio, 0.0), 100.0))
