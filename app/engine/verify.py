"""Closed loop: repair a dub from its analysis, measure the repaired file against the master
again, and report the residual (constant offset, drift, edits, window by window).

Targets: |residual| ≤ 1 ms for a constant offset; every timeline window within one frame for
drift and edits. When the first pass leaves a reliable constant residual above the target, it is
removed by a second (lossless, whole-sample) shift and measured again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from app.engine.channels import ChannelAnalysis, analyze_channels
from app.engine.decode import decode
from app.engine.features import compute_features
from app.engine.methods._feature import local_detrend
from app.engine.pipeline import analyze_files
from app.engine.repair import (
    AudioFormat,
    OutputSpec,
    RepairPlan,
    apply_plan,
    fit_length,
    output_spec_for,
    probe_format,
    read_audio,
    sha256_file,
    shift_channels,
    write_audio,
)
from app.engine.types import (
    AnalysisOptions,
    CancelToken,
    ParameterError,
    ProgressCallback,
    ProgressEvent,
    SyncResult,
    Verdict,
)
from app.engine.xcorr import parabolic_offset

__all__ = [
    "CONSTANT_TOLERANCE_SECONDS",
    "FRAME_TOLERANCE_SECONDS",
    "Verification",
    "RepairOutcome",
    "residual_of",
    "feature_windows",
    "residual_of_features",
    "repair_dub",
    "repair_channels",
]

#: target for a constant offset repair (seconds)
CONSTANT_TOLERANCE_SECONDS = 0.001
#: target for drift and edits: one frame at 25 fps (seconds)
FRAME_TOLERANCE_SECONDS = 0.040


@dataclass
class Verification:
    """The repaired file measured against the master.

    residual_offset_seconds: the re-analysis' offset (> 0 = still late). max_window_residual:
    largest |offset| among the timeline's matched windows. windows_ok / windows_within: matched
    windows and those within ``window_tolerance_seconds``. residual_ppm: drift left (None: no
    drift found). edits: edits still found. passed: reliable, |residual| ≤ tolerance, every
    matched window within the window tolerance, no drift or edit left.
    """

    passed: bool
    verdict: str
    confidence: float
    residual_offset_seconds: float | None
    tolerance_seconds: float
    max_window_residual_seconds: float | None
    window_tolerance_seconds: float
    windows_ok: int
    windows_within: int
    residual_ppm: float | None
    edits: int
    reason: str
    result: dict[str, Any] | None = None
    method: str = "pipeline"

    def to_dict(self, *, with_result: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not with_result:
            d.pop("result", None)
        return d


def feature_windows(
    master: str | Path, repaired: str | Path, *, options: AnalysisOptions,
    window_seconds: float = 20.0, hop_seconds: float = 10.0, search_seconds: float = 0.5,
    cancel: CancelToken | None = None,
) -> list[dict[str, Any]]:
    """Offsets (s, > 0 = late) of the repaired file against the master in windows of
    ``window_seconds`` from band-wise spectral flux (10 ms frames, refined by parabolic
    interpolation to about a millisecond), searched ±``search_seconds``. Unlike the waveform
    (GCC-PHAT) this survives time-stretching, which scrambles the phase. Each window:
    start/end seconds, offset_seconds, zscore (peak over the curve's median, robust units),
    status "ok" (zscore ≥ 6) or "weak"."""
    sr = options.sample_rate
    fm = compute_features(decode(master, sample_rate=sr, stream=options.master_stream,
                                 cancel=cancel), sample_rate=sr, cancel=cancel)
    fd = compute_features(decode(repaired, sample_rate=sr, cancel=cancel), sample_rate=sr,
                          cancel=cancel)
    rate = fm.frame_rate
    m = local_detrend(fm.flux, frames=max(3, int(rate / 2)))
    d = local_detrend(fd.flux, frames=max(3, int(rate / 2)))
    w, hop, r = int(window_seconds * rate), int(hop_seconds * rate), int(search_seconds * rate)
    out: list[dict[str, Any]] = []
    # the repaired file padded with silence by the search range on both sides (its ends)
    dp = np.vstack([np.zeros((r, d.shape[1]), d.dtype), d,
                    np.zeros((r + w, d.shape[1]), d.dtype)])
    for j0 in range(0, max(m.shape[0] - w, 0) + 1, hop):
        a = m[j0 : j0 + w] - m[j0 : j0 + w].mean(axis=0)
        seg = dp[j0 : j0 + w + 2 * r]
        seg = seg - seg.mean(axis=0)
        na = float(np.sqrt((a.astype(np.float64) ** 2).sum())) or 1e-12
        vals = np.empty(2 * r + 1)
        for k in range(2 * r + 1):
            b = seg[k : k + w]
            nb = float(np.sqrt((b.astype(np.float64) ** 2).sum())) or 1e-12
            vals[k] = float((a * b).sum()) / (na * nb)
        i = int(np.argmax(vals))
        med = float(np.median(vals))
        spread = max(float(np.median(np.abs(vals - med))) * 1.4826, 1e-9)
        z = (float(vals[i]) - med) / spread
        frac = parabolic_offset(vals[i - 1], vals[i], vals[i + 1]) if 0 < i < vals.size - 1 \
            else 0.0
        out.append({"start_seconds": round(j0 / rate, 3), "end_seconds": round((j0 + w) / rate, 3),
                    "offset_seconds": round((i - r + frac) / rate, 6), "zscore": round(z, 2),
                    "status": "ok" if z >= 6.0 else "weak"})
    return out


def residual_of_features(windows: list[dict[str, Any]], *, tolerance_seconds: float,
                         reanalysis: Verification | None = None) -> Verification:
    """Judge feature windows (:func:`feature_windows`): passed when at least half are
    confident and every confident one is within ``tolerance_seconds``."""
    ok = [w for w in windows if w["status"] == "ok"]
    offs = [abs(w["offset_seconds"]) for w in ok]
    within = sum(1 for o in offs if o <= tolerance_seconds)
    median = float(np.median([w["offset_seconds"] for w in ok])) if ok else None
    passed = bool(ok) and len(ok) >= 0.5 * len(windows) and within == len(ok)
    reason = (f"feature windows (spectral flux, robust to time-stretching): {within} of "
              f"{len(ok)} confident windows within {tolerance_seconds * 1000:g} ms "
              f"({len(windows)} windows)")
    if reanalysis is not None:
        reason += f"; waveform re-analysis: {reanalysis.reason}"
    return Verification(
        passed=passed, verdict="in_sync" if passed else "not_verified",
        confidence=round(len(ok) / max(len(windows), 1), 4),
        residual_offset_seconds=median, tolerance_seconds=tolerance_seconds,
        max_window_residual_seconds=round(max(offs), 6) if offs else None,
        window_tolerance_seconds=tolerance_seconds, windows_ok=len(ok), windows_within=within,
        residual_ppm=None, edits=0, reason=reason,
        result={"verdict": "in_sync" if passed else "not_verified", "offset_seconds": median,
                "timeline": {"windows": windows, "segments": [], "edits": [], "drift": None}},
        method="features")


def residual_of(result: SyncResult | dict[str, Any], *, tolerance_seconds: float,
                window_tolerance_seconds: float = FRAME_TOLERANCE_SECONDS) -> Verification:
    """Judge a re-analysis of a repaired file (see :class:`Verification`)."""
    r = result.to_dict() if isinstance(result, SyncResult) else result
    tl = r.get("timeline") or {}
    offs = [abs(w["offset_seconds"]) for w in tl.get("windows", [])
            if w.get("status") == "ok" and w.get("offset_seconds") is not None]
    within = sum(1 for o in offs if o <= window_tolerance_seconds)
    drift = tl.get("drift")
    edits = len(tl.get("edits") or [])
    off = r.get("offset_seconds")
    reasons = []
    if not r.get("reliable"):
        reasons.append(f"re-analysis has no reliable match ({r.get('reason')})")
    if off is not None and abs(off) > tolerance_seconds:
        reasons.append(f"residual {off * 1000:+.3f} ms exceeds {tolerance_seconds * 1000:g} ms")
    if offs and within < len(offs):
        reasons.append(f"{len(offs) - within} of {len(offs)} windows off by more than "
                       f"{window_tolerance_seconds * 1000:g} ms")
    if drift:
        reasons.append(f"drift left: {drift.get('ppm')} ppm")
    if edits:
        reasons.append(f"{edits} edit(s) left")
    passed = not reasons
    return Verification(
        passed=passed, verdict=str(r.get("verdict")), confidence=float(r.get("confidence", 0)),
        residual_offset_seconds=off, tolerance_seconds=tolerance_seconds,
        max_window_residual_seconds=round(max(offs), 6) if offs else None,
        window_tolerance_seconds=window_tolerance_seconds, windows_ok=len(offs),
        windows_within=within, residual_ppm=drift.get("ppm") if drift else None, edits=edits,
        reason="; ".join(reasons) if reasons else
        f"residual {0.0 if off is None else off * 1000:+.3f} ms within "
        f"{tolerance_seconds * 1000:g} ms; {within}/{len(offs)} windows within "
        f"{window_tolerance_seconds * 1000:g} ms", result=r)


@dataclass
class RepairOutcome:
    """A repaired file, how it was made, and its verification(s) (one per pass)."""

    path: str
    plan: dict[str, Any]
    source: dict[str, Any]
    output: dict[str, Any]
    notes: list[str]
    verifications: list[Verification] = field(default_factory=list)
    channel_verification: dict[str, Any] | None = None
    elapsed_seconds: float = 0.0

    @property
    def verification(self) -> Verification | None:
        return self.verifications[-1] if self.verifications else None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "plan": self.plan, "source": self.source,
                "output": self.output, "notes": self.notes,
                "verification": self.verification.to_dict() if self.verification else None,
                "passes": [v.to_dict() for v in self.verifications],
                "channel_verification": self.channel_verification,
                "elapsed_seconds": round(self.elapsed_seconds, 3)}


def _output_info(path: Path, spec: OutputSpec) -> dict[str, Any]:
    fmt = probe_format(path)
    return {"path": str(path), "codec": fmt.codec, "bits": fmt.bits or spec.bits,
            "sample_rate": fmt.sample_rate, "channels": fmt.channels,
            "channel_layout": fmt.channel_layout, "duration_seconds": fmt.duration_seconds,
            "size_bytes": path.stat().st_size, "sha256": sha256_file(path)}


def _stage(progress: ProgressCallback | None, cancel: CancelToken | None, stage: str,
           fraction: float, message: str) -> None:
    if cancel is not None:
        cancel.raise_if_cancelled()
    if progress is not None:
        progress(ProgressEvent(stage, round(fraction, 4), message))


def _scaled(progress: ProgressCallback | None, lo: float, hi: float, stage: str
            ) -> Callable[[ProgressEvent], None] | None:
    if progress is None:
        return None

    def inner(e: ProgressEvent) -> None:
        progress(ProgressEvent(stage, round(lo + (hi - lo) * e.fraction, 4), e.message,
                               e.window, e.windows, e.estimate))

    return inner


def repair_dub(
    master: str | Path,
    dub: str | Path,
    out_path: str | Path,
    *,
    plan: RepairPlan,
    options: AnalysisOptions | None = None,
    match_master_duration: bool = False,
    output_format: str = "same",
    output_codec: str | None = None,
    output_bitrate: str | None = None,
    verify: bool = True,
    max_passes: int = 2,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> RepairOutcome:
    """Apply ``plan`` to ``dub`` (every channel), write ``out_path`` (its extension is set by
    the output spec), re-analyse against ``master`` and, when a reliable constant residual
    above the target is left, correct it by a whole-sample shift and verify again.

    Progress stages: "repair" (0–0.4), "verify" (0.4–1.0).
    """
    t0 = time.perf_counter()
    opts = (options or AnalysisOptions()).validate()
    _stage(progress, cancel, "repair", 0.0, "reading the dub")
    x, fmt = read_audio(dub, stream=opts.dub_stream, cancel=cancel)
    spec = output_spec_for(fmt, output_format=output_format, codec=output_codec,
                           bitrate=output_bitrate)
    out = Path(out_path)
    out = out.with_name(f"{out.name}.{spec.extension}")
    target = _target_samples(master, fmt, opts) if match_master_duration else None
    _stage(progress, cancel, "repair", 0.1, f"applying: {'; '.join(plan.operations)}")
    y, notes = apply_plan(x, sample_rate=fmt.sample_rate, plan=plan, target_samples=target,
                          cancel=cancel)
    del x
    _stage(progress, cancel, "repair", 0.3, f"writing {out.name} ({spec.codec})")
    write_audio(out, y, sample_rate=fmt.sample_rate, spec=spec,
                channel_layout=fmt.channel_layout)
    outcome = RepairOutcome(str(out), plan.to_dict(), fmt.to_dict(), {}, notes)
    if verify:
        tol = CONSTANT_TOLERANCE_SECONDS if plan.kind in ("constant", "none") else \
            FRAME_TOLERANCE_SECONDS
        for p in range(max_passes):
            lo = 0.4 + 0.6 * p / max_passes
            _stage(progress, cancel, "verify", lo, f"re-analysing the repaired file (pass {p + 1})")
            r = analyze_files(master, out, options=replace(opts, dub_stream=0, dub_channel=None),
                              progress=_scaled(progress, lo, lo + 0.6 / max_passes, "verify"),
                              cancel=cancel)
            v = residual_of(r, tolerance_seconds=tol)
            if plan.keep_pitch and (not v.passed or r.support < 0.75):
                # a time-stretched dub has lost (much of) its waveform match: judge by features
                # over the whole programme
                _stage(progress, cancel, "verify", lo + 0.5 / max_passes,
                       "time-stretched: checking windows by spectral flux")
                windows = feature_windows(master, out, options=opts, cancel=cancel)
                v = residual_of_features(windows, tolerance_seconds=tol, reanalysis=v)
            outcome.verifications.append(v)
            off = r.offset_seconds
            fixable = (r.reliable and off is not None and r.verdict == Verdict.CONSTANT_OFFSET
                       and abs(off) > CONSTANT_TOLERANCE_SECONDS and abs(off) < 1.0)
            if not fixable or p == max_passes - 1:
                break
            assert off is not None
            k = int(round(off * fmt.sample_rate))
            if k == 0:
                break
            y = shift_channels(y, [k] * y.shape[1])
            if target is not None:
                y = fit_length(y, target)
            plan.residual_correction_seconds += k / fmt.sample_rate
            outcome.plan = plan.to_dict()
            outcome.notes.append(f"pass {p + 1} left {off * 1000:+.3f} ms: shifted by {k} "
                                 "samples and verified again")
            write_audio(out, y, sample_rate=fmt.sample_rate, spec=spec,
                        channel_layout=fmt.channel_layout)
    outcome.output = _output_info(out, spec)
    outcome.elapsed_seconds = time.perf_counter() - t0
    _stage(progress, cancel, "verify", 1.0, "repair done")
    return outcome


def _target_samples(master: str | Path, fmt: AudioFormat, opts: AnalysisOptions) -> int:
    """The master's duration in samples at the dub's rate."""
    m = probe_format(master, stream=opts.master_stream)
    return int(round(m.duration_seconds * fmt.sample_rate))


def repair_channels(
    dub: str | Path | Sequence[str | Path],
    out_path: str | Path,
    *,
    offsets_seconds: Sequence[float],
    master: str | Path | None = None,
    options: AnalysisOptions | None = None,
    match_master_duration: bool = False,
    output_format: str = "same",
    output_codec: str | None = None,
    output_bitrate: str | None = None,
    verify: bool = True,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    order: Sequence[int] | None = None,
    invert: Sequence[bool] | None = None,
) -> RepairOutcome | list[RepairOutcome]:
    """One offset per channel (seconds, > 0 = that channel late: its head is removed; < 0:
    silence padded), applied sample-accurately.

    A multichannel file can also be re-wired and its polarity put right first (the faults
    :mod:`app.engine.channel_check` names): ``invert[j]`` flips dub channel j, and output
    channel i takes dub channel ``order[i]`` with that channel's offset
    (``offsets_seconds`` stay indexed by the dub's channels).

    ``dub`` one multichannel file → one output file ``out_path`` (its extension set by the
    output spec); a multi-mono set (a list of mono files) → one output per file, named
    ``<out_path stem>_<i>_<label>.<ext>``. Every channel keeps its samples bit for bit apart from
    the shift. With ``master`` and ``verify``, each repaired channel is measured again against
    the master (:func:`app.engine.channels.analyze_channels`).
    """
    opts = (options or AnalysisOptions()).validate()
    multi = not isinstance(dub, str | Path)
    paths = [Path(dub)] if isinstance(dub, str | Path) else [Path(p) for p in dub]
    if match_master_duration and master is None:
        raise ParameterError("match_master_duration needs the master file")
    _stage(progress, cancel, "repair", 0.0, "reading the dub")
    outcomes: list[RepairOutcome] = []
    written: list[Path] = []
    base = Path(out_path)
    if multi:
        if len(offsets_seconds) != len(paths):
            raise ParameterError(f"{len(offsets_seconds)} offsets for {len(paths)} files")
        from app.engine.channels import channel_labels

        labels = channel_labels(None, len(paths))
        for i, (p, off) in enumerate(zip(paths, offsets_seconds, strict=True)):
            x, fmt = read_audio(p, stream=opts.dub_stream, cancel=cancel)
            if fmt.channels != 1:
                raise ParameterError(f"multi-mono file {p.name} has {fmt.channels} channels")
            outcomes.append(_shift_write(x, fmt, [off], base.with_name(
                f"{base.stem}_{i + 1}_{labels[i]}"), master, opts, match_master_duration,
                output_format, output_codec, output_bitrate))
            written.append(Path(outcomes[-1].path))
            _stage(progress, cancel, "repair", 0.4 * (i + 1) / len(paths),
                   f"file {i + 1}/{len(paths)} repaired")
    else:
        x, fmt = read_audio(paths[0], stream=opts.dub_stream, cancel=cancel)
        if len(offsets_seconds) != fmt.channels:
            raise ParameterError(f"{len(offsets_seconds)} offsets for {fmt.channels} channels")
        offsets, rewired = _rewire(x, list(offsets_seconds), order, invert)
        outcomes.append(_shift_write(rewired, fmt, offsets, base, master, opts,
                                     match_master_duration, output_format, output_codec,
                                     output_bitrate))
        if order is not None or invert is not None:
            outcomes[0].plan["operations"][:0] = _rewire_operations(order, invert, fmt.channels)
        written.append(Path(outcomes[0].path))
        _stage(progress, cancel, "repair", 0.4, "repaired")
    if verify and master is not None:
        _stage(progress, cancel, "verify", 0.4, "measuring every repaired channel again")
        target: str | Path | list[Path] = written if multi else written[0]
        check = analyze_channels(master, target, options=replace(opts, dub_stream=0),
                                 progress=_scaled(progress, 0.4, 1.0, "verify"), cancel=cancel)
        summary = channel_verification(check)
        for o in outcomes:
            o.channel_verification = summary
    _stage(progress, cancel, "verify", 1.0, "repair done")
    return outcomes if multi else outcomes[0]


def _rewire(x: np.ndarray, offsets: list[float], order: Sequence[int] | None,
            invert: Sequence[bool] | None) -> tuple[list[float], np.ndarray]:
    """(offsets of the output channels, samples (n, ch)) after flipping the ``invert``ed dub
    channels and taking output channel i from dub channel ``order[i]``."""
    ch = x.shape[1]
    if invert is not None:
        if len(invert) != ch:
            raise ParameterError(f"{len(invert)} polarity flags for {ch} channels")
        signs = np.where(np.asarray(invert, bool), -1.0, 1.0).astype(x.dtype)
        x = x * signs
    if order is None:
        return offsets, x
    if sorted(order) != list(range(ch)):
        raise ParameterError(f"order {list(order)}: must be a permutation of 0..{ch - 1}")
    return [offsets[j] for j in order], np.ascontiguousarray(x[:, list(order)])


def _rewire_operations(order: Sequence[int] | None, invert: Sequence[bool] | None,
                       ch: int) -> list[str]:
    ops = [f"dub channel {j}: polarity inverted back" for j in range(ch)
           if invert is not None and invert[j]]
    if order is not None and list(order) != list(range(ch)):
        ops.append("channels re-wired: output " + ", ".join(
            f"{i} <- dub {j}" for i, j in enumerate(order) if i != j))
    return ops


def channel_verification(check: ChannelAnalysis, *,
                         tolerance_seconds: float = CONSTANT_TOLERANCE_SECONDS
                         ) -> dict[str, Any]:
    """Per channel residual of a per-channel re-analysis; passed when every measured channel
    is within ``tolerance_seconds`` and none that could be measured before went unreliable."""
    rows: list[dict[str, Any]] = []
    for c in check.channels:
        ok = c.offset_seconds is not None and abs(c.offset_seconds) <= tolerance_seconds
        rows.append({"index": c.index, "label": c.label, "status": c.status,
                     "residual_offset_seconds": c.offset_seconds,
                     "confidence": c.confidence, "passed": ok if c.status == "ok" else None})
    measured = [r for r in rows if r["status"] == "ok"]
    worst = max((abs(float(c.offset_seconds)) for c in check.channels
                 if c.status == "ok" and c.offset_seconds is not None), default=None)
    passed = bool(measured) and all(r["passed"] for r in measured)
    failing = [f"{c.label} {(c.offset_seconds or 0.0) * 1000:+.3f} ms" for c in check.channels
               if c.status == "ok" and not (c.offset_seconds is not None
                                            and abs(c.offset_seconds) <= tolerance_seconds)]
    unmeasured = [c.label for c in check.channels if c.status != "ok"]
    reason = (f"{len(measured)} channel(s) within {tolerance_seconds * 1000:g} ms (worst "
              f"{(worst or 0.0) * 1000:.3f} ms)" if passed else
              "no channel could be measured" if not measured else
              f"over {tolerance_seconds * 1000:g} ms: {', '.join(failing)}")
    if unmeasured:
        reason += f"; not measurable: {', '.join(unmeasured)}"
    return {"passed": passed, "reason": reason, "tolerance_seconds": tolerance_seconds,
            "max_abs_residual_seconds": worst, "channels": rows, "measured": len(measured)}


def _shift_write(x: np.ndarray, fmt: AudioFormat, offsets: list[float], out: Path,
                 master: str | Path | None, opts: AnalysisOptions, match: bool,
                 output_format: str, codec: str | None, bitrate: str | None) -> RepairOutcome:
    t0 = time.perf_counter()
    spec = output_spec_for(fmt, output_format=output_format, codec=codec, bitrate=bitrate)
    samples = [int(round(o * fmt.sample_rate)) for o in offsets]
    y = shift_channels(x, samples)
    if match:
        assert master is not None
        y = fit_length(y, _target_samples(master, fmt, opts))
    path = out.with_name(f"{out.name}.{spec.extension}")
    write_audio(path, y, sample_rate=fmt.sample_rate, spec=spec,
                channel_layout=fmt.channel_layout)
    plan = {"kind": "per_channel", "offsets_seconds": list(offsets),
            "offsets_samples": samples, "match_master_duration": match,
            "operations": [
                f"channel {i}: " + (f"removed {k} samples ({k / fmt.sample_rate:.6f} s) from "
                                    "the head" if k > 0 else
                                    f"padded {-k} samples ({-k / fmt.sample_rate:.6f} s) of "
                                    "silence" if k < 0 else "unchanged")
                for i, k in enumerate(samples)]}
    return RepairOutcome(str(path), plan, fmt.to_dict(), _output_info(path, spec), [],
                         elapsed_seconds=time.perf_counter() - t0)
