"""The dub found wherever it lies in the master (and the master in the dub): promos, clips,
reels, excerpts from inside, a dub with extra head and tail; coverage told in seconds and
timecode; unrelated material and a tone never placed.

The programme is Debian's recordings (music and effects bed) with espeak-ng dialogue; the dub
is the same bed re-mixed (EQ, compression, ducking) under dialogue in another language, cut
and encoded as AAC, so no dub shares the master's waveform sample for sample.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.engine import analyze_files
from app.engine.decode import decode
from app.engine.features import compute_features
from app.engine.locate import locate
from app.engine.types import AnalysisOptions
from testkit.audio_io import write_audio
from testkit.cases import dub_remix
from testkit.programme import make_programme
from testkit.realbed import find_sources
from testkit.speech import dialogue_track

SR = 48000
MASTER_SECONDS = 420.0


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("locate")
    sources = find_sources()  # the unrelated programme draws on other recordings
    prog = make_programme(MASTER_SECONDS, SR, seed=4, language="en", bed="real",
                          sources=sources.part(0))
    write_audio(root / "master.wav", prog.mix(2), SR, codec="pcm_s24le")
    dub = dub_remix(prog, dialogue_track(MASTER_SECONDS, SR, language="de", seed=44), seed=8)

    def cut(a: float, b: float, name: str) -> None:
        write_audio(root / name, dub[int(a * SR):int(b * SR)], SR, codec="aac",
                    bitrate="128k")

    cut(200.0, 230.0, "promo_200.m4a")      # a 30-s promo: offset -200 s
    cut(333.5, 339.5, "clip_333.5.m4a")     # a 6-s clip: -333.5 s
    cut(150.0, 210.0, "excerpt_150.m4a")    # 60 s from inside: -150 s
    cut(130.0, 400.0, "reel_130.m4a")       # a 4.5-minute reel: -130 s
    # off every feature-frame grid and beyond the ±120-s local search: the stretch analysed
    # must hold the true offset inside its own search, not at its edge
    cut(247.4567, 400.0, "reel_247.4567.m4a")
    cut(281.37, 286.37, "clip_281.37.m4a")  # a 5-s clip
    other = make_programme(90.0, SR, seed=91, language="fr", bed="real",
                           sources=sources.part(1)).mix(2)
    longer = np.concatenate([other[: int(45 * SR)], dub, other[int(45 * SR):]])
    write_audio(root / "longer_45.wav", longer, SR, codec="pcm_s24le")  # +45 s, 45 s tail
    write_audio(root / "unrelated_30.m4a", other[int(20 * SR):int(50 * SR)], SR, codec="aac",
                bitrate="128k")
    t = np.arange(int(30 * SR)) / SR
    tone = (0.1 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)
    write_audio(root / "tone.wav", np.stack([tone, tone], axis=1), SR, codec="pcm_s24le")
    return root


CASES = [("promo_200.m4a", -200.0, 200.0, 230.0), ("clip_333.5.m4a", -333.5, 333.5, 339.5),
         ("excerpt_150.m4a", -150.0, 150.0, 210.0), ("reel_130.m4a", -130.0, 130.0, 400.0),
         ("reel_247.4567.m4a", -247.4567, 247.4567, 400.0),
         ("clip_281.37.m4a", -281.37, 281.37, 286.37)]


@pytest.mark.parametrize(("name", "truth", "start", "end"), CASES)
def test_excerpts_are_found_and_their_coverage_told(material: Path, name: str, truth: float,
                                                    start: float, end: float) -> None:
    r = analyze_files(material / "master.wav", material / name)
    assert r.verdict == "constant_offset", r.reason
    assert r.offset_seconds is not None and abs(r.offset_seconds - truth) < 0.001
    assert r.confidence >= 0.5
    cov = r.coverage
    assert cov is not None and not cov["complete"]
    assert abs(cov["master_start_seconds"] - start) < 0.1
    assert abs(cov["master_end_seconds"] - end) < 0.1
    parts = {m["part"]: m for m in cov["missing"]}
    assert abs(parts["head"]["duration_seconds"] - start) < 0.1
    assert abs(parts["tail"]["start_seconds"] - end) < 0.1
    assert any("programme missing at the head" in f for f in r.findings)
    assert r.placement is not None and r.placement["significant"]
    assert r.placement["z"] >= r.placement["z_threshold"]
    assert r.placement["stretch"] is not None  # analysed on the located stretch only


def test_a_dub_longer_than_the_master(material: Path) -> None:
    r = analyze_files(material / "master.wav", material / "longer_45.wav")
    assert r.verdict == "constant_offset", r.reason
    assert r.offset_seconds is not None and abs(r.offset_seconds - 45.0) < 0.001
    cov = r.coverage
    assert cov is not None and cov["complete"]
    extra = {x["part"]: x for x in cov["dub_extra"]}
    assert abs(extra["head"]["duration_seconds"] - 45.0) < 0.1
    assert abs(extra["tail"]["duration_seconds"] - 45.0) < 0.1


def test_the_master_found_inside_a_longer_dub_both_ways(material: Path) -> None:
    """Swapped roles: the 60-s excerpt as the master, the whole programme as the dub."""
    r = analyze_files(material / "excerpt_150.m4a", material / "master.wav")
    assert r.offset_seconds is not None and abs(r.offset_seconds - 150.0) < 0.001, r.reason
    assert r.verdict == "constant_offset"
    assert r.coverage is not None and r.coverage["complete"]


@pytest.mark.parametrize("name", ["unrelated_30.m4a", "tone.wav"])
def test_unrelated_material_and_a_tone_are_never_placed(material: Path, name: str) -> None:
    r = analyze_files(material / "master.wav", material / name)
    assert r.verdict == "no_reliable_match", (r.offset_seconds, r.reason)
    assert not r.reliable and r.coverage is None


def test_an_explicit_limit_keeps_the_local_search(material: Path) -> None:
    """search_whole=False (the API sets it when max_offset_seconds is given): today's local
    search of ±max_offset_seconds alone, so a promo 200 s away is not found."""
    r = analyze_files(material / "master.wav", material / "promo_200.m4a",
                      options=AnalysisOptions(search_whole=False, max_offset_seconds=60))
    assert r.verdict == "no_reliable_match" and r.placement is None


def test_locate_statistic_separates_matches_from_chance(material: Path) -> None:
    sr = 16000
    fm = compute_features(decode(material / "master.wav", sample_rate=sr), sample_rate=sr)
    for name, truth, *_ in CASES:
        fd = compute_features(decode(material / name, sample_rate=sr), sample_rate=sr)
        p = locate(fm.flux, fd.flux, frame_rate=fm.frame_rate)
        assert p is not None and p.significant, (name, p)
        assert abs(p.offset_seconds - truth) <= 0.011
    fd = compute_features(decode(material / "tone.wav", sample_rate=sr), sample_rate=sr)
    p = locate(fm.flux, fd.flux, frame_rate=fm.frame_rate)
    assert p is not None and not p.significant, p


def test_a_promo_under_loud_dialogue_is_found_on_the_shared_sound_of_its_stretch(
        tmp_path: Path) -> None:
    """A 30-s promo 150 s into a programme whose M&E lies 25 dB under other-language
    dialogue: the mixes place it, but no offset line holds on them; the shared-sound pass then
    runs on the located stretch alone (not the whole master) and answers within 1 ms."""
    from testkit.audio_io import read_audio
    from testkit.evidence_cases import weak_bed_case

    master, dub = weak_bed_case(tmp_path, seed=17, duration_seconds=240.0,
                                true_offset_seconds=0.0, me_db=-25.0)
    x, sr = read_audio(dub)
    promo = tmp_path / "promo.m4a"
    write_audio(promo, x[int(150.0 * sr):int(180.0 * sr)], sr, codec="aac", bitrate="128k")
    r = analyze_files(master, promo)
    assert r.verdict == "constant_offset", r.reason
    assert r.offset_seconds is not None and abs(r.offset_seconds + 150.0) < 0.001
    assert r.evidence is not None and r.evidence["signal"] == "shared sound", r.evidence
    assert r.placement is not None and r.placement["stretch"] is not None
    assert r.placement["stretch"]["master_seconds"] < 120.0  # the stretch, not the master


def test_a_promo_of_a_scene_used_twice_is_placed_where_all_of_it_matches(
        tmp_path: Path) -> None:
    """The same 40 s of bed (music and effects) lie twice in the master, at 45 s and 175 s;
    the second time a few more effects play over it, and the dialogue differs. A 30-s promo of
    the second: the whole-programme search ranks both places about alike; the exact analysis
    of each candidate stretch picks the one that matches throughout (-180 s), within 1 ms, and
    names the other."""
    from testkit.realbed import BedSources, add_effects, real_bed
    from testkit.transforms import remix

    src = find_sources()
    bed = real_bed(240.0, SR, seed=5, sources=BedSources(src.part(0).music, ()))
    add_effects(bed, SR, np.random.default_rng(11), src.effects)
    bed[int(175 * SR):int(215 * SR)] = bed[int(45 * SR):int(85 * SR)]  # the scene again
    add_effects(bed[int(175 * SR):int(215 * SR)], SR, np.random.default_rng(12), src.effects)
    en = dialogue_track(240.0, SR, language="en", seed=12, density=0.3)
    master = remix(bed, en, sample_rate=SR)
    write_audio(tmp_path / "master.wav", master, SR, codec="pcm_s24le")
    de = dialogue_track(240.0, SR, language="de", seed=13, density=0.3)
    dub = remix(bed, de, bed_gain_db=-2.0, sample_rate=SR)
    write_audio(tmp_path / "promo.m4a", dub[int(180 * SR):int(210 * SR)], SR, codec="aac",
                bitrate="128k")
    r = analyze_files(tmp_path / "master.wav", tmp_path / "promo.m4a")
    assert r.verdict == "constant_offset", r.reason
    assert r.offset_seconds is not None and abs(r.offset_seconds + 180.0) < 0.001
    assert r.placement is not None and not r.placement["significant"]  # rivals alike
    assert [a[0] for a in r.placement["alternatives"]] == [pytest.approx(-50.0, abs=0.05)]
    assert any("also matches the master at 50.0" in f for f in r.findings), r.findings
