"""Drift and edit benchmark: the timeline model against programmes with a known offset curve.

Each case is a realistic programme (real-recording M&E bed, dialogue in one language for the
master and another for the dub), the dub late by ``a`` seconds, then sped up or slowed by a
standard conversion (pitch changed: resampled; pitch kept: ffmpeg atempo) or edited (material
cut from or inserted into the dub). Prints per category: verdict right, speed-ratio error (ppm),
conversion and pitch named right, edit location error (s), edit duration error (ms), and the
fitted model's residual against the true offset at every window (ms), plus x real time.

The true offset of a pitch-kept dub includes the time-stretcher's own shift: ffmpeg's atempo
(WSOLA) delivers its input a few ms early or late (about +6 ms at 1000/1001, -6 ms at 25/24,
input time). The bench measures that shift on the stretcher's own input and output (the same
waveform, 100-ms snippets every 0.25 s, normalised correlation >= 0.9, median), independently
of the engine and of the master, and adds it to the truth.

Run: ``python bench/timeline_bench.py [--quick]`` (also run by ``make bench``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from app.engine import analyze_files  # noqa: E402
from app.engine.timeline import measure_stretch_shift  # noqa: E402
from testkit import (  # noqa: E402
    dialogue_track,
    dub_remix,
    make_programme,
    read_audio,
    real_bed,
    splice,
    write_audio,
)

SR = 48000
CACHE = BENCH / ".cache" / "timeline"


@dataclass
class Truth:
    """The true offset curve: ``a`` s late at the start, dub speed ``ratio``, then edits
    ``(master_time, +duration inserted / −duration removed)``."""

    a: float
    ratio: float = 1.0
    conversion: str | None = None
    pitch_changed: bool | None = None
    edits: list[tuple[float, float]] = field(default_factory=list)
    verdict: str = "constant_offset"
    #: the time-stretcher's shift (s, input time): dub time t carries input t·ratio + shift
    stretch_shift: float = 0.0

    def offset(self, t: float) -> float | None:
        """True offset (s) at master time ``t``; None inside removed material."""
        o = (t + self.a - self.stretch_shift) / self.ratio - t
        for at, d in self.edits:
            if d < 0 and at <= t < at - d:
                return None
            if t >= at:
                o += d
        return o


def stretch_shift(late_path: Path, dub_path: Path, ratio: float) -> float:
    """Median time shift (s, input time) of the time-stretched ``dub_path`` against its input
    ``late_path`` (output time t carries input t·ratio + shift), measured on the stretcher's
    own input and output (see :func:`app.engine.timeline.measure_stretch_shift`)."""
    x, sr = read_audio(late_path)
    y, _ = read_audio(dub_path)
    shift = measure_stretch_shift(x.mean(axis=1) if x.ndim > 1 else x,
                                  y.mean(axis=1) if y.ndim > 1 else y, ratio, float(sr))
    if shift is None:
        raise RuntimeError(f"cannot measure the stretch of {dub_path.name}")
    return shift


def _render(path: Path, truth: Truth, late: np.ndarray, late_path: Path, seed: int) -> None:
    """Write the dub of ``truth`` made from ``late`` (the dub mix, late by truth.a)."""
    if truth.ratio != 1.0 and truth.pitch_changed is False:  # pitch kept: ffmpeg time-stretch
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(late_path), "-af",
                        f"atempo={truth.ratio:.9f}", "-c:a", "pcm_s24le", str(path)], check=True)
        return
    if truth.ratio != 1.0:  # pitch changed: resampled, dub time = master time / ratio
        frac = Fraction(truth.ratio).limit_denominator(2000)
        x = resample_poly(late, frac.denominator, frac.numerator, axis=0)
    else:
        x = late
        for at, d in truth.edits:
            cut = int((at + truth.a) * SR)
            if d < 0:
                x = splice([x[:cut], x[cut + int(-d * SR):]], SR)
            else:
                x = splice([x[:cut], real_bed(d, SR, seed=seed + 9), x[cut:]], SR)
    write_audio(path, x, SR, codec="pcm_s24le")


def make_cases(quick: bool) -> list[tuple[str, str, Path, Path, Truth]]:
    """(category, name, master, dub, truth) — generated once into bench/.cache/timeline."""
    CACHE.mkdir(parents=True, exist_ok=True)
    seeds = [501] if quick else [501, 502]
    duration = 150.0 if quick else 240.0
    cases = []
    for seed in seeds:
        prog = make_programme(duration, SR, seed=seed, language="en", bed="real")
        master = CACHE / f"s{seed}_{duration:g}s_master.wav"
        if not master.exists():
            write_audio(master, prog.mix(2), SR, codec="pcm_s24le")
        dub = dub_remix(prog, dialogue_track(duration, SR, language="de", seed=seed + 1),
                        seed=seed + 2)
        a = 0.25 + 0.1 * (seed % 3)
        late = np.concatenate([np.zeros((int(a * SR), 2), np.float32), dub])[: dub.shape[0]]
        late_path = CACHE / f"s{seed}_{duration:g}s_late.wav"
        if not late_path.exists():
            write_audio(late_path, late, SR, codec="pcm_s24le")
        third = duration / 3

        specs: list[tuple[str, str, Truth]] = [
            ("constant", "constant", Truth(a)),
            ("drift 1000/1001 pitch changed", "pull_changed",
             Truth(a, 1000 / 1001, "1000/1001", True, verdict="drift")),
            ("drift 25/24 pitch changed", "pal_changed",
             Truth(a, 25 / 24, "25/24", True, verdict="drift")),
            ("drift 1000/1001 pitch kept", "pull_kept",
             Truth(a, 1000 / 1001, "1000/1001", False, verdict="drift")),
            ("drift 25/24 pitch kept", "pal_kept",
             Truth(a, 25 / 24, "25/24", False, verdict="drift")),
            ("edit: 3 s cut", "cut", Truth(a, edits=[(third, -3.0)], verdict="edited")),
            ("edit: 4 s insertion", "insert",
             Truth(a, edits=[(2 * third, 4.0)], verdict="edited")),
        ]
        for category, name, truth in specs:
            path = CACHE / f"s{seed}_{duration:g}s_{name}.wav"  # length in the name: no stale reuse
            if not path.exists():
                _render(path, truth, late, late_path, seed)
            if truth.pitch_changed is False:
                truth.stretch_shift = stretch_shift(late_path, path, truth.ratio)
            cases.append((category, f"s{seed}_{name}", master, path, truth))
    return cases


def _model_at(tl: dict, t: float) -> float | None:
    segs = tl["segments"]
    if not segs:
        return tl.get("offset_at_start_seconds")
    seg = next((s for s in segs if t < s["master_end_seconds"]), segs[-1])
    span = max(seg["master_end_seconds"] - seg["master_start_seconds"], 1e-9)
    slope = (seg["offset_end_seconds"] - seg["offset_start_seconds"]) / span
    return seg["offset_start_seconds"] + slope * (t - seg["master_start_seconds"])


def evaluate(case: tuple[str, str, Path, Path, Truth]) -> dict:
    category, name, master, dub, truth = case
    t0 = time.perf_counter()
    r = analyze_files(master, dub)
    seconds = time.perf_counter() - t0
    tl = r.timeline or {"segments": [], "edits": [], "windows": [], "drift": None}
    drift = tl.get("drift") or {}
    ratio = drift.get("speed_ratio", 1.0)
    residuals = []
    for w in tl["windows"]:
        if w["status"] != "ok":
            continue
        c = 0.5 * (w["start_seconds"] + w["end_seconds"])
        true, model = truth.offset(c), _model_at(tl, c)
        # windows straddling an edit have no single true offset
        near_edit = any(abs(c - at) < 0.5 * (w["end_seconds"] - w["start_seconds"]) + abs(d)
                        for at, d in truth.edits)
        if true is not None and model is not None and not near_edit:
            residuals.append(abs(model - true) * 1000)
    loc_err, dur_err = [], []
    for (at, d), e in zip(truth.edits, tl["edits"], strict=False):
        loc_err.append(abs(e["master_time_seconds"] - at))
        dur_err.append(abs(e["duration_seconds"] - abs(d)) * 1000)
    return {
        "category": category, "name": name, "verdict": r.verdict,
        "verdict_ok": r.verdict == truth.verdict,
        "ppm_error": abs(ratio - truth.ratio) * 1e6,
        "fitted_ppm_error": abs((drift.get("fitted_speed_ratio") or ratio) - truth.ratio) * 1e6,
        "conversion_ok": drift.get("conversion") == truth.conversion,
        "pitch_ok": truth.pitch_changed is None
        or drift.get("pitch_changed") == truth.pitch_changed,
        "edits_found": len(tl["edits"]), "edits_true": len(truth.edits),
        "edit_location_error_s": max(loc_err) if loc_err else None,
        "edit_duration_error_ms": max(dur_err) if dur_err else None,
        "residual_max_ms": max(residuals) if residuals else None,
        "residual_windows": len(residuals),
        "x_realtime": (r.master.analysed_seconds / seconds) if seconds else 0.0,
    }


def _worst(rows: list[dict], key: str) -> str:
    vals = [r[key] for r in rows if r[key] is not None]
    return f"{max(vals):.3f}" if vals else "-"


def format_table(rows: list[dict]) -> str:
    head = (f"{'category':<32} {'n':>2} {'verdict':>7} {'ppm err':>8} {'fit ppm':>8} "
            f"{'named':>5} "
            f"{'pitch':>5} {'edit loc s':>10} {'edit dur ms':>11} {'resid max ms':>12} "
            f"{'x RT':>6}")
    lines = [head, "-" * len(head)]
    for cat in dict.fromkeys(r["category"] for r in rows):
        rs = [r for r in rows if r["category"] == cat]

        lines.append(
            f"{cat:<32} {len(rs):>2} {sum(r['verdict_ok'] for r in rs):>3}/{len(rs):<3} "
            f"{max(r['ppm_error'] for r in rs):>8.1f} "
            f"{max(r['fitted_ppm_error'] for r in rs):>8.1f} "
            f"{sum(r['conversion_ok'] for r in rs):>2}/{len(rs):<2} "
            f"{sum(r['pitch_ok'] for r in rs):>2}/{len(rs):<2} "
            f"{_worst(rs, 'edit_location_error_s'):>10} "
            f"{_worst(rs, 'edit_duration_error_ms'):>11} {_worst(rs, 'residual_max_ms'):>12} "
            f"{np.median([r['x_realtime'] for r in rs]):>5.0f}x")
    lines.append("targets: speed ratio error <= 20 ppm, edit location <= 0.5 s, model residual "
                 "<= 5 ms at every window")
    lines.append("ppm err: the reported ratio (a named conversion's exact ratio where the fit "
                 "is consistent with it); fit ppm: the windows' own fitted ratio")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from app.engine import tune_process

    tune_process()  # BLAS threads and allocator thresholds (app.engine.tuning)
    p = argparse.ArgumentParser(prog="bench/timeline_bench.py", description=__doc__)
    p.add_argument("--quick", action="store_true", help="one seed, 150-s programmes")
    p.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = p.parse_args(argv)
    print("timeline corpus (drift, edits)...", flush=True)
    cases = make_cases(args.quick)
    rows = [evaluate(c) for c in cases]
    print(format_table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
