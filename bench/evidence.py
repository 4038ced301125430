"""The decision on evidence: weak shared sound, channel faults, hard negatives, and the
observed false-alarm rate against the stated one.

Categories (truth known; dubs are re-mixed, EQ'd, compressed, ducked, other-language):

* weak bed: M&E 20 and 25 dB under two-language dialogue (stereo), 20 dB mono, every music
  cue replaced (only effects shared);
* 5.1 channel faults: centre 2 frames late (other-language and same-language dialogue), L/R
  swapped, Ls/Rs swapped, film order, Ls inverted, Ls silent — scored on the offset of the
  programme and on the named fault (kind, channel, the channel's offset within 1 ms);
* negatives: another programme (real recordings), same style and instruments (synthetic
  beds), another episode with identical 40-s titles and a re-used cue, a music loop against a
  different edit of it, tone only — the answer must be "no_reliable_match";
* false alarms: ``--pairs`` pairs of unrelated 30-s programmes through the whole decision:
  the observed rate of matches against :data:`app.engine.decision.FALSE_ALARM_RATE`, with its
  95 % upper bound (3/N when none is seen), and how often the stated false-alarm probability
  falls under 0.5, 0.1 and 0.01 (for unrelated pairs it should rarely be small).

Run: ``python bench/evidence.py [--quick] [--no-peers] [--pairs N]`` (also
``bench/run.py --evidence``). Files are cached in ``bench/.cache/evidence/``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from testkit import evidence_cases as ec  # noqa: E402
from testkit import make_case  # noqa: E402

CACHE = BENCH / ".cache" / "evidence"
TRUE = 0.4321
SURROUND_TRUE = 0.1234
_FAULT_KIND = {"centre_late": ("offset", "C"), "centre_late_same": ("offset", "C"),
               "lr_swapped": ("swapped", "L"), "surround_swapped": ("swapped", "Ls"),
               "film_order": ("film_order", "L"), "inverted": ("inverted", "Ls"),
               "silent": ("silent", "Ls")}


def make_cases(quick: bool) -> list[dict[str, Any]]:
    """Every case: name, category, master, dub, truth (s or None), fault, channel truths."""
    dur = 45.0 if quick else 90.0
    out: list[dict[str, Any]] = []
    for me_db, ch, rep, name in [(-20.0, 2, False, "M&E -20 dB"), (-25.0, 2, False,
                                  "M&E -25 dB"), (-20.0, 1, False, "M&E -20 dB mono"),
                                 (-20.0, 2, True, "music replaced")]:
        m, d = ec.weak_bed_case(CACHE, seed=31, duration_seconds=dur, true_offset_seconds=TRUE,
                                me_db=me_db, channels=ch, music_replaced=rep)
        out.append({"name": name, "category": "weak bed", "master": m, "dub": d,
                    "truth": TRUE})
    for fault in ["centre_late", "centre_late_same", "lr_swapped", "surround_swapped",
                  "film_order", "inverted", "silent"]:
        c = ec.surround_fault_case(CACHE, fault.replace("_same", ""), seed=32,
                                   duration_seconds=dur * 2 / 3,
                                   true_offset_seconds=SURROUND_TRUE,
                                   same_language=fault.endswith("_same"))
        out.append({"name": fault, "category": "5.1 fault", "master": c.master_path,
                    "dub": c.dub_path, "truth": SURROUND_TRUE, "fault": fault,
                    "channel_offsets": c.channel_offsets})
    real = make_case("unrelated", CACHE, seed=33, duration_seconds=dur, true_offset_seconds=0,
                     bed="real")
    style = make_case("unrelated", CACHE, seed=34, duration_seconds=dur,
                      true_offset_seconds=0)
    for name, (m, d) in [("unrelated", (real.master_path, real.dub_path)),
                         ("same style", (style.master_path, style.dub_path)),
                         ("other episode", ec.episode_case(CACHE, seed=35)),
                         ("music loop", ec.loop_case(CACHE, seed=36)),
                         ("tone", ec.tone_case(CACHE, seed=37))]:
        out.append({"name": name, "category": "negative", "master": m, "dub": d,
                    "truth": None})
    return out


def _ours(case: dict[str, Any]) -> dict[str, Any]:
    from app.engine import analyze_files

    t = time.perf_counter()
    r = analyze_files(case["master"], case["dub"])
    row: dict[str, Any] = {"answered": bool(r.reliable), "offset": r.offset_seconds,
                           "seconds": time.perf_counter() - t, "verdict": r.verdict,
                           "p_false_alarm": ((r.evidence or {}).get("decision") or {}).get(
                               "p_false_alarm"), "signal": (r.evidence or {}).get("signal")}
    if case.get("fault"):
        kind, label = _FAULT_KIND[case["fault"]]
        faults = (r.channels or {}).get("faults", [])
        named = [f for f in faults if f["kind"] == kind and label in f["channels"]]
        chans = {c["label"]: c for c in (r.channels or {}).get("channels", [])}
        errs = [abs(chans[lab]["offset_seconds"] - t_) * 1000
                for lab, t_ in zip(ec.SMPTE_51, case["channel_offsets"], strict=True)
                if t_ is not None and lab in chans and lab != "LFE"
                and chans[lab]["offset_seconds"] is not None]
        row.update(fault_named=bool(named) and len(faults) == 1,
                   fault_text="; ".join(f["text"] for f in faults) or "-",
                   channel_error_ms=max(errs) if errs else None)
    return row


def _peer_row(tool: str, res: dict[str, Any]) -> dict[str, Any]:
    off = res.get("offset")
    off = float(off) if isinstance(off, int | float) else None
    score = res.get("score")
    score = float(score) if isinstance(score, int | float) else None
    answered = off is not None and (tool == "syncstart" or (
        score is not None and score >= (10 if tool == "aof" else 20)))
    return {"answered": answered, "offset": off, "seconds": float(res.get("seconds") or 0.0)}


def _cell(case: dict[str, Any], row: dict[str, Any]) -> str:
    if case["truth"] is None:
        return "FALSE MATCH" if row["answered"] else "no match (ok)"
    if not row["answered"]:
        return "abstained"
    err = abs(row["offset"] - case["truth"]) * 1000
    return f"{err:.3f} ms" + ("" if err <= 1.0 else " (wrong)")


def false_alarms(pairs: int) -> dict[str, Any]:
    """``pairs`` unrelated 30-s programme pairs (alternately synthetic and real beds)."""
    from app.engine import analyze_files
    from app.engine.decision import FALSE_ALARM_RATE

    root = CACHE / "pairs"
    matches, pfas = 0, []
    for i in range(pairs):
        c = make_case("unrelated", root, seed=1000 + i, duration_seconds=30.0,
                      true_offset_seconds=0, bed="real" if i % 2 else "synthetic")
        r = analyze_files(c.master_path, c.dub_path)
        matches += int(r.reliable)
        pfas.append(((r.evidence or {}).get("decision") or {}).get("p_false_alarm", 1.0))
        c.master_path.unlink()
        c.dub_path.unlink()
    under = {str(x): sum(1 for p in pfas if p is not None and p <= x) for x in (0.5, 0.1, 0.01)}
    return {"pairs": pairs, "matches": matches, "observed_rate": matches / max(pairs, 1),
            "upper_95": (3.0 / pairs if matches == 0 else None), "stated": FALSE_ALARM_RATE,
            "p_false_alarm_at_or_under": under}


def run_evidence(*, quick: bool = False, peers: list[str] | None = None, pairs: int = 100
                 ) -> dict[str, Any]:
    t0 = time.perf_counter()
    print(f"evidence corpus{' (quick)' if quick else ''} in {CACHE}...", flush=True)
    cases = make_cases(quick)
    print(f"{len(cases)} cases ready in {time.perf_counter() - t0:.0f} s; running ours...",
          flush=True)
    results: dict[str, list[dict[str, Any]]] = {"ours": [_ours(c) for c in cases]}
    for tool in peers or []:
        from bench.peers import PEERS, run_peer

        print(f"running {PEERS[tool][0]}...", flush=True)
        res = run_peer(tool, [(str(c["master"]), str(c["dub"])) for c in cases],
                       warmup=(str(cases[0]["master"]), str(cases[0]["dub"])))
        results[tool] = [_peer_row(tool, r) for r in res]
    tools = list(results)
    print()
    head = f"{'case':20s} {'category':10s} " + " ".join(f"{t:>15s}" for t in tools) + \
        "  named channel fault (ours)"
    print(head)
    print("-" * len(head))
    for i, c in enumerate(cases):
        cells = " ".join(f"{_cell(c, results[t][i]):>15s}" for t in tools)
        o = results["ours"][i]
        fault = ""
        if c.get("fault"):
            fault = ("OK " if o["fault_named"] else "MISSED ") + o["fault_text"] + (
                f" (channels within {o['channel_error_ms']:.3f} ms)"
                if o["channel_error_ms"] is not None else "")
        print(f"{c['name']:20s} {c['category']:10s} {cells}  {fault}")
    print()
    for t in tools:
        pos = [(c, r) for c, r in zip(cases, results[t], strict=True) if c["truth"] is not None]
        neg = [(c, r) for c, r in zip(cases, results[t], strict=True) if c["truth"] is None]
        ok = sum(1 for c, r in pos if r["answered"] and abs(r["offset"] - c["truth"]) <= 1e-3)
        false = sum(1 for _, r in neg if r["answered"])
        wrong = sum(1 for c, r in pos if r["answered"] and abs(r["offset"] - c["truth"]) > 1e-3)
        line = (f"{t:14s} positives within 1 ms {ok}/{len(pos)}, wrong answers {wrong}, "
                f"false matches {false}/{len(neg)}")
        if t == "ours":
            named = sum(1 for c, r in zip(cases, results[t], strict=True)
                        if c.get("fault") and r["fault_named"])
            line += f", channel faults named {named}/{sum(1 for c in cases if c.get('fault'))}"
        print(line)
    fa = None
    if pairs:
        print(f"\nfalse alarms: {pairs} unrelated 30-s pairs through the decision...",
              flush=True)
        fa = false_alarms(pairs)
        bound = (f"95% upper bound {fa['upper_95']:.3g}" if fa["upper_95"] is not None
                 else "")
        print(f"observed {fa['matches']}/{fa['pairs']} = {fa['observed_rate']:.3g} ({bound}); "
              f"stated {fa['stated']:g} per analysis; stated P_fa <= 0.5/0.1/0.01 in "
              + "/".join(str(v) for v in fa["p_false_alarm_at_or_under"].values())
              + " pairs")
    return {"cases": [{k: (str(v) if isinstance(v, Path) else v) for k, v in c.items()}
                      for c in cases], "results": results, "false_alarms": fa,
            "seconds": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> int:
    from app.engine import tune_process

    tune_process()  # BLAS threads and allocator thresholds (app.engine.tuning)
    p = argparse.ArgumentParser(prog="bench/evidence.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="shorter programmes")
    p.add_argument("--no-peers", action="store_true")
    p.add_argument("--peers", default="aof,syncstart,describealign")
    p.add_argument("--pairs", type=int, default=100, help="unrelated pairs for the rate")
    p.add_argument("--json", type=Path, help="also write everything as JSON here")
    args = p.parse_args(argv)
    peers = [] if args.no_peers else [t for t in args.peers.split(",") if t]
    doc = run_evidence(quick=args.quick, peers=peers, pairs=args.pairs)
    if args.json:
        args.json.write_text(json.dumps(doc, indent=1, default=str))
        print(f"\nJSON: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
