"""The batch CSV parser: encodings, separators, header names, line numbers, value kinds."""

from __future__ import annotations

import pytest

from app.services.batch_csv import CsvError, ParsedCsv, parse_batch_csv


def _parse(text: str, max_rows: int | None = None) -> ParsedCsv:
    return parse_batch_csv(text.encode(), max_rows=max_rows)


class TestParse:
    @pytest.mark.parametrize("sep", [",", ";", "\t"])
    def test_separators_bom_and_header_names(self, sep: str) -> None:
        text = sep.join(["Master File", "dub-file", "EPISODE_NAME"]) + "\r\n" + \
            sep.join(["m.wav", "d.wav", "EP1"]) + "\r\n"
        for data in (text.encode(), b"\xef\xbb\xbf" + text.encode(), text.encode("utf-16")):
            p = parse_batch_csv(data)
            assert p.delimiter == sep and p.columns == ["master_file", "dub_file",
                                                        "episode_name"]
            assert [(r.line, r.values) for r in p.rows] == [
                (2, {"master_file": "m.wav", "dub_file": "d.wav", "episode_name": "EP1"})]

    def test_line_numbers_count_blank_comment_and_multiline_rows(self) -> None:
        p = _parse('master_file,dub_file,episode_name\n\n# note\na.wav,b.wav,"two\nlines"\n'
                   ",c.wav,\nd.wav,e.wav,\n")
        assert [r.line for r in p.rows] == [4, 7]
        assert [(e.line, e.code, e.column) for e in p.errors] == [
            (6, "missing_value", "master_file")]

    def test_values(self) -> None:
        p = parse_batch_csv(
            b"master_file;dub_file;methods;window_size;confidence_threshold;enable_ai;"
             b"auto_repair;dub_channel;sample_rate\n"
             b"a;b;Correlation|onset + mfcc;7,5;0.4;Yes;0;2;48000.0\n"
             b"a;b;;x;;maybe;;2.5;\n")
        assert p.rows[0].values == {
            "master_file": "a", "dub_file": "b", "methods": ["correlation", "onset", "mfcc"],
            "window_size": 7.5, "confidence_threshold": 0.4, "enable_ai": True,
            "auto_repair": False, "dub_channel": 2, "sample_rate": 48000}
        assert {(e.column, e.code) for e in p.errors} == {
            ("window_size", "invalid_value"), ("enable_ai", "invalid_value"),
            ("dub_channel", "invalid_value")}
        assert all(e.line == 3 for e in p.errors)

    def test_warnings(self) -> None:
        p = _parse("master_file,dub_file,owner\na,b,x\na,b,y\n")
        assert any("owner" in w for w in p.warnings)
        assert any("line 3: the same pair as line 2" in w
                   for w in p.warnings)

    @pytest.mark.parametrize(("data", "code"), [
        (b"", "csv_empty"), (b" \n\n", "csv_empty"),
        (b"master_file;dub\na;b\n", "csv_missing_column"),
        (b"master_file,dub_file,Dub File\na,b,c\n", "csv_duplicate_column"),
        (b"master_file,dub_file\n\xff\xfe\xfa,b\n", "csv_encoding"),
        (b'master_file,dub_file\n"a,b\n', "csv_malformed"),
    ])
    def test_whole_file_errors(self, data: bytes, code: str) -> None:
        with pytest.raises(CsvError) as err:
            parse_batch_csv(data)
        assert err.value.code == code

    def test_row_limit(self) -> None:
        with pytest.raises(CsvError) as err:
            _parse("master_file,dub_file\n" + "a,b\n" * 4, max_rows=3)
        assert err.value.code == "batch_too_large" and "line 5" in err.value.message
