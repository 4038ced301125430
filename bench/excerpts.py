"""Excerpts and long edits: dubs that are not the whole programme, or the programme edited.

Categories, each with a known truth (segments of constant speed with their offsets, edits,
and the part of the master the dub covers):

* reel, promo90: a 20-min reel and a 30-s promo from inside a 90-min programme
  (``--quick``: of a 15-min one); ``--three-hours`` adds reel3h and promo3h of a 3-h one, and
  every long programme's excerpt is timed against ffmpeg decoding its two files;
* promo (30 s), clip (6 s), excerpt (60 s from inside) of a 4-min programme;
* longer: the whole 4-min programme with 45 s of unrelated material before it and 30 s after;
* ad breaks: three breaks of unrelated programme (60–180 s) inserted into a 10-min one;
* censor cuts: five short cuts (0.3–4 s) from a 6-min programme;
* same-mix cut: the master's own mix as AAC 96k with a 3.2-s cut;
* drift + cut: a 2-s cut, then the dub slowed by 1000/1001 (resampled, pitch changed);
* negatives: a 60-s excerpt of an unrelated programme and a 30-s 1 kHz tone (the answer
  must be "no_reliable_match").

Masters are ``make_programme(..., bed="real", sources=find_sources().part(0))`` mixes (24-bit
WAV, 48 kHz); dubs are ``dub_remix`` of the same bed under dialogue in another language, AAC
128k in m4a (same-mix: the master's own mix, AAC 96k). Unrelated material comes from
``find_sources().part(1)`` and shares no recording with the masters. Files are generated once
into ``bench/.cache/excerpts/`` (gitignored) and reused while ``EXCERPTS_VERSION`` and the
specs are unchanged.

Scored for our engine: answered (reliable), the first segment's offset error and every true
segment's offset error (ms), every true edit's location and duration error (ms), phantom
(a reported edit with no true edit of its kind within 1 s) and missed edits, whether the
truth lies within the reported ±uncertainty, coverage start/end error (s), false matches and
wall time; the peers (audio-offset-finder, syncstart, describealign) on the same cases.

Run: ``python bench/excerpts.py [--quick] [--no-peers]`` (also part of ``bench/run.py``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from testkit import (  # noqa: E402
    AudioWriter,
    Programme,
    codec_delay_samples,
    dialogue_track,
    dub_remix,
    find_sources,
    make_programme,
    probe_audio,
    resample,
    splice,
    write_audio,
)

__all__ = [
    "EXCERPTS_VERSION",
    "ExcerptCase",
    "make_cases",
    "evaluate_ours",
    "evaluate_peer",
    "format_table",
    "run_excerpts",
]

#: Bump when the testkit or the specs change so cached files are regenerated.
EXCERPTS_VERSION = "v2"
SR = 48000
CACHE = BENCH / ".cache" / "excerpts"
FRAME = 1.0 / 24.0
EDIT_MATCH_SECONDS = 1.0  # a reported edit further than this from every true one is a phantom
LONG_CHUNK = 900.0  # the 90-min master is made of 15-min programmes (memory: ~2.5 GB each)


@dataclass
class Seg:
    """A stretch of constant speed: master span (s) and the true offset at its two ends."""

    master_start: float
    master_end: float
    offset_start: float
    offset_end: float

    def at(self, t: float) -> float:
        span = self.master_end - self.master_start
        k = (t - self.master_start) / span if span > 0 else 0.0
        return self.offset_start + k * (self.offset_end - self.offset_start)


@dataclass
class TrueEdit:
    """``master_time``: where the removed material starts / where material was inserted."""

    master_time: float
    kind: str  # "removed" | "inserted" | "replaced"
    duration: float


@dataclass
class ExcerptCase:
    name: str
    category: str
    description: str
    master: str
    dub: str
    master_seconds: float
    dub_seconds: float
    segments: list[Seg] = field(default_factory=list)  # empty: no true match (negative)
    edits: list[TrueEdit] = field(default_factory=list)
    coverage: tuple[float, float] | None = None  # master span the dub covers

    @property
    def negative(self) -> bool:
        return not self.segments

    @property
    def first_offset(self) -> float | None:
        return self.segments[0].offset_start if self.segments else None

    @staticmethod
    def from_dict(d: dict[str, Any]) -> ExcerptCase:
        d = dict(d)
        d["segments"] = [Seg(**s) for s in d["segments"]]
        d["edits"] = [TrueEdit(**e) for e in d["edits"]]
        d["coverage"] = tuple(d["coverage"]) if d["coverage"] else None
        return ExcerptCase(**d)


# ---------------------------------------------------------------------------- generation


def _idx(t: float) -> int:
    return int(round(t * SR))


def _write_dub(path: Path, x: np.ndarray, *, bitrate: str = "128k") -> float:
    """AAC in m4a, advanced by the codec's measured round-trip latency (0 where the m4a edit
    list trims the priming) so the decoded dub lines up sample-exactly; returns seconds."""
    lat = codec_delay_samples("m4a", "aac", bitrate, SR, x.shape[1])
    if lat > 0:
        x = np.concatenate([x[lat:], np.zeros((lat, x.shape[1]), np.float32)])
    write_audio(path, x, SR, codec="aac", bitrate=bitrate)
    return len(x) / SR


def _master(path: Path, prog: Programme) -> np.ndarray:
    mix = prog.mix(2)
    write_audio(path, mix, SR, codec="pcm_s24le")
    return mix


def _sources(part: int):  # noqa: ANN202 - BedSources
    return find_sources().part(part)


def _other(seconds: float = 500.0) -> np.ndarray:
    """The unrelated programme (other recordings, Spanish dialogue) as a stereo mix."""
    prog = make_programme(seconds, SR, seed=709, language="es", bed="real", sources=_sources(1))
    return prog.mix(2)


def _tone(seconds: float) -> np.ndarray:
    t = np.arange(_idx(seconds)) / SR
    tone = (0.1 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)
    return np.stack([tone, tone], axis=1)


def _const(start: float, end: float, offset: float) -> Seg:
    return Seg(start, end, offset, offset)


def _gen_long(root: Path, quick: bool) -> list[ExcerptCase]:
    """reel: a 20-min reel (quick: 4 min) and promo90: a 30-s promo from inside a 90-min
    (quick: 15-min) programme."""
    if quick:
        return _long_master(root, 900.0, [("reel", 371.234_5, 240.0), ("promo90", 611.987_6, 30.0)])
    return _long_master(root, 5400.0, [("reel", 2233.456_7, 1200.0),
                                       ("promo90", 4321.098_7, 30.0)])


def _gen_three_hours(root: Path) -> list[ExcerptCase]:
    """The scale check (``--three-hours``): a 30-s promo and a 20-min reel of a 3-h programme,
    both late in it."""
    return _long_master(root, 10800.0, [("promo3h", 9876.543_2, 30.0),
                                        ("reel3h", 6000.123_4, 1200.0)])


def _long_master(root: Path, total: float, excerpts: list[tuple[str, float, float]]
                 ) -> list[ExcerptCase]:
    """A ``total``-second master written chunk by chunk (15-min programmes) and, for each
    (name, start s, length s) of ``excerpts``, a German re-mixed dub of that stretch."""
    master = root / f"long_{total:g}s_master.wav"
    src = _sources(0)
    spans = [(_idx(r0), _idx(r0) + _idx(length)) for _, r0, length in excerpts]
    dialogue = [dialogue_track(length, SR, language="de", seed=7101 + j)
                for j, (_, _, length) in enumerate(excerpts)]
    parts: list[list[np.ndarray]] = [[] for _ in excerpts]
    with AudioWriter(master, SR, 2, codec="pcm_s24le") as w:
        for k in range(int(total // LONG_CHUNK)):
            prog = make_programme(LONG_CHUNK, SR, seed=701 + 13 * k, language="en",
                                  bed="real", sources=src)
            w.write(prog.mix(2))
            c0 = _idx(k * LONG_CHUNK)
            for j, (i0, i1) in enumerate(spans):
                a, b = max(i0, c0) - c0, min(i1, c0 + len(prog.bed)) - c0
                if a < b:
                    sub = Programme(np.asarray(prog.bed[a:b]), np.asarray(prog.dialogue[a:b]),
                                    SR, prog.language, prog.seed)
                    d0 = c0 + a - i0
                    parts[j].append(dub_remix(sub, dialogue[j][d0:d0 + b - a], seed=7102 + j))
    cases = []
    for (name, _, length), (i0, _), chunks in zip(excerpts, spans, parts, strict=True):
        dub = root / f"long_{total:g}s_{name}_{length:g}s.m4a"
        dub_s = _write_dub(dub, np.concatenate(chunks))
        start = i0 / SR
        what = f"{length / 60:g}-min reel" if length >= 60 else f"{length:g}-s promo"
        cases.append(ExcerptCase(
            name, f"{what} of {total / 60:g} min",
            f"a {what} from {start:.4f} s of a {total / 60:g}-min programme (en master, de "
            "dub, AAC 128k)", str(master), str(dub), total, dub_s,
            [_const(start, start + length, -start)], [], (start, start + length)))
    return cases


def _gen_short(root: Path) -> list[ExcerptCase]:
    """promo, clip, excerpt, longer, and the negatives against one 4-min programme."""
    total = 240.0
    prog = make_programme(total, SR, seed=702, language="en", bed="real", sources=_sources(0))
    master = root / "short_master.wav"
    _master(master, prog)
    dub = dub_remix(prog, dialogue_track(total, SR, language="de", seed=7201), seed=7202)
    other = _other()
    cases = []
    for name, cat, a, ln in (("promo", "promo 30 s", 97.25, 30.0),
                             ("clip", "clip 6 s", 181.6, 6.0),
                             ("excerpt", "excerpt 60 s", 150.125, 60.0)):
        path = root / f"short_{name}.m4a"
        s = _write_dub(path, dub[_idx(a):_idx(a) + _idx(ln)])
        cases.append(ExcerptCase(
            name, cat, f"{ln:g} s from {a:g} s of a 4-min programme (de dub, AAC 128k)",
            str(master), str(path), total, s, [_const(a, a + ln, -a)], [], (a, a + ln)))
    head, tail = 45.0, 30.0
    path = root / "short_longer.m4a"
    s = _write_dub(path, np.concatenate([other[_idx(360.0):_idx(360.0 + head)], dub,
                                         other[_idx(405.0):_idx(405.0 + tail)]]))
    cases.append(ExcerptCase(
        "longer", "longer than master",
        f"the whole 4-min programme after {head:g} s and before {tail:g} s of unrelated "
        "material (AAC 128k)", str(master), str(path), total, s,
        [_const(0.0, total, head)], [], (0.0, total)))
    path = root / "short_unrelated.m4a"
    s = _write_dub(path, other[_idx(435.0):_idx(495.0)])
    cases.append(ExcerptCase(
        "unrelated", "negative: unrelated",
        "60 s of an unrelated programme (other recordings, es dialogue; AAC 128k)",
        str(master), str(path), total, s))
    path = root / "short_tone.m4a"
    s = _write_dub(path, _tone(30.0))
    cases.append(ExcerptCase(
        "tone", "negative: 1 kHz tone", "30 s of 1 kHz tone at -20 dBFS (AAC 128k)",
        str(master), str(path), total, s))
    return cases


def _edited(x: np.ndarray, late: float, cuts: list[tuple[float, float]]) -> np.ndarray:
    """``x`` (master time) with ``cuts`` [(start, seconds)] removed (butt splices), after
    ``late`` s of silence."""
    pieces, prev = [], 0
    for at, d in cuts:
        pieces.append(x[prev:_idx(at)])
        prev = _idx(at) + _idx(d)
    pieces.append(x[prev:])
    head = np.zeros((_idx(late), x.shape[1]), np.float32)
    return np.concatenate([head, splice(pieces, SR)])


def _cut_truth(total: float, late: float, cuts: list[tuple[float, float]]
               ) -> tuple[list[Seg], list[TrueEdit]]:
    segs, edits, prev, off = [], [], 0.0, late
    for at, d in cuts:
        segs.append(_const(prev, at, off))
        edits.append(TrueEdit(at, "removed", d))
        prev, off = at + d, off - d
    segs.append(_const(prev, total, off))
    return segs, edits


def _gen_ads(root: Path) -> list[ExcerptCase]:
    """three ad breaks (75, 120, 165 s of unrelated programme) inserted into 10 min."""
    total, late = 600.0, 0.48
    breaks = [(150.0, 75.0), (320.0, 120.0), (470.0, 165.0)]
    prog = make_programme(total, SR, seed=703, language="en", bed="real", sources=_sources(0))
    master = root / "ads_master.wav"
    _master(master, prog)
    dub = dub_remix(prog, dialogue_track(total, SR, language="fr", seed=7301), seed=7302)
    ads = _other()
    parts, prev, used = [np.zeros((_idx(late), 2), np.float32)], 0, 0.0
    segs, edits, off, t0 = [], [], late, 0.0
    for at, d in breaks:
        parts += [dub[prev:_idx(at)], ads[_idx(used):_idx(used) + _idx(d)]]
        segs.append(_const(t0, at, off))
        edits.append(TrueEdit(at, "inserted", d))
        prev, used, off, t0 = _idx(at), used + d, off + d, at
    parts.append(dub[prev:])
    segs.append(_const(t0, total, off))
    path = root / "ads_dub.m4a"
    s = _write_dub(path, np.concatenate(parts))
    return [ExcerptCase(
        "ads", "3 ad breaks 60-180 s",
        f"a 10-min programme, dub {late:g} s late, breaks of unrelated programme inserted at "
        + ", ".join(f"{a:g} s ({d:g} s)" for a, d in breaks) + " (fr dub, AAC 128k)",
        str(master), str(path), total, s, segs, edits, (0.0, total))]


def _gen_extremes(root: Path) -> list[ExcerptCase]:
    """the edit lengths' ends: a 0.1-s cut, a 10-min break of unrelated programme, a 0.15-s
    cut, in an 8-min programme."""
    total, late = 480.0, 0.7
    prog = make_programme(total, SR, seed=706, language="en", bed="real", sources=_sources(0))
    master = root / "extremes_master.wav"
    _master(master, prog)
    dub = dub_remix(prog, dialogue_track(total, SR, language="de", seed=7601), seed=7602)
    brk = _other(620.0)[: _idx(600.0)]
    parts = [np.zeros((_idx(late), 2), np.float32), dub[:_idx(70.3)], dub[_idx(70.4):_idx(200.0)],
             brk, dub[_idx(200.0):_idx(380.6)], dub[_idx(380.75):]]
    path = root / "extremes_dub.m4a"
    s = _write_dub(path, splice(parts, SR))
    segs = [_const(0.0, 70.3, late), _const(70.4, 200.0, late - 0.1),
            _const(200.0, 380.6, late - 0.1 + 600.0), _const(380.75, total, late - 0.25 + 600.0)]
    edits = [TrueEdit(70.3, "removed", 0.1), TrueEdit(200.0, "inserted", 600.0),
             TrueEdit(380.6, "removed", 0.15)]
    return [ExcerptCase(
        "extremes", "0.1-s cut, 10-min break",
        f"an 8-min programme, dub {late:g} s late, a 0.1-s cut at 70.3 s, a 10-min break of "
        "unrelated programme at 200 s, a 0.15-s cut at 380.6 s (de dub, AAC 128k)",
        str(master), str(path), total, s, segs, edits, (0.0, total))]


def _gen_replaced(root: Path) -> list[ExcerptCase]:
    """a replaced span: master 150–180 s replaced in the dub by 20 s of unrelated programme,
    in a 6-min programme."""
    total, late = 360.0, 0.3
    prog = make_programme(total, SR, seed=707, language="en", bed="real", sources=_sources(0))
    master = root / "replaced_master.wav"
    _master(master, prog)
    dub = dub_remix(prog, dialogue_track(total, SR, language="fr", seed=7701), seed=7702)
    other = _other(60.0)[: _idx(20.0)]
    parts = [np.zeros((_idx(late), 2), np.float32), dub[:_idx(150.0)], other, dub[_idx(180.0):]]
    path = root / "replaced_dub.m4a"
    s = _write_dub(path, splice(parts, SR))
    segs = [_const(0.0, 150.0, late), _const(180.0, total, late - 10.0)]
    return [ExcerptCase(
        "replaced", "replaced span 30 s → 20 s",
        f"a 6-min programme, dub {late:g} s late, master 150–180 s replaced by 20 s of an "
        "unrelated programme (fr dub, AAC 128k)", str(master), str(path), total, s, segs,
        [TrueEdit(150.0, "replaced", 30.0)], (0.0, total))]


def _gen_censor(root: Path) -> list[ExcerptCase]:
    """five censor cuts of 0.3–4 s from a 6-min programme."""
    total, late = 360.0, 1.2
    cuts = [(40.0, 0.3), (95.5, 0.8), (160.25, 1.5), (230.0, 2.5), (300.7, 4.0)]
    prog = make_programme(total, SR, seed=704, language="en", bed="real", sources=_sources(0))
    master = root / "censor_master.wav"
    _master(master, prog)
    dub = dub_remix(prog, dialogue_track(total, SR, language="es", seed=7401), seed=7402)
    path = root / "censor_dub.m4a"
    s = _write_dub(path, _edited(dub, late, cuts))
    segs, edits = _cut_truth(total, late, cuts)
    return [ExcerptCase(
        "censor", "5 censor cuts 0.3-4 s",
        f"a 6-min programme, dub {late:g} s late, cuts at "
        + ", ".join(f"{a:g} s ({d:g} s)" for a, d in cuts) + " (es dub, AAC 128k)",
        str(master), str(path), total, s, segs, edits, (0.0, total))]


def _gen_samemix(root: Path) -> list[ExcerptCase]:
    """the master's own mix, AAC 96k, with one 3.2-s cut."""
    total, late, cuts = 300.0, 0.75, [(131.4, 3.2)]
    prog = make_programme(total, SR, seed=705, language="en", bed="real", sources=_sources(0))
    master = root / "samemix_master.wav"
    mix = _master(master, prog)
    path = root / "samemix_dub.m4a"
    s = _write_dub(path, _edited(mix, late, cuts), bitrate="96k")
    segs, edits = _cut_truth(total, late, cuts)
    return [ExcerptCase(
        "samemix_cut", "same mix AAC 96k, 3.2 s cut",
        f"the master's own mix {late:g} s late, 3.2 s cut at 131.4 s, AAC 96k",
        str(master), str(path), total, s, segs, edits, (0.0, total))]


def _gen_drift(root: Path) -> list[ExcerptCase]:
    """a 2-s cut at 120 s, then slowed by 1000/1001 (resampled: pitch changed)."""
    total, late, cuts = 300.0, 0.5, [(120.0, 2.0)]
    prog = make_programme(total, SR, seed=706, language="en", bed="real", sources=_sources(0))
    master = root / "drift_master.wav"
    _master(master, prog)
    dub = dub_remix(prog, dialogue_track(total, SR, language="de", seed=7601), seed=7602)
    # dub time = late time * 1001/1000 (48000 -> 48048 samples per second, played at 48000)
    slowed = resample(_edited(dub, late, cuts), SR, SR * 1001 // 1000)
    path = root / "drift_dub.m4a"
    s = _write_dub(path, slowed)
    k = 1001 / 1000
    segs, edits = [], []
    for sg in _cut_truth(total, late, cuts)[0]:  # late time = t + offset -> dub time * k
        segs.append(Seg(sg.master_start, sg.master_end,
                        (sg.master_start + sg.offset_start) * k - sg.master_start,
                        (sg.master_end + sg.offset_end) * k - sg.master_end))
    edits = [TrueEdit(120.0, "removed", 2.0)]
    return [ExcerptCase(
        "drift_cut", "drift 1000/1001 + 2 s cut",
        f"dub {late:g} s late, 2 s cut at 120 s, then slowed 1000/1001 by resampling (pitch "
        "changed; de dub, AAC 128k); edit duration counted in master time",
        str(master), str(path), total, s, segs, edits, (0.0, total))]


_GROUPS = {
    "long": _gen_long,
    "short": _gen_short,
    "ads": _gen_ads,
    "censor": _gen_censor,
    "samemix": _gen_samemix,
    "drift": _gen_drift,
    "extremes": _gen_extremes,
    "replaced": _gen_replaced,
}
#: generated only with ``--three-hours``
_SCALE_GROUPS = {"three_hours": _gen_three_hours}


def _group(name: str, quick: bool) -> list[ExcerptCase]:
    key = f"{name}_quick" if name == "long" and quick else name
    root = CACHE / key
    manifest = root / "cases.json"
    if manifest.exists():
        doc = json.loads(manifest.read_text())
        if doc.get("version") == EXCERPTS_VERSION:
            cases = [ExcerptCase.from_dict(c) for c in doc["cases"]]
            if all(Path(c.master).exists() and Path(c.dub).exists() for c in cases):
                return cases
    root.mkdir(parents=True, exist_ok=True)
    gen = {**_GROUPS, **_SCALE_GROUPS}[name]
    cases = gen(root, quick) if name == "long" else gen(root)
    for c in cases:  # the decoded length, not the written one (AAC pads the last frame)
        c.dub_seconds = float(probe_audio(c.dub)["duration"])
    manifest.write_text(json.dumps(
        {"version": EXCERPTS_VERSION, "cases": [asdict(c) for c in cases]}, indent=1))
    return cases


def make_cases(quick: bool = False, *, jobs: int = 2, three_hours: bool = False
               ) -> list[ExcerptCase]:
    """Generate (or reuse from bench/.cache/excerpts) every case, in a fixed order; with
    ``three_hours``, the 3-h programme's cases too."""
    CACHE.mkdir(parents=True, exist_ok=True)
    names = list(_GROUPS) + (list(_SCALE_GROUPS) if three_hours else [])
    if jobs <= 1:
        groups = [_group(n, quick) for n in names]
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            groups = list(pool.map(_group, names, [quick] * len(names)))
    return [c for g in groups for c in g]


# ---------------------------------------------------------------------------- scoring


def _model_at(segments: list[dict[str, float]], t: float) -> float | None:
    """The reported offset at master time ``t``: the segment holding ``t`` (else the nearest
    one), linear between its two ends."""
    if not segments:
        return None

    def dist(s: dict[str, float]) -> float:
        return max(s["master_start_seconds"] - t, t - s["master_end_seconds"], 0.0)

    s = min(segments, key=dist)
    span = s["master_end_seconds"] - s["master_start_seconds"]
    k = (t - s["master_start_seconds"]) / span if span > 0 else 0.0
    k = min(max(k, 0.0), 1.0)
    return s["offset_start_seconds"] + k * (s["offset_end_seconds"] - s["offset_start_seconds"])


def _score_segments(case: ExcerptCase, segments: list[dict[str, float]]) -> dict[str, Any]:
    """Each true segment's offset error (ms) at its centre, against the reported segment that
    overlaps it; a true segment no reported one overlaps is "missing"."""
    errs: list[float | None] = []
    for sg in case.segments:
        over = [s for s in segments
                if min(s["master_end_seconds"], sg.master_end)
                - max(s["master_start_seconds"], sg.master_start) > 0]
        if not over:
            errs.append(None)
            continue
        lo = max(sg.master_start, min(s["master_start_seconds"] for s in over))
        hi = min(sg.master_end, max(s["master_end_seconds"] for s in over))
        c = 0.5 * (lo + hi)
        model = _model_at(over, c)
        errs.append(None if model is None else abs(model - sg.at(c)) * 1e3)
    found = [e for e in errs if e is not None]
    return {"segment_errors_ms": errs, "segments_found": len(found),
            "segments_true": len(case.segments),
            "segment_max_err_ms": max(found) if found else None}


def _score_edits(case: ExcerptCase, edits: list[dict[str, Any]]) -> dict[str, Any]:
    """Match each true edit to the nearest reported edit of its kind within 1 s."""
    free = list(range(len(edits)))
    per: list[dict[str, Any]] = []
    for te in case.edits:
        cand = [i for i in free if edits[i]["kind"] == te.kind
                and abs(edits[i]["master_time_seconds"] - te.master_time) <= EDIT_MATCH_SECONDS]
        if not cand:
            per.append({"true": asdict(te), "found": False})
            continue
        i = min(cand, key=lambda j: abs(edits[j]["master_time_seconds"] - te.master_time))
        free.remove(i)
        e = edits[i]
        loc = e["master_time_seconds"] - te.master_time
        unc = float(e.get("uncertainty_seconds") or 0.0)
        per.append({"true": asdict(te), "found": True, "location_error_ms": abs(loc) * 1e3,
                    "duration_error_ms": abs(e["duration_seconds"] - te.duration) * 1e3,
                    "uncertainty_seconds": unc, "within_uncertainty": abs(loc) <= unc + 1e-9})
    hit = [p for p in per if p["found"]]
    return {
        "edits": per,
        "edits_reported": len(edits),
        "edits_true": len(case.edits),
        "edits_found": len(hit),
        "missed_edits": len(per) - len(hit),
        "phantom_edits": len(free),
        "edit_loc_max_ms": max((p["location_error_ms"] for p in hit), default=None),
        "edit_dur_max_ms": max((p["duration_error_ms"] for p in hit), default=None),
        "within_uncertainty": sum(p["within_uncertainty"] for p in hit),
    }


def _score(case: ExcerptCase, *, offset: float | None, reliable: bool,
           segments: list[dict[str, float]] | None, edits: list[dict[str, Any]] | None,
           coverage: tuple[float, float] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"offset": offset, "reliable": reliable}
    true = case.first_offset
    err = abs(offset - true) if offset is not None and true is not None else None
    out["first_err_ms"] = None if err is None else err * 1e3
    if case.negative:
        out["false_match"] = bool(reliable and offset is not None)
    else:
        out["false_match"] = bool(reliable and (err is None or err > FRAME))
        # a single-offset answer: which true segment it fits best
        near = [abs(offset - s.at(0.5 * (s.master_start + s.master_end))) * 1e3
                for s in case.segments] if offset is not None else []
        out["nearest_segment_err_ms"] = min(near) if near else None
    if segments is not None and not case.negative:
        out.update(_score_segments(case, segments))
    if edits is not None and not case.negative:
        out.update(_score_edits(case, edits))
    if coverage is not None and case.coverage is not None:
        out["coverage"] = list(coverage)
        out["coverage_start_err_s"] = abs(coverage[0] - case.coverage[0])
        out["coverage_end_err_s"] = abs(coverage[1] - case.coverage[1])
    return out


def evaluate_ours(case: ExcerptCase) -> dict[str, Any]:
    from app.engine import analyze_files

    t0 = time.perf_counter()
    try:
        r = analyze_files(case.master, case.dub)
    except Exception as exc:  # a crash is a miss
        return {"tool": "ours", "case": case.name, "verdict": "crash",
                "error": f"{type(exc).__name__}: {exc}"[:500],
                "seconds": time.perf_counter() - t0,
                **_score(case, offset=None, reliable=False, segments=None, edits=None,
                         coverage=None)}
    seconds = time.perf_counter() - t0
    tl = r.timeline or {}
    segs = list(tl.get("segments") or [])
    if not segs and r.offset_seconds is not None and r.reliable and r.coverage:
        # a constant answer without a timeline segment: one segment over the covered span
        segs = [{"master_start_seconds": r.coverage["master_start_seconds"],
                 "master_end_seconds": r.coverage["master_end_seconds"],
                 "offset_start_seconds": r.offset_seconds,
                 "offset_end_seconds": r.offset_seconds}]
    cov = r.coverage
    coverage = ((cov["master_start_seconds"], cov["master_end_seconds"])
                if cov and r.reliable else None)
    out = {"tool": "ours", "case": case.name, "verdict": r.verdict,
           "confidence": r.confidence, "seconds": seconds, "error": None,
           "reported_segments": segs, "reported_edits": list(tl.get("edits") or []),
           "coverage_missing": (cov or {}).get("missing"), "model": tl.get("model")}
    out.update(_score(case, offset=r.offset_seconds, reliable=bool(r.reliable),
                      segments=segs if r.reliable else [],
                      edits=list(tl.get("edits") or []) if r.reliable else [],
                      coverage=coverage))
    return out


def describealign_timeline(nodes: list[list[float]]) -> tuple[list[dict], list[dict]]:
    """describealign's alignment nodes [(dub s, master s), ...] as our segments and edits.

    Node pairs whose slope is within 10 % of 1 (its own MAX_RATE_RATIO_DIFF_ALIGN) are
    segments (offset = dub time − master time: > 0 = dub late); the steep pieces between
    them are jumps of the offset: an increase = material inserted into the dub, a decrease
    = master material removed, located at the master time where the first segment ends.
    """
    segs: list[dict[str, float]] = []
    for (x0, y0), (x1, y1) in zip(nodes, nodes[1:], strict=False):
        if y1 - y0 <= 0.05 or x1 - x0 <= 0.05:
            continue
        if abs((x1 - x0) / (y1 - y0) - 1.0) <= 0.1:
            segs.append({"master_start_seconds": y0, "master_end_seconds": y1,
                         "offset_start_seconds": x0 - y0, "offset_end_seconds": x1 - y1})
    edits = []
    for a, b in zip(segs, segs[1:], strict=False):
        jump = b["offset_start_seconds"] - a["offset_end_seconds"]
        if abs(jump) < 0.05:
            continue
        edits.append({"master_time_seconds": a["master_end_seconds"],
                      "kind": "inserted" if jump > 0 else "removed",
                      "duration_seconds": abs(jump), "uncertainty_seconds": 0.0})
    return segs, edits


def evaluate_peer(tool: str, case: ExcerptCase, res: dict[str, Any]) -> dict[str, Any]:
    off = res.get("offset")
    off = float(off) if isinstance(off, int | float) else None
    score = res.get("score")
    score = float(score) if isinstance(score, int | float) else None
    if tool == "aof":
        reliable = off is not None and score is not None and score >= 10
    elif tool == "describealign":
        reliable = off is not None and score is not None and score >= 20
    else:
        reliable = off is not None
    segs = edits = None
    coverage = None
    raw = res.get("raw")
    if tool == "describealign" and isinstance(raw, dict) and raw.get("nodes"):
        segs, edits = describealign_timeline(raw["nodes"])
        if not reliable:
            segs, edits = [], []
        elif segs:
            coverage = (max(0.0, segs[0]["master_start_seconds"]),
                        min(case.master_seconds, segs[-1]["master_end_seconds"]))
    out = {"tool": tool, "case": case.name, "verdict": "", "confidence": score,
           "seconds": float(res.get("seconds") or 0.0), "error": res.get("error"),
           "raw": raw if tool != "describealign" else {
               k: v for k, v in (raw or {}).items() if k != "path"}}
    if segs is not None:
        out["reported_segments"], out["reported_edits"] = segs, edits
    out.update(_score(case, offset=off, reliable=reliable, segments=segs, edits=edits,
                      coverage=coverage))
    return out


# ---------------------------------------------------------------------------- table


def _f(v: Any, fmt: str = ".1f") -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return format(v, fmt)


def _ms(v: float | None) -> str:
    if v is None:
        return "-"
    if v < 1:
        return f"{v:.3f}"
    return f"{v:.2f}" if v < 10 else (f"{v:.1f}" if v < 1e4 else f"{v:.3g}")


_HEAD = (f"{'case':<12} {'tool':<13} {'ans':>3} {'verdict':<17} {'1st err ms':>10} "
         f"{'segs':>5} {'seg max ms':>10} {'edits':>5} {'loc ms':>7} {'dur ms':>7} "
         f"{'phant':>5} {'miss':>4} {'±unc':>5} {'cov err s':>11} {'time s':>7}")


def _line(case: ExcerptCase, r: dict[str, Any], label: str) -> str:
    ans = "yes" if r["reliable"] else "no"
    if r.get("false_match"):
        ans = "FAL"
    verdict = r.get("verdict") or ""
    if r.get("error"):
        verdict = "error" if verdict in ("", "crash") else verdict
    segs = (f"{r['segments_found']}/{r['segments_true']}"
            if "segments_true" in r else "-")
    edits = f"{r['edits_found']}/{r['edits_true']}" if "edits_true" in r and r["edits_true"] \
        else ("0/0" if "edits_true" in r else "-")
    unc = (f"{r['within_uncertainty']}/{r['edits_found']}"
           if r.get("edits_found") else "-")
    cov = (f"{r['coverage_start_err_s']:.2f}/{r['coverage_end_err_s']:.2f}"
           if "coverage_start_err_s" in r else "-")
    first = _ms(r.get("first_err_ms")) if not case.negative else "-"
    return (f"{case.name:<12} {label:<13} {ans:>3} {verdict[:17]:<17} {first:>10} {segs:>5} "
            f"{_ms(r.get('segment_max_err_ms')):>10} {edits:>5} "
            f"{_ms(r.get('edit_loc_max_ms')):>7} {_ms(r.get('edit_dur_max_ms')):>7} "
            f"{_f(r.get('phantom_edits'), 'd'):>5} {_f(r.get('missed_edits'), 'd'):>4} "
            f"{unc:>5} {cov:>11} {r['seconds']:>7.1f}")


LABELS = {"ours": "ours", "aof": "aof 0.5.5", "syncstart": "syncstart", "describealign":
          "describealign"}


def format_table(cases: list[ExcerptCase], results: dict[str, list[dict[str, Any]]]) -> str:
    lines = [_HEAD, "-" * len(_HEAD)]
    for i, c in enumerate(cases):
        lines.append(f"# {c.category}: {c.description}")
        for tool, rows in results.items():
            lines.append(_line(c, rows[i], LABELS.get(tool, tool)))
    lines.append("")
    lines.append(f"{'tool':<13} {'answered':>8} {'≤1 frame':>8} {'≤1 ms':>6} {'FALSE':>5} "
                 f"{'neg rejected':>12} {'edits found':>11} {'phantom':>7} {'time s':>7}")
    pos = [i for i, c in enumerate(cases) if not c.negative]
    neg = [i for i, c in enumerate(cases) if c.negative]
    for tool, rows in results.items():
        ans = sum(rows[i]["reliable"] for i in pos)
        errs = [rows[i].get("first_err_ms") for i in pos if rows[i]["reliable"]]
        frame = sum(e is not None and e <= FRAME * 1e3 for e in errs)
        ms1 = sum(e is not None and e <= 1.0 for e in errs)
        fal = sum(bool(r.get("false_match")) for r in rows)
        rej = sum(not rows[i]["reliable"] for i in neg)
        etrue = sum(len(cases[i].edits) for i in pos)
        efound = sum(rows[i].get("edits_found", 0) for i in pos)
        has_edits = any("edits_true" in rows[i] for i in pos)
        ph = sum(rows[i].get("phantom_edits", 0) for i in pos)
        lines.append(
            f"{LABELS.get(tool, tool):<13} {ans:>4}/{len(pos):<3} {frame:>4}/{len(pos):<3} "
            f"{ms1:>3}/{len(pos):<2} {fal:>5} {rej:>8}/{len(neg):<3} "
            f"{(f'{efound}/{etrue}' if has_edits else '-'):>11} "
            f"{(str(ph) if has_edits else '-'):>7} {sum(r['seconds'] for r in rows):>7.1f}")
    lines += [
        "",
        "ans: a reliable answer (FAL = a reliable answer on a negative, or one more than a "
        "frame off); 1st err: |offset − true offset of the first segment|; segs: true segments "
        "a reported segment overlaps / true segments; seg max: worst true segment's offset "
        "error at its centre; edits: true edits matched (same kind, within 1 s) / true "
        "edits; loc, dur: worst location (master time) and duration error of the matched "
        "edits; phant: reported edits no true edit matches; miss: true edits not matched; "
        "±unc: matched edits whose true location lies within the reported ±uncertainty; cov "
        "err: |reported − true| start/end of the master span the dub covers; time: wall "
        "seconds of the analysis (peers: in their own process, after imports).",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- driver


#: the cases whose cost is told against ffmpeg's decode of the same files
SCALE_CASES = ("reel", "promo90", "reel3h", "promo3h")


def _scale(cases: list[ExcerptCase]) -> list[dict[str, Any]]:
    """For the long programmes' excerpts: ffmpeg decoding master and dub alone (summed) against
    our whole analysis in a child process (``python -m app analyze``), and its peak memory
    (``bench.speed.time_long_pair``)."""
    from bench.speed import time_long_pair

    out = []
    for c in cases:
        if c.name in SCALE_CASES:
            r = time_long_pair({"master": c.master, "dub": c.dub, "minutes": c.master_seconds / 60,
                                "true_offset": c.first_offset})
            out.append({"case": c.name, "dub_seconds": c.dub_seconds, **r})
    return out


def format_scale(rows: list[dict[str, Any]]) -> str:
    lines = ["case      master   dub      decode master+dub  analysis  ratio  locate  loc/dec  "
             "peak GB  |err| ms", "-" * 98]
    for r in rows:
        err = r.get("abs_error_ms")
        loc = (r.get("timings") or {}).get("locate")
        share = None if loc is None else loc / r["decode_seconds"]
        lines.append(
            f"{r['case']:<9} {r['minutes']:5.0f} min {r['dub_seconds']:6.0f} s "
            f"{r['decode_master_seconds']:6.1f} + {r['decode_dub_seconds']:4.1f} s "
            f"{r['analysis_seconds']:8.1f} s {r['ratio']:6.2f} "
            f"{'-' if loc is None else f'{loc:5.2f} s'} "
            f"{'-' if share is None else f'{share:7.2f}'} "
            f"{r['peak_rss_bytes'] / 1e9:8.2f} "
            f"{'-' if err is None else f'{err:8.3f}'}  {r.get('error') or ''}")
    lines.append("decode: `ffmpeg -i F -f null -` of each file (warm cache); analysis: "
                 "`python -m app analyze master dub --json` wall time, imports included; "
                 "ratio = analysis / decode; locate: the whole-programme search itself "
                 "(timings.locate); peak: the analysis process tree's RSS high-water mark")
    return "\n".join(lines)


def run_excerpts(*, quick: bool = False, peers: list[str] | None = None, jobs: int = 2,
                 log: bool = True, three_hours: bool = False) -> dict[str, Any]:
    """Generate (or reuse) the cases, run our engine and ``peers``, print the table; returns
    everything as a JSON-ready dict."""
    say = print if log else (lambda *a, **k: None)
    say(f"excerpt/long-edit corpus{' (quick)' if quick else ''} in {CACHE}...", flush=True)
    t0 = time.perf_counter()
    cases = make_cases(quick, jobs=jobs, three_hours=three_hours)
    say(f"{len(cases)} cases ready in {time.perf_counter() - t0:.0f} s", flush=True)
    from app.engine import analyze_files

    warm = min((c for c in cases if not c.negative), key=lambda c: c.dub_seconds)
    analyze_files(warm.master, warm.dub)  # warm-up (imports), untimed
    say("running our engine...", flush=True)
    results: dict[str, list[dict[str, Any]]] = {"ours": [evaluate_ours(c) for c in cases]}
    say("timing the long programmes' excerpts against their decode...", flush=True)
    scale = _scale(cases)
    if peers:
        from bench.peers import PEERS, run_peer

        pairs = [(c.master, c.dub) for c in cases]
        for tool in peers:
            say(f"running {PEERS[tool][0]}...", flush=True)
            res = run_peer(tool, pairs, warmup=(warm.master, warm.dub),
                           timeout=PEER_TIMEOUT.get(tool))
            results[tool] = [evaluate_peer(tool, c, r) for c, r in zip(cases, res, strict=True)]
    say()
    say(format_table(cases, results))
    if scale:
        say()
        say(format_scale(scale))
    from bench.peers import PEERS

    return {"version": EXCERPTS_VERSION, "quick": quick,
            "cases": [asdict(c) for c in cases], "results": results,
            "tools": {k: PEERS[k][0] + "; " + PEERS[k][1] for k in results if k in PEERS},
            "scale": scale, "seconds": time.perf_counter() - t0}


#: per-case limit (s) of a peer that runs each case in its own process
PEER_TIMEOUT: dict[str, float] = {"describealign": 300.0}


def main(argv: list[str] | None = None) -> int:
    from app.engine import tune_process

    tune_process()  # BLAS threads and allocator thresholds (app.engine.tuning)
    p = argparse.ArgumentParser(prog="bench/excerpts.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a 4-min reel of a 15-min programme")
    p.add_argument("--no-peers", action="store_true")
    p.add_argument("--peers", default="aof,syncstart,describealign")
    p.add_argument("--jobs", type=int, default=2, help="generation processes")
    p.add_argument("--json", type=Path, help="also write everything as JSON here")
    p.add_argument("--three-hours", action="store_true",
                   help="also a 30-s promo and a 20-min reel of a 3-hour programme")
    args = p.parse_args(argv)
    peers = [] if args.no_peers else [t for t in args.peers.split(",") if t]
    doc = run_excerpts(quick=args.quick, peers=peers, jobs=args.jobs,
                       three_hours=args.three_hours)
    print(f"\nJSON: {write_json(doc, args.json)}")
    return 0


def write_json(doc: dict[str, Any], path: Path | None = None) -> Path:
    """``path``, else bench/out/excerpts-<stamp>.json (and bench/out/latest-excerpts.json)."""
    text = json.dumps(doc, indent=1, default=str)
    if path is None:
        out = BENCH / "out"
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"excerpts-{time.strftime('%Y%m%d-%H%M%S')}.json"
        (out / "latest-excerpts.json").write_text(text)
    path.write_text(text)
    return path


if __name__ == "__main__":
    raise SystemExit(main())
