"""Parsing of batch CSV files exported from asset systems (no I/O, no web imports).

A header row names the columns (case-insensitive; spaces and dashes count as underscores):
``master_file`` and ``dub_file`` are required; ``episode_name``, ``methods``, ``enable_ai``,
``ai_model``, ``window_size``, ``confidence_threshold``, ``auto_repair`` and the other analysis
options (``sample_rate``, ``max_offset_seconds``, ``master_stream``, ``dub_stream``,
``master_channel``, ``dub_channel``) are optional. Values are separated by commas, semicolons or
tabs (detected from the header); UTF-8 with or without a byte-order mark (UTF-16 with a BOM is
read too). Every problem is reported with the line number where its row starts.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CsvError", "CsvRow", "ParsedCsv", "RowError", "parse_batch_csv", "REQUIRED",
           "OPTIONAL"]

REQUIRED: tuple[str, ...] = ("master_file", "dub_file")
#: optional column → kind of value
OPTIONAL: dict[str, str] = {
    "episode_name": "text", "methods": "methods", "enable_ai": "bool", "ai_model": "text",
    "window_size": "float", "confidence_threshold": "float", "auto_repair": "bool",
    "sample_rate": "int", "max_offset_seconds": "float", "master_stream": "int",
    "dub_stream": "int", "master_channel": "int", "dub_channel": "int",
}
_DELIMITERS = (",", ";", "\t")
_TRUE = {"true", "yes", "y", "1", "on", "x", "oui", "ja", "si", "sí"}
_FALSE = {"false", "no", "n", "0", "off", "non", "nein"}
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")


class CsvError(Exception):
    """The file as a whole cannot be used (encoding, header); ``code`` names the problem."""

    def __init__(self, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


@dataclass(frozen=True)
class RowError:
    """One problem of one row: its line number, the column (if one), a code and a message."""

    line: int
    code: str
    message: str
    column: str | None = None
    value: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "code": self.code,
                "message": self.message, "value": self.value}


@dataclass
class CsvRow:
    """A data row: its starting line and its values converted to their types (empty → absent)."""

    line: int
    values: dict[str, Any]


@dataclass
class ParsedCsv:
    rows: list[CsvRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    delimiter: str = ","
    columns: list[str] = field(default_factory=list)


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise CsvError("csv_encoding", f"the file starts with a UTF-16 byte-order mark but "
                                           f"is not valid UTF-16 ({exc.reason})") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CsvError("csv_encoding", f"the file is not UTF-8: byte 0x{data[exc.start]:02x} "
                                       f"at line {line} (save the CSV as UTF-8)",
                       details={"line": line, "byte_offset": exc.start}) from exc


def _normalise(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _sniff(text: str) -> tuple[str, list[str]]:
    """The delimiter whose header holds the required columns (else the one splitting the
    header into the most cells) and the header's cells."""
    first = next(iter(io.StringIO(text)), "")
    best: tuple[int, str, list[str]] | None = None
    for delimiter in _DELIMITERS:
        header = next(csv.reader(io.StringIO(first), delimiter=delimiter), [])
        names = [_normalise(h) for h in header]
        score = 1000 * sum(r in names for r in REQUIRED) + len(names)
        if best is None or score > best[0]:
            best = (score, delimiter, header)
    assert best is not None
    return best[1], best[2]


def _convert(kind: str, raw: str) -> Any:
    """``raw`` (stripped, non-empty) as ``kind``; raises ValueError with the reason."""
    if kind == "text":
        return raw
    if kind == "bool":
        low = raw.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError("expected true or false (also yes/no, 1/0)")
    if kind == "methods":
        names = [m for m in re.split(r"[|,;+\s]+", raw.lower()) if m]
        if not names:
            raise ValueError("expected method names such as correlation|onset")
        return names
    number = raw.replace(",", ".") if _DECIMAL_COMMA.match(raw) else raw
    if kind == "int":
        try:
            return int(number)
        except ValueError:
            value = float(number)  # "2.0" is fine, "2.5" is not
            if not value.is_integer():
                raise ValueError("expected a whole number") from None
            return int(value)
    value = float(number)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("expected a finite number")
    return value


def parse_batch_csv(data: bytes, *, max_rows: int | None = None) -> ParsedCsv:
    """Parse a batch CSV. Whole-file problems raise :class:`CsvError`; problems of single rows
    are collected in ``errors`` (those rows are left out of ``rows``)."""
    text = _decode(data)
    if not text.strip():
        raise CsvError("csv_empty", "the CSV is empty: expected a header row with master_file "
                                    "and dub_file, then one row per pair")
    delimiter, header = _sniff(text)
    columns = [_normalise(h) for h in header]
    missing = [r for r in REQUIRED if r not in columns]
    if missing:
        raise CsvError("csv_missing_column",
                       f"line 1: the header lacks the required column(s) {missing}; found "
                       f"{[h.strip() for h in header]} (separators tried: comma, semicolon, tab)",
                       details={"line": 1, "missing": missing,
                                "found": [h.strip() for h in header]})
    duplicates = sorted({c for c in columns if c and columns.count(c) > 1})
    if duplicates:
        raise CsvError("csv_duplicate_column", f"line 1: column(s) {duplicates} appear twice",
                       details={"line": 1, "duplicates": duplicates})
    parsed = ParsedCsv(delimiter=delimiter, columns=columns)
    known = set(REQUIRED) | set(OPTIONAL)
    unknown = [h.strip() for h, c in zip(header, columns, strict=True) if c not in known and c]
    if unknown:
        parsed.warnings.append(f"line 1: column(s) {unknown} are not used (known: "
                               f"{list(REQUIRED) + list(OPTIONAL)})")

    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    count = 0
    try:
        next(reader)
        line = reader.line_num + 1
        for cells in reader:
            start, line = line, reader.line_num + 1
            if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
                continue  # blank line or comment
            count += 1
            if max_rows is not None and count > max_rows:
                raise CsvError("batch_too_large", f"line {start}: more than {max_rows} rows "
                                                  "(BATCH_MAX_ITEMS); split the CSV",
                               details={"line": start, "max_rows": max_rows})
            row_errors: list[RowError] = []
            if len(cells) > len(columns) and any(c.strip() for c in cells[len(columns):]):
                row_errors.append(RowError(start, "too_many_values",
                                           f"line {start}: {len(cells)} values but the header "
                                           f"has {len(columns)} columns (a separator inside a "
                                           "value must be quoted)"))
            values: dict[str, Any] = {}
            for name, raw in zip(columns, cells, strict=False):
                raw = raw.strip()
                if name not in known or not raw:
                    continue
                if name in REQUIRED:
                    values[name] = raw
                    continue
                try:
                    values[name] = _convert(OPTIONAL[name], raw)
                except ValueError as exc:
                    reason = str(exc) if "expected" in str(exc) else "expected a number"
                    row_errors.append(RowError(start, "invalid_value",
                                               f"line {start}, {name}: {raw!r}: {reason}",
                                               column=name, value=raw))
            for name in REQUIRED:
                if name not in values:
                    row_errors.append(RowError(start, "missing_value",
                                               f"line {start}: {name} is empty", column=name))
            if row_errors:
                parsed.errors.extend(row_errors)
            else:
                parsed.rows.append(CsvRow(start, values))
    except csv.Error as exc:
        raise CsvError("csv_malformed", f"line {reader.line_num}: {exc} (check the quotes)",
                       details={"line": reader.line_num}) from exc
    pairs: dict[tuple[str, str], int] = {}
    for row in parsed.rows:
        key = (row.values["master_file"], row.values["dub_file"])
        if key in pairs:
            parsed.warnings.append(f"line {row.line}: the same pair as line {pairs[key]}")
        else:
            pairs[key] = row.line
    return parsed
