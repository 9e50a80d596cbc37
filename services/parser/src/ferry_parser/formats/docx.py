"""Word documents (``docx``), read with python-docx: headings, paragraphs, list items and tables, in order.

A docx is a zip: it passes ``zipguard`` first. python-docx then loads every
part it can reach into memory, so it is handed a copy holding only the XML
parts (images and embedded files become empty parts, which nothing here
reads), and those may inflate to ``MAX_XML_BYTES`` at most: a parsed tree takes
about six times its XML. python-docx's XML parser never resolves entities, so
an entity bomb stays a few unexpanded references.

Word has no fixed pages: ``wordml`` reads the body into blocks and page breaks,
and ``structured.read_blocks`` gathers them into pages. Headers, footers,
footnotes and comments are not read. The core properties are the summary's
metadata, named as a PDF's are (``creation_date``, not ``created``).
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docx
from docx.opc.constants import RELATIONSHIP_TYPE
from lxml import etree

from ferry_parser.errors import CorruptFile, EmptyFile, ParseError, ZipBomb
from ferry_parser.formats import zipguard
from ferry_parser.formats.base import Item, ReadOptions
from ferry_parser.formats.structured import read_blocks
from ferry_parser.formats.wordml import BodyReader, Styles

MAX_XML_BYTES = 64 << 20
"""The most the XML parts of a docx may inflate to (64 MiB: thousands of pages of text)."""

_DAMAGED = "The document is damaged or is not a Word document (.docx)"
_METADATA_CHARS = 1000
_XML_SUFFIXES = (".xml", ".rels")


def read_docx(path: Path, options: ReadOptions) -> Iterator[Item]:
    if path.stat().st_size == 0:
        raise EmptyFile("The file is empty.")
    with _corrupt_on_error():
        document = docx.Document(str(_xml_only(path, options)))
    body = document.element.body
    styles = Styles(document.styles.element)
    yield from read_blocks(
        BodyReader(styles).content(body),
        options,
        kind="document",
        metadata=_metadata(document),
        what="document",
    )


# -- opening: the zip rules, a copy without media, python-docx's errors as the file's --------------------


def _xml_only(path: Path, options: ReadOptions) -> Path:
    """A stored (uncompressed) copy of the archive in which every part but the XML ones is empty."""
    limits = zipguard.ZipLimits(
        max_uncompressed_bytes=options.max_uncompressed_bytes, max_ratio=options.max_compression_ratio
    )
    zipguard.check_zip(path, limits, what="document")
    target = options.workdir / "document.docx"
    with zipfile.ZipFile(path) as source:
        members = source.infolist()
        xml = {m.filename for m in members if m.filename.lower().endswith(_XML_SUFFIXES)}
        inflated = sum(m.file_size for m in members if m.filename in xml)  # true sizes: the guard checked each
        if inflated > MAX_XML_BYTES:
            raise ZipBomb(
                f"The document was refused as a zip bomb: its XML parts unpack to {zipguard.size_text(inflated)} "
                f"(at most {zipguard.size_text(MAX_XML_BYTES)})."
            )
        with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as copy:
            for member in members:
                if member.filename in xml:
                    with source.open(member) as part, copy.open(member.filename, "w") as out:
                        while block := part.read(1 << 20):
                            out.write(block)
                else:
                    copy.writestr(member.filename, b"")
    return target


@contextmanager
def _corrupt_on_error() -> Iterator[None]:
    """python-docx's and lxml's errors (of many types) as ``CorruptFile``; ours, the disk's and memory's pass."""
    try:
        yield
    except (ParseError, OSError, MemoryError):
        raise
    except etree.XMLSyntaxError as exc:
        if "entity" in str(exc).lower():
            raise CorruptFile(f"{_DAMAGED}: its XML defines entities that would expand without bound.") from exc
        reason = " ".join(str(exc).split()).rstrip(".")
        raise CorruptFile(f"{_DAMAGED}: its XML is not well-formed ({reason}).") from exc
    except Exception as exc:
        raise CorruptFile(f"{_DAMAGED}.") from exc


# -- metadata ------------------------------------------------------------------------------------------------


def _metadata(document: Any) -> dict[str, Any]:
    """The core properties (title, author, dates...) when the document has them; names as for PDFs."""
    package = document.part.package
    if not any(rel.reltype == RELATIONSHIP_TYPE.CORE_PROPERTIES for rel in package.rels.values()):
        return {}  # python-docx would invent default ones
    try:
        core = document.core_properties
        found = {
            "title": _text(core.title),
            "author": _text(core.author),
            "subject": _text(core.subject),
            "keywords": _text(core.keywords),
            "category": _text(core.category),
            "comments": _text(core.comments),
            "last_modified_by": _text(core.last_modified_by),
            "language": _text(core.language),
            "content_status": _text(core.content_status),
            "revision": core.revision or None,
            "creation_date": _date(core.created),
            "modification_date": _date(core.modified),
        }
    except (ValueError, TypeError):  # a date or number python-docx cannot read: the rest is not worth guessing
        return {}
    return found


def _text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.encode("utf-8", "replace").decode("utf-8").strip()
    return text[:_METADATA_CHARS] or None


def _date(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with ``Z`` (python-docx reads them as UTC)."""
    if value is None:
        return None
    moment = value.astimezone(UTC) if value.tzinfo else value
    return moment.replace(tzinfo=None).isoformat() + "Z"
