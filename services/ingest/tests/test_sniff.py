from __future__ import annotations

import io
import json
from pathlib import Path

import docx
import pytest

from ferry_ingest.sniff import SNIFF_BYTES, detect


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"a,b,c\n1,2,3\n4,5,6\n", "csv"),
        (b"a;b;c\n1;2;3\n", "csv"),
        (b"a|b\n1|2\n", "csv"),
        (b"a\tb\tc\n1\t2\t3\n", "tsv"),
        ("\ufeffname,city\nZoë,Zürich\n".encode(), "csv"),
        ("name,city\nZoë,Zürich\n".encode("cp1252"), "csv"),
        ("name\tcity\nZoë\tZürich\n".encode("utf-16"), "tsv"),
        (b"Just some prose.\nNothing tabular here at all.\n", "txt"),
        (json.dumps([{"a": 1}, {"a": 2}]).encode(), "json"),
        (json.dumps({"nested": {"x": [1, 2]}}).encode(), "json"),
        (b'{"a": 1}\n{"a": 2}\n{"a": 3}\n', "jsonl"),
        (b"%PDF-1.7\n...", "pdf"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "xls"),
        (b"PK\x03\x04" + b"\x00" * 26 + b"[Content_Types].xml" + b"\x00" * 30 + b"xl/workbook.xml", "xlsx"),
        (b"PK\x03\x04" + b"\x00" * 26 + b"[Content_Types].xml" + b"\x00" * 30 + b"word/document.xml", "docx"),
        (b"PK\x03\x04" + b"\x00" * 26 + b"mimetypeapplication/vnd.oasis.opendocument.spreadsheet", "ods"),
        (b"PK\x03\x04" + b"\x00" * 26 + b"readme.txt", "zip"),
        (b"\x00\x01\x02\x03binary\x00", "binary"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    ],
)
def test_detects_format_from_bytes(data: bytes, expected: str) -> None:
    assert detect(data, "whatever.bin").format == expected


def test_extension_does_not_decide() -> None:
    assert detect(b"\x00\x01\x02binary", "data.csv").format == "binary"
    assert detect(b"a,b\n1,2\n", "report.pdf").format == "csv"


def test_truncated_json_window_is_still_json() -> None:
    big = json.dumps([{"k": "v" * 100}] * 2000).encode()[: 64 * 1024]
    assert detect(big).format == "json"


def test_cut_multibyte_character_at_window_end_is_text() -> None:
    data = ("a,b\n" + "é,ü\n" * 10).encode()[:-2]
    assert detect(data).format == "csv"


def test_fixture_files_are_recognised() -> None:
    fixtures = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "formats"
    for path in fixtures.iterdir():
        if path.suffix in (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods", ".pdf"):
            detected = detect(path.read_bytes()[:SNIFF_BYTES], path.name)  # the name only tells xlsm from xlsx
            assert detected.format == path.suffix[1:], path.name
            assert detected.parseable


def test_word_documents_are_parseable_and_other_office_documents_refused() -> None:
    word = detect(b"PK\x03\x04" + b"\x00" * 26 + b"word/document.xml")
    assert (word.format, word.parseable) == ("docx", True)
    assert word.content_type == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert not detect(b"PK\x03\x04" + b"\x00" * 26 + b"ppt/presentation.xml").parseable
    assert not detect(b"\x89PNG\r\n\x1a\n").parseable


def test_a_word_document_written_by_python_docx_is_recognised() -> None:
    buffer = io.BytesIO()
    document = docx.Document()
    document.add_paragraph("Hello")
    document.save(buffer)
    assert detect(buffer.getvalue()[:SNIFF_BYTES], "letter.bin").format == "docx"


@pytest.mark.parametrize(
    ("data", "name", "expected"),
    [
        (b"<!DOCTYPE html>\n<html><body><p>Hi</p></body></html>", "page.bin", "html"),
        (b"\xef\xbb\xbf  <!doctype html><title>x</title>", "", "html"),
        (b"<html lang='en'><p>a,b,c</p></html>", "data.csv", "html"),
        (b'<?xml version="1.0"?>\n<!-- saved -->\n<html xmlns="http://www.w3.org/1999/xhtml"></html>', "", "html"),
        (b"<p>a fragment</p>\n", "fragment.htm", "html"),
        (b"<p>a fragment</p>\n", "fragment.txt", "txt"),
        ("<!doctype html><p>Zoë</p>".encode("utf-16"), "", "html"),
        (b"# Title\n\nSome *Markdown*.\n", "README.md", "md"),
        (b"name,city\nZoe,Zurich\n", "table.markdown", "md"),
        (b"# Title\n\nSome *Markdown*.\n", "notes.txt", "txt"),
        (b"\x00\x01\x02binary\x00", "README.md", "binary"),
        (b"<html>" + b"\x00" * 50, "page.html", "binary"),
    ],
)
def test_markdown_by_extension_and_html_by_content_or_extension(data: bytes, name: str, expected: str) -> None:
    detected = detect(data, name)
    assert detected.format == expected
    assert detected.parseable == (expected != "binary")
    if expected in ("md", "html"):
        assert detected.content_type == {"md": "text/markdown", "html": "text/html"}[expected]
