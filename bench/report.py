"""Scoring of answers against the true offsets and the per-category tables."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Answer", "FRAME_SECONDS", "summarise", "format_table"]

FRAME_SECONDS = 1.0 / 24.0  # one film frame, 41.7 ms


@dataclass
class Answer:
    """One tool's answer on one case (offsets in seconds, > 0 = dub late)."""

    case: str
    kind: str
    true_offset: float | None
    offset: float | None
    reliable: bool
    seconds: float
    programme_seconds: float
    verdict: str = ""
    confidence: float | None = None
    error: str | None = None

    @property
    def abs_error(self) -> float | None:
        if self.true_offset is None or self.offset is None:
            return None
        return abs(self.offset - self.true_offset)

    @property
    def false_match(self) -> bool:
        """A reliable answer where there is no match, or one more than a frame off."""
        if not self.reliable or self.offset is None:
            return False
        if self.true_offset is None:
            return True
        err = self.abs_error
        return err is not None and err > FRAME_SECONDS


def _row(name: str, answers: Sequence[Answer]) -> dict[str, object]:
    n = len(answers)
    truth = [a for a in answers if a.true_offset is not None]
    errs = [a.abs_error for a in truth if a.abs_error is not None]
    wall = sum(a.seconds for a in answers)
    prog = sum(a.programme_seconds for a in answers)
    row: dict[str, object] = {
        "category": name,
        "cases": n,
        "with_truth": len(truth),
        "within_1ms": sum(e <= 1e-3 for e in errs) if truth else None,
        "within_0.1ms": sum(e <= 1e-4 for e in errs) if truth else None,
        "within_frame": sum(e <= FRAME_SECONDS for e in errs) if truth else None,
        "median_err_ms": statistics.median(errs) * 1e3 if errs else None,
        "max_err_ms": max(errs) * 1e3 if errs else None,
        "no_answer": sum(a.offset is None for a in truth) if truth else None,
        "reliable": sum(a.reliable for a in answers),
        "false_matches": sum(a.false_match for a in answers),
        "x_realtime": prog / wall if wall > 0 else None,
        "errors": sum(a.error is not None for a in answers),
    }
    return row


def summarise(answers: Sequence[Answer], kinds: Sequence[str]) -> list[dict[str, object]]:
    """One row per kind (in ``kinds`` order) and a final "ALL" row."""
    rows = [_row(k, [a for a in answers if a.kind == k]) for k in kinds]
    rows = [r for r in rows if r["cases"]]
    rows.append(_row("ALL", list(answers)))
    return rows


_COLS = (
    ("category", "category", 13, "s"),
    ("cases", "n", 3, "d"),
    ("within_frame", "≤1 frame", 8, "frac"),
    ("within_1ms", "≤1 ms", 6, "frac"),
    ("within_0.1ms", "≤0.1 ms", 7, "frac"),
    ("median_err_ms", "med|err| ms", 11, "f"),
    ("max_err_ms", "max|err| ms", 11, "f"),
    ("no_answer", "no ans", 6, "d"),
    ("reliable", "reliable", 8, "d"),
    ("false_matches", "FALSE", 5, "d"),
    ("x_realtime", "x RT", 7, "x"),
    ("errors", "crash", 5, "d"),
)


def _fmt(value: object, kind: str, width: int, n: int) -> str:
    if value is None:
        text = "-"
    elif kind == "frac":
        text = f"{value}/{n}"
    elif kind == "f":
        v = float(value) if isinstance(value, int | float) else math.nan
        text = "inf" if math.isinf(v) else (f"{v:.3f}" if v < 10 else f"{v:.1f}")
    elif kind == "x":
        text = f"{value:.1f}x" if isinstance(value, int | float) else "?"
    else:
        text = str(value)
    return text.ljust(width) if kind == "s" else text.rjust(width)


def format_table(title: str, rows: Sequence[dict[str, object]]) -> str:
    """A fixed-width text table of :func:`summarise` rows under ``title``."""
    head = " ".join(h.ljust(w) if k == "s" else h.rjust(w) for _, h, w, k in _COLS)
    lines = [title, head, "-" * len(head)]
    for r in rows:
        n = r["with_truth"]
        assert isinstance(n, int)
        lines.append(" ".join(_fmt(r[key], k, w, n) for key, _, w, k in _COLS))
    return "\n".join(lines)
