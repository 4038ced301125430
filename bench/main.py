"""Benchmark driver: corpus → our engine → peers → tables → 60-min speed test → JSON."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

from testkit import KINDS

from .corpus import CORPUS_VERSION, CorpusCase, corpus_specs, generate_corpus
from .peers import PEERS, run_peer
from .report import FRAME_SECONDS, Answer, format_table, summarise
from .speed import format_speed, make_long_pair, time_long_pair

BENCH = Path(__file__).resolve().parent
CACHE = BENCH / ".cache"
OUT = BENCH / "out"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/run.py", description=__doc__)
    p.add_argument(
        "--quick", action="store_true", help="1 case per kind (120 s each) and a 10-min speed pair"
    )
    p.add_argument("--kinds", help="comma-separated kinds (default: all)")
    p.add_argument("--no-peers", action="store_true", help="skip audio-offset-finder/syncstart")
    p.add_argument("--peers", default="aof,syncstart", help="peers to run (aof,syncstart)")
    p.add_argument("--no-speed", action="store_true", help="skip the long-programme speed test")
    p.add_argument("--speed-only", action="store_true", help="only the speed test")
    p.add_argument("--no-timeline", action="store_true", help="skip the drift/edit categories")
    p.add_argument(
        "--excerpts",
        action="store_true",
        help="only the excerpt / long-edit categories (bench/excerpts.py), ours vs the peers",
    )
    p.add_argument(
        "--excerpt-peers",
        default="aof,syncstart,describealign",
        help="peers for --excerpts (aof,syncstart,describealign)",
    )
    p.add_argument(
        "--evidence",
        action="store_true",
        help="only the decision categories (bench/evidence.py): weak shared sound, 5.1 channel "
        "faults, hard negatives and the observed false-alarm rate, ours vs the peers",
    )
    p.add_argument("--pairs", type=int, default=100, help="unrelated pairs for --evidence")
    p.add_argument("--speed-minutes", type=float, help="speed pair length (default 60, quick 10)")
    p.add_argument("--jobs", type=int, default=2, help="corpus generation processes")
    p.add_argument("--verbose", "-v", action="store_true", help="print every case")
    return p.parse_args(argv)


def _run_ours(cases: list[CorpusCase]) -> list[Answer]:
    from app.engine import analyze_files

    analyze_files(cases[0].master, cases[0].dub)  # warm-up (imports), untimed
    answers = []
    for c in cases:
        ans = Answer(c.name, c.spec.kind, c.true_offset, None, False, 0.0, c.spec.duration)
        t0 = time.perf_counter()
        try:
            r = analyze_files(c.master, c.dub)
            ans.offset, ans.reliable = r.offset_seconds, bool(r.reliable)
            ans.verdict, ans.confidence = r.verdict, r.confidence
        except Exception as exc:  # a crash is a miss
            ans.verdict, ans.error = "crash", f"{type(exc).__name__}: {exc}"
        ans.seconds = time.perf_counter() - t0
        answers.append(ans)
    return answers


def _num(x: object) -> float | None:
    return float(x) if isinstance(x, int | float) else None


def _run_peer(tool: str, cases: list[CorpusCase]) -> list[Answer]:
    pairs = [(c.master, c.dub) for c in cases]
    results = run_peer(tool, pairs, warmup=pairs[0])
    answers = []
    for c, res in zip(cases, results, strict=True):
        off, score = _num(res.get("offset")), _num(res.get("score"))
        reliable = off is not None and (tool != "aof" or (score is not None and score >= 10))
        err = res.get("error")
        ans = Answer(
            c.name,
            c.spec.kind,
            c.true_offset,
            off,
            reliable,
            _num(res.get("seconds")) or 0.0,
            c.spec.duration,
            "",
            score,
            None if err is None else str(err),
        )
        answers.append(ans)
    return answers


def _noteworthy(a: Answer) -> bool:
    """A false match, an error over 1 ms, or a true offset not reported as reliable."""
    if a.false_match:
        return True
    if a.true_offset is None:
        return False
    return a.abs_error is None or a.abs_error > 1e-3 or not a.reliable


def _case_lines(answers: list[Answer]) -> list[str]:
    out = []
    for a in answers:
        err = a.abs_error
        mark = "ok" if err is not None and err <= 1e-3 else ""
        if a.true_offset is not None and not a.reliable:
            mark = "unrel"
        if a.false_match:
            mark = "FALSE"
        elif a.true_offset is not None and (err is None or err > FRAME_SECONDS):
            mark = "miss"
        true = "none" if a.true_offset is None else f"{a.true_offset:+.6f}"
        got = "none" if a.offset is None else f"{a.offset:+.6f}"
        err_t = "" if err is None else f"{err * 1e3:9.3f} ms"
        conf = "" if a.confidence is None else f"{a.confidence:.2f}"
        out.append(
            f"  {mark:5} {a.case:20} true {true:>11} got {got:>11} {err_t:>12} "
            f"{a.verdict or '':17} conf {conf:5} rel {a.reliable!s:5} {a.seconds:6.1f} s"
            + (f"  [{a.error}]" if a.error else "")
        )
    return out


def main(argv: list[str] | None = None) -> int:
    from app.engine import tune_process

    tune_process()  # BLAS threads and allocator thresholds (app.engine.tuning)
    args = _parse(argv)
    if args.excerpts:
        from .excerpts import run_excerpts, write_json

        peers = [] if args.no_peers else [t for t in args.excerpt_peers.split(",") if t]
        doc = run_excerpts(quick=args.quick, peers=peers, jobs=args.jobs)
        doc["args"] = vars(args)
        print(f"\nJSON: {write_json(doc)}  (total {doc['seconds']:.0f} s)")
        return 0
    if args.evidence:
        from .evidence import run_evidence

        peers = [] if args.no_peers else [t for t in args.excerpt_peers.split(",") if t]
        doc = run_evidence(quick=args.quick, peers=peers, pairs=args.pairs)
        print(f"\n(total {doc['seconds']:.0f} s)")
        return 0
    kinds = args.kinds.split(",") if args.kinds else list(KINDS)
    report: dict[str, object] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "args": vars(args),
        "corpus_version": CORPUS_VERSION,
    }
    tools: dict[str, object] = {}
    report["tools"] = tools
    t_start = time.perf_counter()
    if not args.speed_only:
        specs = corpus_specs(quick=args.quick, kinds=kinds)
        minutes = sum(s.duration for s in specs) / 60
        print(
            f"corpus: {len(specs)} cases, {minutes:.0f} min of programme "
            f"(real recordings + espeak-ng dialogue) in {CACHE / 'corpus'}",
            flush=True,
        )
        t0 = time.perf_counter()
        docs = generate_corpus(specs, CACHE / "corpus", jobs=args.jobs)
        print(f"corpus ready in {time.perf_counter() - t0:.0f} s", flush=True)
        report["corpus"] = [d.to_dict() for d in docs]
        runs: list[tuple[str, str, list[Answer]]] = []
        print("running our engine...", flush=True)
        runs.append(("ours", "Sync Analyzer (app.engine.analyze_files)", _run_ours(docs)))
        if not args.no_peers:
            for tool in args.peers.split(","):
                print(f"running {PEERS[tool][0]}...", flush=True)
                runs.append((tool, f"{PEERS[tool][0]}; {PEERS[tool][1]}", _run_peer(tool, docs)))
        print()
        for key, title, answers in runs:
            rows = summarise(answers, kinds)
            tools[key] = {"title": title, "rows": rows, "answers": [asdict(a) for a in answers]}
            print(format_table(title, rows))
            if args.verbose or key == "ours":
                bad = [a for a in answers if args.verbose or _noteworthy(a)]
                if bad:
                    print("cases:" if args.verbose else "cases outside 1 ms, unreliable or false:")
                    print("\n".join(_case_lines(bad)))
            print()
        print(
            "≤1 frame = |error| ≤ 41.7 ms; FALSE = a reliable answer on unrelated/shuffled "
            "material, or one more than a frame off; x RT = programme s / wall s.\n"
        )
    if not (args.speed_only or args.no_timeline):
        from .timeline_bench import evaluate, make_cases
        from .timeline_bench import format_table as timeline_table

        print("timeline corpus (drift and edits)...", flush=True)
        rows = [evaluate(c) for c in make_cases(args.quick)]
        report["timeline"] = rows
        print(timeline_table(rows))
        print()
    if not args.no_speed:
        minutes = args.speed_minutes or (10.0 if args.quick else 60.0)
        print(f"speed pair: {minutes:g} min (generated once into {CACHE / 'speed'})...", flush=True)
        pair = make_long_pair(CACHE / "speed", minutes)
        speed = time_long_pair(pair)
        report["speed"] = speed
        print(format_speed(speed))
    report["total_seconds"] = time.perf_counter() - t_start
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    text = json.dumps(report, indent=1, default=str)
    (OUT / f"bench-{stamp}.json").write_text(text)
    (OUT / "latest.json").write_text(text)
    print(f"\nJSON: {OUT / f'bench-{stamp}.json'}  (total {report['total_seconds']:.0f} s)")
    return 0
