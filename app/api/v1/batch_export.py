"""The CSV export of a batch's results (``GET /analysis/batch/{batch_id}/results?format=csv``):
built at the edge from :meth:`BatchService.results` and the links the API added."""

from __future__ import annotations

import csv
import io
from typing import Any

from app.services.text_safety import csv_cell

__all__ = ["RESULT_COLUMNS", "results_csv"]

#: columns of ``GET /{batch_id}/results?format=csv``
RESULT_COLUMNS: tuple[str, ...] = (
    "index", "line", "episode_name", "master_file", "dub_file", "status", "qc", "verdict",
    "offset_seconds", "offset_ms", "offset_start_ms", "offset_end_ms", "max_abs_offset_ms",
    "offset_samples", "frames_23.976", "frames_24", "frames_25",
    "frames_29.97", "frames_30", "timecode_23.976", "timecode_24", "timecode_25",
    "timecode_29.97", "timecode_30", "confidence", "reliable", "polarity_inverted",
    "drift_ppm", "drift_conversion", "edits", "auto_repair", "error_code", "error_message",
    "analysis_id", "report",
)
_TEXT_COLUMNS = {"episode_name", "master_file", "dub_file", "error_message", "verdict"}


def results_csv(results: dict[str, Any]) -> str:
    """A batch's results (:meth:`BatchService.results`, with their links) as a spreadsheet:
    one row per item, RESULT_COLUMNS."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=RESULT_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for item in results["items"]:
        result = item["result"] or {}
        frames = result.get("offset_frames") or {}
        codes = result.get("timecodes") or {}
        drift = result.get("drift") or {}
        error = item["error"] or {}
        row: dict[str, Any] = {
            "index": item["index"], "line": item["line"],
            "episode_name": item["episode_name"], "master_file": item["master_file"],
            "dub_file": item["dub_file"], "status": item["status"],
            "qc": (result.get("qc") or {}).get("status"),
            "verdict": result.get("verdict"),
            "offset_seconds": _num(result.get("offset_seconds"), 6),
            "offset_ms": _num(result.get("offset_ms"), 3),
            "offset_start_ms": _num(result.get("offset_start_ms"), 1),
            "offset_end_ms": _num(result.get("offset_end_ms"), 1),
            "max_abs_offset_ms": _num(result.get("max_abs_offset_ms"), 1),
            "offset_samples": result.get("offset_samples"),
            "confidence": _num(result.get("confidence"), 4),
            "reliable": result.get("reliable"),
            "polarity_inverted": result.get("polarity_inverted"),
            "drift_ppm": _num(drift.get("ppm"), 2),
            "drift_conversion": drift.get("conversion"),
            "edits": result.get("edits_count"), "auto_repair": item["auto_repair"],
            "error_code": error.get("code"), "error_message": error.get("message"),
            "analysis_id": item["analysis_id"],
            "report": (item["links"] or {}).get("report"),
        }
        for rate in ("23.976", "24", "25", "29.97", "30"):
            row[f"frames_{rate}"] = _num(frames.get(rate), 3)
            row[f"timecode_{rate}"] = codes.get(rate)
        writer.writerow({k: _cell(k, v) for k, v in row.items()})
    return out.getvalue()


def _num(value: Any, digits: int) -> Any:
    return round(value, digits) if isinstance(value, float) else value


def _cell(column: str, value: Any) -> Any:
    """Spreadsheet-safe cell: text that a spreadsheet would run as a formula is quoted."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if column in _TEXT_COLUMNS and isinstance(value, str):
        return csv_cell(value)
    return value
