"""A broadcast version with commercial breaks: the dub as pieces of the master.

The master is Debian's recordings with espeak-ng dialogue; the dub is the bed re-mixed under
German dialogue, with a 0.25 s head, two breaks of unrelated programme (60 s and 90 s)
inserted, and encoded as AAC. Each piece's offset to the millisecond, each break an insertion
of unrelated material at its place, nothing missing from the programme.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.engine import SyncResult, analyze_files
from app.engine.decode import decode
from app.engine.features import compute_features
from app.engine.piecewise import pieces_of, place_chunks
from app.engine.pipeline import _flux
from testkit.audio_io import read_audio, write_audio
from testkit.cases import dub_remix
from testkit.programme import make_programme
from testkit.realbed import find_sources
from testkit.speech import dialogue_track

SR = 48000
MASTER = 300.0
HEAD = 0.25
BREAKS = [(90.0, 60.0), (200.0, 90.0)]  # (master time, duration) of each inserted break
OFFSETS = [HEAD, HEAD + 60.0, HEAD + 150.0]  # each piece's offset (dub late)


@pytest.fixture(scope="module")
def broadcast(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("breaks")
    sources = find_sources()
    prog = make_programme(MASTER, SR, seed=6, language="en", bed="real",
                          sources=sources.part(0))
    write_audio(root / "master.wav", prog.mix(2), SR, codec="pcm_s24le")
    dub = dub_remix(prog, dialogue_track(MASTER, SR, language="de", seed=66), seed=9)
    ads = make_programme(150.0, SR, seed=67, language="es", bed="real",
                         sources=sources.part(1)).mix(2)
    parts, prev, used = [np.zeros((int(HEAD * SR), 2), np.float32)], 0.0, 0.0
    for at, dur in BREAKS:
        parts += [dub[int(prev * SR):int(at * SR)], ads[int(used * SR):int((used + dur) * SR)]]
        prev, used = at, used + dur
    parts.append(dub[int(prev * SR):])
    write_audio(root / "broadcast.m4a", np.concatenate(parts), SR, codec="aac",
                bitrate="128k")
    return root


def test_chunks_fall_into_the_pieces(broadcast: Path) -> None:
    sr = 16000
    fm = compute_features(decode(broadcast / "master.wav", sample_rate=sr), sample_rate=sr)
    fd = compute_features(decode(broadcast / "broadcast.m4a", sample_rate=sr), sample_rate=sr)
    pieces = pieces_of(place_chunks(_flux(fm), _flux(fd), frame_rate=fm.frame_rate))
    assert [round(p.offset_seconds, 2) for p in pieces] == [round(o, 2) for o in OFFSETS]


def test_breaks_are_insertions_of_unrelated_material(broadcast: Path) -> None:
    r = analyze_files(broadcast / "master.wav", broadcast / "broadcast.m4a")
    assert r.verdict == "edited", r.reason
    assert r.offset_seconds is not None and abs(r.offset_seconds - HEAD) < 0.001
    tl = r.timeline
    assert tl is not None and tl["model"] == "piecewise"
    edits = tl["edits"]
    assert [e["kind"] for e in edits] == ["inserted", "inserted"], edits
    for e, (at, dur) in zip(edits, BREAKS, strict=True):
        assert abs(e["duration_seconds"] - dur) < 0.001
        assert abs(e["master_time_seconds"] - at) <= e["uncertainty_seconds"], e
        assert e["uncertainty_seconds"] <= 0.04  # within a frame, honestly
    for seg in tl["segments"]:
        assert min(abs(seg["offset_start_seconds"] - o) for o in OFFSETS) < 0.001
    assert sum("not in the master inserted" in f for f in r.findings) == 2, r.findings
    cov = r.coverage
    assert cov is not None and cov["complete"] and abs(cov["inserted_seconds"] - 150.0) < 0.01
    assert r.confidence >= 0.5 and r.reliable


def test_a_cut_in_a_same_mix_aac_dub_to_a_few_milliseconds(broadcast: Path,
                                                          tmp_path: Path) -> None:
    """3.2 s cut at 120 s from the master's own mix, AAC 96k: no phantom, the cut within
    10 ms (a quarter frame), its duration to the millisecond, the truth inside ±uncertainty."""
    x, sr = read_audio(broadcast / "master.wav")
    cut = np.concatenate([x[: int(120.0 * sr)], x[int(123.2 * sr):]])
    write_audio(tmp_path / "cut.m4a", cut, sr, codec="aac", bitrate="96k")
    r = analyze_files(broadcast / "master.wav", tmp_path / "cut.m4a")
    assert r.verdict == "edited", r.reason
    edits = r.timeline["edits"] if r.timeline else []
    assert len(edits) == 1, edits
    e = edits[0]
    assert e["kind"] == "removed" and abs(e["duration_seconds"] - 3.2) < 0.001
    assert abs(e["master_time_seconds"] - 120.0) <= min(0.010, e["uncertainty_seconds"]), e


def _master_dub_other(root: Path, *, seed: int, language: str, dub_seeds: tuple[int, int],
                      other_seconds: float, other_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A 4-min programme written as ``root/master.wav``; (its dub re-mixed under dialogue in
    ``language``, ``other_seconds`` of an unrelated programme), both (n, 2) at SR."""
    sources = find_sources()
    prog = make_programme(240.0, SR, seed=seed, language="en", bed="real",
                          sources=sources.part(0))
    write_audio(root / "master.wav", prog.mix(2), SR, codec="pcm_s24le")
    dub = dub_remix(prog, dialogue_track(240.0, SR, language=language, seed=dub_seeds[0]),
                    seed=dub_seeds[1])
    other = make_programme(other_seconds, SR, seed=other_seed, language="es", bed="real",
                           sources=sources.part(1)).mix(2)
    return dub, other


def _edited_dub(root: Path, head: float, parts: list[np.ndarray]) -> SyncResult:
    """``head`` s of silence and ``parts`` written as an AAC 128k dub, analysed against
    ``root/master.wav``: an edited verdict whose head offset is ``head`` to the ms."""
    silence = np.zeros((int(head * SR), 2), np.float32)
    write_audio(root / "dub.m4a", np.concatenate([silence, *parts]), SR, codec="aac",
                bitrate="128k")
    r = analyze_files(root / "master.wav", root / "dub.m4a")
    assert r.verdict == "edited", r.reason
    assert r.offset_seconds is not None and abs(r.offset_seconds - head) < 0.001
    return r


def test_a_long_break_near_the_head_and_a_tenth_of_a_second_cut(tmp_path: Path) -> None:
    """A 4-min programme with a 5-min break at 60 s and a 0.1-s cut at 170 s: the search
    finds the larger piece after the break first; the 60 s before it are programme too, so
    the dub is measured as pieces: the head's offset (not the later piece's), the break an
    insertion of 300 s at 60 s, the cut a removal of 0.1 s at 170 s."""
    dub, brk = _master_dub_other(tmp_path, seed=16, language="de", dub_seeds=(61, 19),
                                 other_seconds=300.0, other_seed=68)
    r = _edited_dub(tmp_path, 0.4, [dub[:60 * SR], brk, dub[60 * SR:170 * SR],
                                    dub[int(170.1 * SR):]])
    edits = r.timeline["edits"] if r.timeline else []
    assert [(e["kind"], round(e["duration_seconds"], 3)) for e in edits] == [
        ("inserted", 300.0), ("removed", 0.1)], edits
    for e, at in zip(edits, (60.0, 170.0), strict=True):
        assert abs(e["master_time_seconds"] - at) <= max(e["uncertainty_seconds"], 0.04), e


def test_a_replaced_span_is_named_with_both_durations(tmp_path: Path) -> None:
    """Master 100–125 s swapped in the dub for 15 s of another programme (a re-cut scene):
    one edit of kind "replaced" — 25 s of master material, 15 s of other material in its
    place —, its ends within their uncertainty, the span missing from the coverage, and a
    repair that drops the other material and says where silence stands in."""
    from app.engine.repair import plan_from_result

    dub, other = _master_dub_other(tmp_path, seed=17, language="fr", dub_seeds=(71, 72),
                                   other_seconds=30.0, other_seed=73)
    r = _edited_dub(tmp_path, 0.3, [dub[:100 * SR], other[:15 * SR], dub[125 * SR:]])
    edits = r.timeline["edits"] if r.timeline else []
    assert [e["kind"] for e in edits] == ["replaced"], edits
    e = edits[0]
    unc = e["uncertainty_seconds"]
    assert unc <= 1.5, e  # where the shared sound fades before a splice, the ± says so
    assert abs(e["master_time_seconds"] - 100.0) <= unc, e
    # the end is sharp: the shared sound resumes with the programme
    assert abs(e["master_time_seconds"] + e["duration_seconds"] - 125.0) <= 0.05, e
    assert abs(e["replacement_seconds"] - (e["duration_seconds"] - 10.0)) < 0.002, e
    assert abs(e["offset_after_seconds"] - (0.3 - 10.0)) < 0.001, e
    assert "of other material" in r.reason
    cov = r.coverage
    assert cov is not None and not cov["complete"]
    inside = [m for m in cov["missing"] if m["part"] == "inside"]
    assert len(inside) == 1 and abs(inside[0]["duration_seconds"] - e["duration_seconds"]) < 0.01
    assert any("replaced by" in f for f in r.findings), r.findings
    plan = plan_from_result(r)
    assert any("of other material from the dub" in op for op in plan.operations), plan
    assert plan.warnings and "silence stands in" in plan.warnings[0]
    # the later segment resumes at master 125 s with the dub 9.7 s early
    start, _, c = plan.segments[1]
    assert abs(start - 125.0) <= unc and abs(c - (0.3 - 10.0)) < 0.001
