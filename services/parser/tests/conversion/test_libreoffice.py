"""docx → pdf through the real LibreOffice: the text arrives; absence, failure, timeout and memory are clean errors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import docx
import pymupdf
import pytest

from ferry_parser.conversion import (
    ConversionFailed,
    ConversionOutOfMemory,
    ConversionTimeout,
    ConverterUnavailable,
    convert_with_libreoffice,
    libreoffice_path,
)
from ferry_parser.conversion.libreoffice import ENV_VAR

needs_libreoffice = pytest.mark.skipif(libreoffice_path() is None, reason="LibreOffice is not installed")


def word_document(path: Path) -> Path:
    document = docx.Document()
    document.add_heading("Quarterly report", level=1)
    document.add_paragraph("Revenue grew in Zürich and in Київ.")
    table = document.add_table(rows=2, cols=2)
    for r, row in enumerate([["Region", "Revenue"], ["North", "1200"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.save(str(path))
    return path


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if text.encode() in Path(entry.path, "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@needs_libreoffice
def test_docx_to_pdf_holds_the_text(tmp_path: Path) -> None:
    out = tmp_path / "report.pdf"
    convert_with_libreoffice(
        word_document(tmp_path / "report.docx"), out, timeout=120, memory_mb=1024, workdir=tmp_path
    )

    with pymupdf.open(out) as pdf:  # type: ignore[no-untyped-call]
        text = " ".join(page.get_text() for page in pdf)
    for expected in ("Quarterly report", "Revenue grew in Zürich and in Київ.", "Region", "1200"):
        assert expected in text
    assert {p.name for p in tmp_path.iterdir()} == {"report.docx", "report.pdf"}  # the private folder is gone


@needs_libreoffice
def test_a_timeout_kills_every_libreoffice_process(tmp_path: Path) -> None:
    with pytest.raises(ConversionTimeout, match=r"within 0\.5 seconds"):
        convert_with_libreoffice(
            word_document(tmp_path / "in.docx"), tmp_path / "out.pdf", timeout=0.5, memory_mb=1024, workdir=tmp_path
        )
    assert processes_mentioning(str(tmp_path)) == []
    assert not (tmp_path / "out.pdf").exists()
    assert {p.name for p in tmp_path.iterdir()} == {"in.docx"}


@needs_libreoffice
def test_past_its_memory_cap_libreoffice_is_stopped(tmp_path: Path) -> None:
    with pytest.raises(ConversionOutOfMemory, match="20 MB"):
        convert_with_libreoffice(
            word_document(tmp_path / "in.docx"), tmp_path / "out.pdf", timeout=120, memory_mb=20, workdir=tmp_path
        )
    assert processes_mentioning(str(tmp_path)) == []


@needs_libreoffice
def test_a_damaged_document_fails_with_a_reason(tmp_path: Path) -> None:
    source = tmp_path / "broken.docx"
    source.write_bytes(b"PK\x03\x04" + b"not really a zip" * 64)

    with pytest.raises(ConversionFailed, match="could not convert"):
        convert_with_libreoffice(source, tmp_path / "out.pdf", timeout=120, memory_mb=1024, workdir=tmp_path)
    assert not (tmp_path / "out.pdf").exists()


def test_a_missing_program_is_converter_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "no-such-soffice"))
    assert libreoffice_path() is None

    with pytest.raises(ConverterUnavailable) as caught:
        convert_with_libreoffice(tmp_path / "in.docx", tmp_path / "out.pdf", timeout=10, memory_mb=1024)
    assert caught.value.code == "converter_unavailable"


@needs_libreoffice
def test_the_program_may_be_named_or_given_by_path(monkeypatch: pytest.MonkeyPatch) -> None:
    found = shutil.which("soffice") or shutil.which("libreoffice")
    assert found is not None
    monkeypatch.setenv(ENV_VAR, Path(found).name)
    assert libreoffice_path() == found
    monkeypatch.setenv(ENV_VAR, found)
    assert libreoffice_path() == found
