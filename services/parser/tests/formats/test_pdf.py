"""PDF pages, tables, metadata and failures, on PDFs built here with PyMuPDF itself."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymupdf
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.events import FileParsed
from ferry_core.infra import Document, Infrastructure
from ferry_core.readmodels import ParsedReadModel
from ferry_parser.errors import CorruptFile, ParseError
from ferry_parser.formats import DocumentHeader, Page, Pages, ReadOptions, reader_for
from ferry_parser.formats import pdf as pdf_module
from ferry_parser.formats.pdf import MAX_PAGES, PAGES_PER_BATCH, pdf_date, read_pdf, read_pdf_pages
from ferry_parser.pipeline import FileParser
from ferry_parser.settings import ParserSettings

from ..conftest import Recorder, Upload

PRICES = [["Item", "Qty", "Price"], ["Apple", "3", "1.50"], ["Pear", "", "12.25"]]


@dataclass
class Parsed:
    header: DocumentHeader
    batches: list[list[Page]] = field(default_factory=list)

    @property
    def pages(self) -> list[Page]:
        return [page for batch in self.batches for page in batch]


def parse(path: Path, *, max_pages: int = MAX_PAGES, max_text_bytes: int = 1_000_000) -> Parsed:
    options = ReadOptions(format="pdf", workdir=path.parent, max_text_bytes=max_text_bytes)
    items = iter(read_pdf_pages(path, options, max_pages=max_pages))
    header = next(items)
    assert isinstance(header, DocumentHeader)
    parsed = Parsed(header)
    for item in items:
        assert isinstance(item, Pages)
        parsed.batches.append(item.pages)
    return parsed


def failure(path: Path, **kwargs: Any) -> ParseError:
    with pytest.raises(ParseError) as caught:
        parse(path, **kwargs)
    return caught.value


def save(doc: pymupdf.Document, path: Path, **kwargs: Any) -> Path:
    doc.save(path, **kwargs)
    doc.close()
    return path


def text_pdf(path: Path, texts: list[str], **kwargs: Any) -> Path:
    doc = pymupdf.open()
    for text in texts:
        doc.new_page().insert_text((72, 72), text)
    return save(doc, path, **kwargs)


def draw_table(page: pymupdf.Page, rows: list[list[str]], *, x: float = 72, y: float = 200) -> None:
    """Ruled cells of 110 x 24 points with each value written inside its cell."""
    width, height, columns = 110, 24, len(rows[0])
    for r in range(len(rows) + 1):
        page.draw_line((x, y + r * height), (x + columns * width, y + r * height))
    for c in range(columns + 1):
        page.draw_line((x + c * width, y), (x + c * width, y + len(rows) * height))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value:
                page.insert_text((x + c * width + 6, y + r * height + 16), value, fontsize=11)


def image_page(doc: pymupdf.Document) -> None:
    """A page holding only a picture, as a scanner makes them."""
    pixmap = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 32, 32), False)
    pixmap.clear_with(180)
    doc.new_page().insert_image(pymupdf.Rect(72, 72, 400, 400), pixmap=pixmap)


def test_pdf_is_a_registered_format() -> None:
    assert reader_for(".PDF") is read_pdf


def test_text_per_page_in_reading_order_and_in_batches(tmp_path: Path) -> None:
    doc = pymupdf.open()
    for number in range(1, 11):
        page = doc.new_page()
        # Written bottom first: the reading order comes from the position on the page.
        page.insert_text((72, 300), f"Conclusion of page {number}")
        page.insert_text((72, 100), f"Introduction of page {number}")
    parsed = parse(save(doc, tmp_path / "report.pdf"))

    assert parsed.header.kind == "pages"
    assert parsed.header.pages_total == 10
    assert [len(batch) for batch in parsed.batches] == [PAGES_PER_BATCH, 10 - PAGES_PER_BATCH]
    assert [page.number for page in parsed.pages] == list(range(1, 11))
    fifth = parsed.pages[4]
    assert fifth.text.split("\n")[0] == "Introduction of page 5"
    assert fifth.text.split("\n")[-1] == "Conclusion of page 5"
    assert (fifth.has_text, fifth.tables) == (True, [])
    assert parsed.header.warnings == []


def test_metadata(tmp_path: Path) -> None:
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "Hello")
    doc.set_metadata(
        {
            "title": "Annual report",
            "author": "Ada",
            "subject": "Numbers",
            "creator": "Writer",
            "producer": "Ferry tests",
            "creationDate": "D:20240102030405+01'00'",
            "modDate": "D:20240315120000Z",
        }
    )
    metadata = parse(save(doc, tmp_path / "meta.pdf")).header.metadata

    assert metadata["title"] == "Annual report"
    assert metadata["author"] == "Ada"
    assert metadata["subject"] == "Numbers"
    assert metadata["creator"] == "Writer"
    assert metadata["producer"] == "Ferry tests"
    assert metadata["creation_date"] == "2024-01-02T02:04:05Z"
    assert metadata["modification_date"] == "2024-03-15T12:00:00Z"
    assert metadata["page_count"] == 1
    assert metadata["encrypted"] is False
    assert metadata["format"] == "pdf"
    assert metadata["pages_without_text"] == 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("D:20240102030405+01'00'", "2024-01-02T02:04:05Z"),
        ("D:20240102030405-05'30", "2024-01-02T08:34:05Z"),
        ("D:20240102030405Z00'00'", "2024-01-02T03:04:05Z"),
        ("D:20240102030405", "2024-01-02T03:04:05"),
        ("20240102", "2024-01-02T00:00:00"),
        ("D:2024", "2024-01-01T00:00:00"),
        ("D:20241399000000", "D:20241399000000"),  # no 13th month: kept as written
        ("last Tuesday", "last Tuesday"),
        ("", None),
        (None, None),
    ],
)
def test_pdf_dates(value: str | None, expected: str | None) -> None:
    assert pdf_date(value) == expected


def test_a_ruled_table_is_extracted(tmp_path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 100), "Prices")
    draw_table(page, PRICES)
    parsed = parse(save(doc, tmp_path / "table.pdf"))

    (page_read,) = parsed.pages
    assert page_read.tables == [PRICES]
    assert page_read.text.startswith("Prices")
    assert "12.25" in page_read.text


def test_a_table_on_a_rotated_page(tmp_path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page()
    draw_table(page, PRICES)
    page.set_rotation(90)
    (page_read,) = parse(save(doc, tmp_path / "rotated.pdf")).pages

    (table,) = page_read.tables or [[]]
    cells = {cell for row in table for cell in row}
    assert {"Item", "Qty", "Price", "Apple", "1.50", "12.25"} <= cells


def test_pages_without_a_text_layer(tmp_path: Path) -> None:
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "Typed")
    image_page(doc)
    doc.new_page()  # blank
    image_page(doc)
    parsed = parse(save(doc, tmp_path / "scanned.pdf"))

    assert [page.has_text for page in parsed.pages] == [True, False, False, False]
    assert [page.text for page in parsed.pages[1:]] == ["", "", ""]
    assert parsed.header.warnings == ["3 of 4 pages have no text layer (scanned images?)"]
    assert parsed.header.metadata["pages_without_text"] == 3


def test_a_password_protected_pdf_fails(tmp_path: Path) -> None:
    path = text_pdf(
        tmp_path / "locked.pdf", ["Secret"], encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="open", owner_pw="own"
    )
    error = failure(path)
    assert error.code == "encrypted_pdf"
    assert error.message == "The PDF is password-protected; upload it without a password."


def test_an_owner_password_alone_does_not_stop_reading(tmp_path: Path) -> None:
    path = text_pdf(
        tmp_path / "restricted.pdf", ["Readable"], encryption=pymupdf.PDF_ENCRYPT_AES_256, owner_pw="own", permissions=0
    )
    parsed = parse(path)
    assert parsed.header.metadata["encrypted"] is True
    assert [page.text for page in parsed.pages] == ["Readable"]


def test_too_many_pages_fails_before_reading_a_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = text_pdf(tmp_path / "long.pdf", ["one", "two", "three"])
    read: list[int] = []
    original = pdf_module._read_page

    def reading(document: Any, index: int, tally: Any) -> Page:
        read.append(index)
        return original(document, index, tally)

    monkeypatch.setattr(pdf_module, "_read_page", reading)

    error = failure(path, max_pages=2)
    assert error.code == "too_many_pages"
    assert "3 pages" in error.message
    assert "at most 2 pages" in error.message
    assert read == []
    assert len(parse(path, max_pages=3).pages) == 3


def test_a_truncated_pdf_is_corrupt(tmp_path: Path) -> None:
    whole = text_pdf(tmp_path / "whole.pdf", [f"Page {n} " * 20 for n in range(10)]).read_bytes()
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(whole[: len(whole) // 2])
    error = failure(cut)
    assert isinstance(error, CorruptFile)
    assert error.code == "corrupt_file"
    assert "incomplete" in error.message


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"name,qty\napple,3\n", "not a readable PDF"),
        (b"%PDF-1.7\n" + b"\x00\xff" * 500, "not a readable PDF"),
        (pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 8, 8), False).tobytes("png"), "not a PDF"),
    ],
    ids=["csv", "garbage", "png"],
)
def test_not_a_pdf_is_corrupt(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "fake.pdf"
    path.write_bytes(content)
    error = failure(path)
    assert error.code == "corrupt_file"
    assert message in error.message


def test_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.pdf"
    path.write_bytes(b"")
    assert failure(path).code == "empty_file"


def test_mupdf_errors_become_corrupt_file_but_disk_errors_pass() -> None:
    with pytest.raises(CorruptFile, match="damaged"), pdf_module._corrupt_on_error("damaged"):
        raise RuntimeError("code=7: bad xref")
    with pytest.raises(OSError, match="disk full"), pdf_module._corrupt_on_error("damaged"):
        raise OSError("disk full")


def test_page_text_is_bounded(tmp_path: Path) -> None:
    path = text_pdf(tmp_path / "long.pdf", ["é" * 40, "short"])
    parsed = parse(path, max_text_bytes=25)
    first, second = parsed.pages
    assert len(first.text.encode()) <= 25
    assert first.text == "é" * 12  # never half a character
    assert second.text == "short"
    assert parsed.header.warnings == ["1 page(s) held more than 25 bytes of text and were shortened."]


def test_closing_the_reader_early_closes_the_document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = text_pdf(tmp_path / "many.pdf", [f"Page {n}" for n in range(20)])
    opened: list[pymupdf.Document] = []
    original = pdf_module._open

    def opening(source: Path) -> Any:
        opened.append(original(source))
        return opened[-1]

    monkeypatch.setattr(pdf_module, "_open", opening)

    items = read_pdf_pages(path, ReadOptions(format="pdf", workdir=tmp_path))
    next(items)
    next(items)
    assert not opened[0].is_closed
    items.close()
    assert opened[0].is_closed


# -- through the pipeline, read back as the gateway reads it ----------------------------


async def test_pdf_round_trip_through_the_read_model(
    infra: Infrastructure,
    settings: ParserSettings,
    upload: Upload,
    mongo_db: AsyncDatabase[Document],
    recorder: Recorder,
    wait: Callable[..., Awaitable[None]],
    tmp_path: Path,
) -> None:
    doc = pymupdf.open()
    for number in range(1, 11):
        page = doc.new_page()
        page.insert_text((72, 72), f"Page {number}")
        if number == 2:
            draw_table(page, PRICES)
    image_page(doc)
    doc.set_metadata({"title": "Pipeline"})
    event = await upload(save(doc, tmp_path / "upload.pdf").read_bytes(), "pdf")

    await FileParser(infra, settings).parse(event)

    await wait(lambda: bool(recorder.of_type("file.parsed.v1", event.file_id)))
    summary = FileParsed.model_validate(recorder.of_type("file.parsed.v1")[0].data).summary
    assert summary.kind == "pages"
    assert summary.pages == 11
    assert summary.metadata["format"] == "pdf"
    assert summary.metadata["title"] == "Pipeline"
    assert summary.metadata["page_count"] == 11
    assert summary.warnings == ["1 of 11 pages has no text layer (a scanned image?)"]

    model = ParsedReadModel(mongo_db)
    assert await model.summary(event.file_id) == summary
    content = await model.text_page(event.file_id, summary, offset=0, limit=100)
    assert content.total == 11
    assert [p["number"] for p in content.pages] == list(range(1, 12))
    assert content.pages[0] == {"number": 1, "text": "Page 1", "tables": [], "has_text": True}
    assert content.pages[1]["tables"] == [PRICES]
    assert content.pages[10] == {"number": 11, "text": "", "tables": [], "has_text": False}
    # Batches of PAGES_PER_BATCH pages become chunks; a slice across the boundary reads on.
    across = await model.text_page(event.file_id, summary, offset=PAGES_PER_BATCH - 1, limit=3)
    assert [p["number"] for p in across.pages] == [PAGES_PER_BATCH, PAGES_PER_BATCH + 1, PAGES_PER_BATCH + 2]

    progress = recorder.of_type("file.progress.v1", event.file_id)[-1].data
    assert (progress["pages_done"], progress["pages_total"]) == (11, 11)


async def test_a_locked_pdf_fails_through_the_pipeline(
    infra: Infrastructure,
    settings: ParserSettings,
    upload: Upload,
    recorder: Recorder,
    wait: Callable[..., Awaitable[None]],
    tmp_path: Path,
) -> None:
    path = text_pdf(tmp_path / "locked.pdf", ["Secret"], encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="pw")
    event = await upload(path.read_bytes(), "pdf")

    await FileParser(infra, settings).parse(event)

    await wait(lambda: bool(recorder.of_type("file.failed.v1", event.file_id)))
    error = recorder.of_type("file.failed.v1")[0].data["error"]
    assert error == {"code": "encrypted_pdf", "message": "The PDF is password-protected; upload it without a password."}
