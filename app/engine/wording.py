"""Figures in words for the ``reason`` texts, findings and reports people read.

One rounding per kind of figure, the same as the figures shown beside the words, so a sentence
never contradicts them (no ``+0.479999 s`` next to ``480.000 ms``): offsets in milliseconds to
0.1 ms (as the QC gate judges them), durations and master times in seconds to the millisecond,
confidences to two decimals, shares as whole percents. Lists are written as words ("correlation,
onset and mfcc"), never as a Python list. Sign convention: offset > 0 = dub late.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

__all__ = ["ms", "signed_ms", "offset_words", "seconds", "percent", "confidence", "listing",
           "plural", "sentence", "sentences", "speed_words", "edits_words", "constant_words",
           "qc_pairs"]


def ms(offset_seconds: float, digits: int = 1) -> float:
    """``offset_seconds`` in milliseconds rounded to ``digits`` (never ``-0.0``)."""
    return round(float(offset_seconds) * 1000.0, digits) + 0.0


def signed_ms(offset_seconds: float, digits: int = 1) -> str:
    """``+480.0 ms`` / ``-12.5 ms`` / ``0.0 ms``."""
    value = ms(offset_seconds, digits)
    return f"{value:+.{digits}f} ms" if value else f"{0.0:.{digits}f} ms"


def offset_words(offset_seconds: float, digits: int = 1) -> str:
    """``480.0 ms late`` / ``12.5 ms early`` / ``0.0 ms`` (what the dub is); from 10 s on in
    seconds to the millisecond, ``2233.457 s (37 min 13.457 s) early``."""
    if abs(offset_seconds) >= 10.0:
        whole = f"{abs(offset_seconds):.3f} s"
        if abs(offset_seconds) >= 60.0:
            minutes, rest = divmod(round(abs(offset_seconds), 3), 60.0)
            whole += f" ({int(minutes)} min {rest:.3f} s)"
        return f"{whole} {'late' if offset_seconds > 0 else 'early'}"
    value = ms(offset_seconds, digits)
    if value > 0:
        return f"{value:.{digits}f} ms late"
    if value < 0:
        return f"{-value:.{digits}f} ms early"
    return f"{0.0:.{digits}f} ms"


def seconds(value: float, digits: int = 3) -> str:
    """A duration or master time: ``94.520 s``."""
    return f"{round(float(value), digits) + 0.0:.{digits}f} s"


def percent(fraction: float) -> str:
    """A share as a whole percent: ``95%``."""
    return f"{fraction:.0%}"


def confidence(value: float) -> str:
    """A confidence to two decimals: ``0.93``."""
    return f"{value:.2f}"


def listing(items: Iterable[object], conjunction: str = "and") -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    words = [str(i) for i in items]
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {conjunction} {words[-1]}"


def plural(n: int, noun: str, many: str | None = None) -> str:
    """``1 edit`` / ``3 edits`` (``many``: the irregular plural)."""
    return f"{n} {noun if n == 1 else many or noun + 's'}"


def sentence(text: str) -> str:
    """``text`` as a sentence: its first letter capitalised, a full stop at the end."""
    text = text.strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def sentences(*parts: str) -> str:
    """Several clauses as sentences, in one paragraph (empty parts left out)."""
    return " ".join(sentence(p) for p in parts if p and p.strip())


def speed_words(ratio: float, ppm: float, conversion: str | None = None) -> str:
    """``runs 999.0 ppm slow (the 1000/1001 conversion, speed ratio 0.999001)``: the dub's
    speed against the master's (ratio > 1 = the dub runs fast)."""
    pace = "fast" if ratio > 1 else "slow"
    named = f"the {conversion} conversion, " if conversion else ""
    size = abs(ppm)
    amount = f"{size:.1f} ppm" if math.isfinite(size) else "an unknown amount"
    return f"runs {amount} {pace} ({named}speed ratio {ratio:.6f})"


class EditLike(Protocol):
    """What :func:`edits_words` reads of an edit."""

    kind: str
    duration_seconds: float
    master_time_seconds: float
    replacement_seconds: float


def edits_words(edits: Iterable[EditLike]) -> str:
    """``2 edits: 3.000 s removed at master 300.000 s and 1.500 s inserted at master 800.000 s``
    (a replaced span adds ``by 20.000 s of other material``)
    of :class:`~app.engine.timeline.types.Edit`-like objects (``kind``, ``duration_seconds``,
    ``master_time_seconds``, ``replacement_seconds``)."""
    found = list(edits)
    return f"{plural(len(found), 'edit')}: " + listing(
        f"{seconds(abs(e.duration_seconds))} {e.kind} at master {seconds(e.master_time_seconds)}"
        + (f" by {seconds(e.replacement_seconds)} of other material"
           if e.kind == "replaced" else "")
        for e in found)


def constant_words(offset_seconds: float, coverage: float) -> str:
    """``a constant offset: the dub is 234.5 ms late across 95% of the windows``."""
    return (f"a constant offset: the dub is {offset_words(offset_seconds)} across "
            f"{percent(coverage)} of the windows")


def qc_pairs(qc: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """The QC gate's verdict (``judge``'s record) as (label, text) rows for a report: status,
    tolerance, worst offset and where, start → end, the largest |offset| and where, missing
    programme, the reason as a sentence."""
    if not qc:
        return []
    tol = qc.get("tolerance") or {}
    rows = [("Status", str(qc.get("status")))]
    if tol.get("early_ms") is not None:
        name = f"{tol.get('name')}" + (f" at {tol['fps']:g} fps" if tol.get("fps") else "")
        rows.append(("Tolerance", f"{name}: audio at most {tol['early_ms']:.1f} ms early and "
                                  f"{tol['late_ms']:.1f} ms late"))

    def at(ms_value: float | None, tc: str | None) -> str:
        return "n/a" if ms_value is None else \
            f"{ms_value:+.1f} ms" + (f" at {tc}" if tc else "")

    if qc.get("worst_offset_ms") is not None:
        rows.append(("Worst offset", at(qc["worst_offset_ms"], qc.get("worst_at_timecode"))))
        rows.append(("At the start → at the end", f"{qc['offset_start_ms']:+.1f} ms → "
                                                  f"{qc['offset_end_ms']:+.1f} ms"))
        rows.append(("Largest |offset|", f"{qc['max_abs_offset_ms']:.1f} ms" + (
            f" at {qc['max_abs_at_timecode']}" if qc.get("max_abs_at_timecode") else "")))
    missing = qc.get("missing") or []
    if missing:
        rows.append(("Missing programme", listing(
            f"{m.get('part')} {seconds(float(m.get('start_seconds') or 0.0))}–"
            f"{seconds(float(m.get('end_seconds') or 0.0))}" for m in missing)))
    if qc.get("reason"):
        rows.append(("Reason", sentence(str(qc["reason"]))))
    return rows
