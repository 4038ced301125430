"""The deterministic benchmark corpus: case specs and their generation into bench/.cache."""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from testkit import KINDS, make_case

__all__ = ["CaseSpec", "CorpusCase", "corpus_specs", "generate_corpus", "CORPUS_VERSION"]

#: Bump when the testkit or the specs change so cached files are regenerated.
CORPUS_VERSION = "v3"

# Per kind: offsets (s) of the 3 cases; None = unrelated material (no true offset).
_OFFSETS: dict[str, tuple[float, float, float]] = {
    "clean": (1.512_734, -0.748_213, 12.041_667),
    "remix": (3.217_391, -7.153_088, 0.0),
    "aac": (0.481_177, -21.302_459, 44.257_913),
    "mp3": (2.003_618, -5.519_402, 33.301_775),
    "ac3": (1.001_019, -0.496_322, 15.008_441),
    "sr44k": (0.012_345, -3.304_907, 27.513_290),
    "gain": (4.406_612, -1.109_837, 59.004_156),
    "noise": (0.907_530, -13.021_744, 6.660_218),
    "fractional": (0.000_37, -0.000_83, 5.000_21),
    "negative": (-0.041_667, -12.345_678, -59.987_321),
    "long_offset": (30.000_000, 45.518_026, 60.0),
    "surround": (1.250_713, -2.508_834, 18.029_551),
    "polarity": (0.606_402, -4.011_975, 22.214_087),
    "partial": (-40.013_572, 3.007_740, -55.021_905),
    "replaced_cue": (2.219_308, -6.004_251, 11.013_644),
    "unrelated": (0.0, 0.0, 0.0),
    "shuffled": (0.0, 0.0, 0.0),
}
_DURATIONS = (180.0, 240.0, 300.0, 150.0, 360.0, 210.0, 120.0)
_LANGS = (("en", "de"), ("fr", "es"), ("de", "en"), ("es", "fr"))


@dataclass(frozen=True)
class CaseSpec:
    """One benchmark case; ``offset`` is the true offset (s), None for unrelated pairs."""

    kind: str
    seed: int
    duration: float
    offset: float | None
    language: str
    dub_language: str

    @property
    def name(self) -> str:
        return f"{self.kind}_s{self.seed}"


def corpus_specs(*, quick: bool = False, kinds: list[str] | None = None) -> list[CaseSpec]:
    """3 cases per kind (1 with ``quick``, at 120 s), durations 2–6 min, two languages each.

    Seeds, durations and languages do not depend on ``kinds``: a subset run reuses (and
    reproduces) the same cases as the full run.
    """
    unknown = sorted(set(kinds or []) - set(_OFFSETS))
    if unknown:
        raise ValueError(f"unknown kinds {unknown}; known: {list(KINDS)}")
    specs = []
    i = 0
    for kind in KINDS:
        for j, off in enumerate(_OFFSETS[kind][: 1 if quick else 3]):
            dur = 120.0 if quick else _DURATIONS[i % len(_DURATIONS)]
            if kind == "partial" and off < 0:
                dur = max(dur, 2.5 * -off)  # the excerpt must lie inside the programme
            lang, dub_lang = _LANGS[i % len(_LANGS)]
            none = kind in ("unrelated", "shuffled")
            spec = CaseSpec(kind, 100 + 7 * i + j, dur, None if none else off, lang, dub_lang)
            if kinds is None or kind in kinds:
                specs.append(spec)
            i += 1
    return specs


@dataclass(frozen=True)
class CorpusCase:
    """A generated case: its spec, files and true offset (s; None = no true match)."""

    spec: CaseSpec
    master: str
    dub: str
    true_offset: float | None
    description: str

    @property
    def name(self) -> str:
        return self.spec.name

    def to_dict(self) -> dict[str, object]:
        return {"version": CORPUS_VERSION, **asdict(self)}


def _generate(spec: CaseSpec, root: Path) -> CorpusCase:
    workdir = root / spec.name
    manifest = workdir / "case.json"
    if manifest.exists():
        doc = json.loads(manifest.read_text())
        if doc.get("spec") == asdict(spec) and doc.get("version") == CORPUS_VERSION:
            return CorpusCase(
                spec, doc["master"], doc["dub"], doc["true_offset"], doc["description"]
            )
    case = make_case(
        spec.kind,
        workdir,
        seed=spec.seed,
        duration_seconds=spec.duration,
        true_offset_seconds=spec.offset if spec.offset is not None else 0.0,
        bed="real",
        language=spec.language,
        dub_language=spec.dub_language,
    )
    out = CorpusCase(
        spec, str(case.master_path), str(case.dub_path), case.true_offset_seconds, case.description
    )
    manifest.write_text(json.dumps(out.to_dict(), indent=1))
    return out


def generate_corpus(specs: list[CaseSpec], root: Path, *, jobs: int = 2) -> list[CorpusCase]:
    """Generate (or reuse from ``root``) every case, in spec order."""
    root.mkdir(parents=True, exist_ok=True)
    if jobs <= 1:
        return [_generate(s, root) for s in specs]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(_generate, specs, [root] * len(specs)))
