"""PDF: numbered pages of text in reading order, with the tables found on each page.

PyMuPDF does the reading. It is imported on first use, because importing it
also loads a layout model (seconds and ~200 MB) that a parser never handed a
PDF does not need. MuPDF must not be entered by two threads at once, so every
call into it holds ``MUPDF_LOCK``; the lock is taken per page and never held
across a ``yield``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ferry_parser.errors import CorruptFile, EmptyFile, EncryptedPdf, ParseError, TooManyPages
from ferry_parser.formats.base import DocumentHeader, Item, Page, Pages, ReadOptions

MAX_PAGES = 5000
"""The most pages a PDF may have; a longer one fails with ``too_many_pages`` before any page is read."""
PAGES_PER_BATCH = 8
MUPDF_LOCK = threading.RLock()
"""Held by every call into MuPDF, which is not thread-safe (re-entrant, for a generator closed by the GC)."""

# PyMuPDF's documents, pages and tables: their methods carry no annotations, so mypy sees them as Any.
_Document = Any
_Page = Any
_Table = Any

_EOF_WINDOW = 1024  # the PDF specification puts the %%EOF marker within the file's last 1024 bytes
_METADATA_CHARS = 1000
_TRUNCATED = "The PDF is incomplete: the file ends too early, as if cut off. Upload the complete file."
_UNREADABLE = "The file is not a readable PDF: it is damaged, or it is not a PDF at all."
_NOT_PDF = "The file is not a PDF: its content is of another kind (an image, for example)."
_PDF_DATE = re.compile(
    r"(?:D:)?(?P<year>\d{4})(?P<month>\d\d)?(?P<day>\d\d)?(?P<hour>\d\d)?(?P<minute>\d\d)?(?P<second>\d\d)?"
    r"(?:(?P<sign>[Zz+-])(?:(?P<tz_hours>\d\d)'?(?:(?P<tz_minutes>\d\d)'?)?)?)?"
)


def read_pdf(path: Path, options: ReadOptions) -> Iterator[Item]:
    return read_pdf_pages(path, options, max_pages=options.max_pages)


def read_pdf_pages(path: Path, options: ReadOptions, *, max_pages: int = MAX_PAGES) -> Generator[Item, None, None]:
    """A ``pages`` document header, then the pages in batches of ``PAGES_PER_BATCH``."""
    if path.stat().st_size == 0:
        raise EmptyFile("The file is empty.")
    truncated = _lacks_end_marker(path)
    with MUPDF_LOCK, _corrupt_on_error(_UNREADABLE):
        document = _open(path)
    try:
        with MUPDF_LOCK, _corrupt_on_error(_UNREADABLE):
            header = _header(document, max_pages=max_pages, truncated=truncated)
        yield header
        tally = _Tally(limit=options.max_text_bytes)
        batch: list[Page] = []
        for index in range(header.pages_total or 0):
            with MUPDF_LOCK, _corrupt_on_error(f"The PDF is damaged: page {index + 1} could not be read."):
                batch.append(_read_page(document, index, tally))
            if len(batch) == PAGES_PER_BATCH:
                yield Pages(batch)
                batch = []
        with MUPDF_LOCK:
            repaired = bool(document.is_repaired)
        if repaired and truncated:
            raise CorruptFile(_TRUNCATED)
        header.metadata["pages_without_text"] = tally.without_text
        header.warnings.extend(tally.warnings(header.pages_total or 0))
        if repaired:
            header.warnings.append("The PDF was damaged and was repaired while reading; some content may be missing.")
        if batch:
            yield Pages(batch)
    finally:
        with MUPDF_LOCK:
            document.close()


@contextmanager
def _corrupt_on_error(message: str) -> Iterator[None]:
    """MuPDF's errors (of many types) as ``CorruptFile``; ours, the disk's and memory's pass through."""
    try:
        yield
    except (ParseError, OSError, MemoryError):
        raise
    except Exception as exc:
        raise CorruptFile(message) from exc


def _lacks_end_marker(path: Path) -> bool:
    with path.open("rb") as source:
        source.seek(max(path.stat().st_size - _EOF_WINDOW, 0))
        return b"%%EOF" not in source.read()


def _open(path: Path) -> _Document:
    import pymupdf  # here, not at the top: see the module's docstring

    return pymupdf.open(path, filetype="pdf")  # type: ignore[no-untyped-call]


def _header(document: _Document, *, max_pages: int, truncated: bool) -> DocumentHeader:
    if not document.is_pdf:  # MuPDF trusts the content over the type it is told: a PNG opens as an image
        raise CorruptFile(_NOT_PDF)
    if document.needs_pass and not document.authenticate(""):
        raise EncryptedPdf("The PDF is password-protected; upload it without a password.")
    # MuPDF rebuilds a damaged file as best it can; a cut-off one would lose its last pages silently.
    if document.is_repaired and truncated:
        raise CorruptFile(_TRUNCATED)
    count = int(document.page_count)
    if count == 0:
        raise EmptyFile("The PDF has no pages.")
    if count > max_pages:
        raise TooManyPages(f"The PDF has {count} pages; at most {max_pages} pages can be parsed.")
    return DocumentHeader(kind="pages", pages_total=count, metadata=pdf_metadata(document.metadata or {}, count))


def pdf_metadata(info: dict[str, Any], page_count: int) -> dict[str, Any]:
    """The document information of a PDF as ``summary.metadata``; dates as ISO 8601 when they parse."""
    return {
        "title": _text(info.get("title")),
        "author": _text(info.get("author")),
        "subject": _text(info.get("subject")),
        "keywords": _text(info.get("keywords")),
        "creator": _text(info.get("creator")),
        "producer": _text(info.get("producer")),
        "creation_date": pdf_date(info.get("creationDate")),
        "modification_date": pdf_date(info.get("modDate")),
        "page_count": page_count,
        "encrypted": bool(info.get("encryption")),
        "pdf_version": _text(str(info.get("format") or "").removeprefix("PDF ")),
        "format": "pdf",
    }


def pdf_date(value: object) -> str | None:
    """``D:20240102030405+01'00'`` → ``2024-01-02T02:04:05Z``; without an offset, local time without a zone.

    A value that does not parse is kept as written.
    """
    raw = _text(value)
    if raw is None:
        return None
    match = _PDF_DATE.fullmatch(raw)
    if match is None:
        return raw
    part = match.groupdict()
    try:
        moment = datetime(
            int(part["year"]),
            int(part["month"] or 1),
            int(part["day"] or 1),
            int(part["hour"] or 0),
            int(part["minute"] or 0),
            int(part["second"] or 0),
        )
        sign = part["sign"]
        if sign is None:
            return moment.isoformat()
        offset = timedelta(hours=int(part["tz_hours"] or 0), minutes=int(part["tz_minutes"] or 0))
        zone = timezone(-offset if sign == "-" else offset)
        utc = moment.replace(tzinfo=zone).astimezone(UTC)
    except (ValueError, OverflowError):
        return raw
    return utc.replace(tzinfo=None).isoformat() + "Z"


def _text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    text = _storable(value).strip()
    return text[:_METADATA_CHARS] or None


def _storable(text: str) -> str:
    """``text`` with lone surrogates (which cannot be stored as UTF-8) replaced."""
    return text.encode("utf-8", "replace").decode("utf-8")


@dataclass
class _Tally:
    """What happened to the pages read so far, for the summary's warnings."""

    limit: int
    without_text: int = 0
    shortened: int = 0
    tables_left_out: int = 0
    tables_failed: int = 0

    def warnings(self, total: int) -> list[str]:
        found = []
        if self.without_text == 1:
            found.append(f"1 of {total} pages has no text layer (a scanned image?)")
        elif self.without_text:
            found.append(f"{self.without_text} of {total} pages have no text layer (scanned images?)")
        if self.shortened:
            found.append(f"{self.shortened} page(s) held more than {self.limit} bytes of text and were shortened.")
        if self.tables_left_out:
            found.append(
                f"{self.tables_left_out} table(s) were left out: the tables of one page may hold {self.limit} bytes."
            )
        if self.tables_failed:
            found.append(f"Tables could not be detected on {self.tables_failed} page(s); their text is kept.")
        return found


def _read_page(document: _Document, index: int, tally: _Tally) -> Page:
    page = document.load_page(index)
    data = _storable(page.get_text("text", sort=True).rstrip()).encode()
    if len(data) > tally.limit:
        data = data[: tally.limit]
        tally.shortened += 1
    text = data.decode("utf-8", "ignore")  # a cut through a multi-byte character drops its start
    has_text = bool(text.strip())
    if not has_text:
        tally.without_text += 1
        return Page(number=index + 1, text=text, tables=[], has_text=False)
    return Page(number=index + 1, text=text, tables=_tables(page, tally), has_text=True)


def _tables(page: _Page, tally: _Tally) -> list[list[list[str | None]]]:
    """The page's ruled tables as rows of cell texts, as many as fit the page's byte limit.

    Detection is line-based (``use_layout=False``): PyMuPDF's layout model takes
    about a second per page. Detection failing loses the tables, not the page.
    """
    try:
        found = page.find_tables(use_layout=False).tables
        if not found:
            return []
        words = None if page.rotation else page.get_text("words", sort=True)
        tables = [_table_rows(table, words) for table in found]
    except MemoryError:
        raise
    except Exception:
        tally.tables_failed += 1
        return []
    kept: list[list[list[str | None]]] = []
    size = 0
    for rows in tables:
        size += sum(len(cell.encode()) for row in rows for cell in row if cell)
        if size > tally.limit:
            tally.tables_left_out += len(tables) - len(kept)
            break
        kept.append(rows)
    return kept


def _table_rows(table: _Table, words: list[Any] | None) -> list[list[str | None]]:
    """Rows of cell texts; a merged cell's continuation is ``None``.

    Cell texts are assembled from the page's words: ``Table.extract`` works from
    glyph outlines and puts the period of ``1.50`` on a line of its own. On a
    rotated page (where the table's coordinates are not the words') it is used
    all the same. A header PyMuPDF finds above the ruled cells is left out: looking
    for it doubles the time a page takes.
    """
    if words is None:
        return [[None if cell is None else _storable(cell) for cell in row] for row in table.extract()]
    return _assemble(table, words)


def _assemble(table: _Table, words: list[Any]) -> list[list[str | None]]:
    """Each word goes to the cell holding its centre; rows are tried first, so a word costs rows + columns."""
    grid: list[list[list[Any] | None]] = [[None if cell is None else [] for cell in row.cells] for row in table.rows]
    bands = [(row.bbox[1], row.bbox[3], list(enumerate(row.cells))) for row in table.rows]
    x0, y0, x1, y1 = table.bbox
    for word in words:
        x, y = (word[0] + word[2]) / 2, (word[1] + word[3]) / 2
        if x0 <= x < x1 and y0 <= y < y1:
            _place(word, x, y, bands, grid)
    return [[None if found is None else _join(found) for found in row] for row in grid]


def _place(word: Any, x: float, y: float, bands: list[Any], grid: list[list[list[Any] | None]]) -> None:
    for r, (top, bottom, cells) in enumerate(bands):
        if not top <= y < bottom:
            continue
        for c, cell in cells:
            target = grid[r][c]
            if cell is not None and target is not None and cell[0] <= x < cell[2] and cell[1] <= y < cell[3]:
                target.append(word)
                return


def _join(words: list[Any]) -> str:
    """Words of one cell: a space between words of a line, a newline between lines."""
    parts: list[str] = []
    line = None
    for word in words:
        if parts:
            parts.append(" " if (word[5], word[6]) == line else "\n")
        parts.append(_storable(word[4]))
        line = (word[5], word[6])
    return "".join(parts)
