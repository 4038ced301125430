"""The ``ai`` method per model: accuracy per category of test programme and speed on CPU.

``python bench/ai_bench.py [--models spectral,basic_pitch,...] [--seeds 2] [--duration 30]
[--speech-weighting] [--cache-dir DIR] [--out bench/out/ai_bench.json]``

For each model and each case (``testkit.make_case`` kinds, a known true offset), the
analysis runs with the ``ai`` method (only ``spectral`` beside it, so the timing is the AI's).
Reported per model and category: share of cases whose ai offset is within one frame (40 ms),
share whose *coarse* embedding peak alone is, median error in ms, mean confidence; for the
cases with no true offset ("unrelated", "shuffled"), the share where the ai confidence stays
below 0.5. Speed: x real time = programme seconds (master + dub) / seconds of the ai method.

wav2vec2 and yamnet load from ``--cache-dir``; without real weights there, tiny random
stand-ins (``testkit.ai_models``) are written to a temporary cache and the report says so:
their accuracy is the plumbing's, not the model's, but their speed is representative only
of the tiny network.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.engine import AnalysisOptions, analyze_files  # noqa: E402
from app.engine.ai.registry import EMBEDDING_MODELS, ModelRegistry  # noqa: E402
from testkit import make_case  # noqa: E402

ONE_FRAME = 0.040
KINDS = {"clean": 0.5, "remix": 1.234, "aac": -0.777, "noise": 2.5, "negative": -3.21,
         "replaced_cue": 0.9, "partial": 1.7, "unrelated": 1.0}
NO_TRUTH = {"unrelated", "shuffled"}


def _cache(args: argparse.Namespace, tmp: Path) -> tuple[Path, dict[str, str]]:
    """The model cache to use and, per model, where its weights come from."""
    given = Path(args.cache_dir)
    reg = ModelRegistry(cache_dir=given)
    notes: dict[str, str] = {}
    cache = given
    missing = [m for m in ("wav2vec2", "yamnet") if m in args.models
               and not reg.status(m).available]
    if missing:
        cache = tmp / "models"
        for m in ("wav2vec2", "yamnet"):
            src = given / m
            if reg.status(m).available and src.exists():
                (cache / m).parent.mkdir(parents=True, exist_ok=True)
                (cache / m).symlink_to(src.resolve())
    for m in args.models:
        status = ModelRegistry(cache_dir=cache).status(m)
        if m in missing:
            from app.engine.ai import testing

            try:
                (testing.make_tiny_wav2vec2 if m == "wav2vec2" else testing.make_tiny_yamnet)(
                    cache / m)
                notes[m] = "tiny random stand-in (no real weights in the cache)"
            except ImportError as exc:
                notes[m] = f"skipped: {exc}"
        elif status.available:
            notes[m] = status.load_path or "no weights"
        else:
            notes[m] = f"skipped: {status.reason}"
    return cache, notes


def main(argv: list[str] | None = None) -> int:
    from app.engine import tune_process

    tune_process()  # BLAS threads and allocator thresholds (app.engine.tuning)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="spectral,basic_pitch,wav2vec2,yamnet")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--duration", type=float, default=30.0, help="seconds per programme")
    ap.add_argument("--speech-weighting", action="store_true")
    ap.add_argument("--cache-dir", default="ai_models")
    ap.add_argument("--out", default="bench/out/ai_bench.json")
    args = ap.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    unknown = [m for m in args.models if m not in EMBEDDING_MODELS]
    if unknown:
        ap.error(f"unknown models {unknown}; known: {list(EMBEDDING_MODELS)}")
    with tempfile.TemporaryDirectory(prefix="ai_bench_") as tmpname:
        tmp = Path(tmpname)
        cache, notes = _cache(args, tmp)
        cases = [make_case(k, tmp / "cases", seed=s, duration_seconds=args.duration,
                           true_offset_seconds=KINDS[k])
                 for s in range(1, args.seeds + 1) for k in args.kinds.split(",")]
        rows = []
        for model in args.models:
            if notes[model].startswith("skipped"):
                print(f"{model}: {notes[model]}")
                continue
            opts = AnalysisOptions(methods=("spectral",), ai_model=model,
                                   ai_cache_dir=str(cache), max_offset_seconds=20,
                                   speech_weighting=args.speech_weighting)
            analyze_files(cases[0].master_path, cases[0].dub_path, options=opts)  # load once
            for case in cases:
                kind = case.master_path.name.split("_s")[0]
                t = time.perf_counter()
                r = analyze_files(case.master_path, case.dub_path, options=opts)
                total = time.perf_counter() - t
                ai = next(m for m in r.methods if m.method == "ai")
                truth = case.true_offset_seconds
                err = None if truth is None or ai.offset_seconds is None else \
                    ai.offset_seconds - truth
                coarse = ai.diagnostics.get("coarse_offset_seconds")
                rows.append({
                    "model": model, "kind": kind, "truth": truth,
                    "offset": ai.offset_seconds, "error_ms": None if err is None else
                    round(1000 * err, 3), "coarse_error_ms": None if truth is None or
                    coarse is None else round(1000 * (coarse - truth), 1),
                    "confidence": ai.confidence, "ai_seconds": ai.elapsed_seconds,
                    "total_seconds": total,
                    "programme_seconds": r.master.analysed_seconds + r.dub.analysed_seconds,
                })
        summary = _summarise(rows)
        _print(summary, notes)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"notes": notes, "summary": summary, "rows": rows,
                                   "args": vars(args)}, indent=1))
        print(f"written {out}")
    return 0


def _summarise(rows: list[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        per: dict[str, dict] = {}
        for kind in dict.fromkeys(r["kind"] for r in mine):
            rs = [r for r in mine if r["kind"] == kind]
            if kind in NO_TRUTH:
                per[kind] = {"n": len(rs), "rejected": sum(r["confidence"] < 0.5 for r in rs)
                             / len(rs), "mean_confidence": sum(r["confidence"] for r in rs)
                             / len(rs)}
                continue
            errs = [abs(r["error_ms"]) for r in rs]
            per[kind] = {
                "n": len(rs), "within_frame": sum(e <= 1000 * ONE_FRAME for e in errs) / len(rs),
                "coarse_within_frame": sum(abs(r["coarse_error_ms"]) <= 1000 * ONE_FRAME
                                           for r in rs) / len(rs),
                "median_error_ms": median(errs),
                "mean_confidence": sum(r["confidence"] for r in rs) / len(rs)}
        speed = sum(r["programme_seconds"] for r in mine) / max(sum(r["ai_seconds"]
                                                                    for r in mine), 1e-9)
        truth_rows = [r for r in mine if r["truth"] is not None and r["kind"] not in NO_TRUTH]
        out[model] = {"categories": per, "x_real_time_cpu": round(speed, 1),
                      "within_frame_overall": sum(abs(r["error_ms"]) <= 40 for r in truth_rows)
                      / max(len(truth_rows), 1)}
    return out


def _print(summary: dict[str, dict], notes: dict[str, str]) -> None:
    for model, s in summary.items():
        print(f"\n{model} ({notes.get(model, '')}): {s['within_frame_overall']:.0%} within one "
              f"frame, {s['x_real_time_cpu']}x real time on CPU (ai method only)")
        for kind, c in s["categories"].items():
            if "within_frame" in c:
                print(f"  {kind:13s} within frame {c['within_frame']:.0%}  coarse "
                      f"{c['coarse_within_frame']:.0%}  median |err| "
                      f"{c['median_error_ms']:.2f} ms  conf {c['mean_confidence']:.2f}")
            else:
                print(f"  {kind:13s} rejected {c['rejected']:.0%}  conf "
                      f"{c['mean_confidence']:.2f}")


if __name__ == "__main__":
    sys.exit(main())
