"""Word documents: known documents built here with python-docx (or their XML written out), read back."""

from __future__ import annotations

import io
import itertools
import random
import re
import time
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import docx
import pytest
from docx.document import Document
from docx.enum.style import WD_STYLE_TYPE

from ferry_parser.errors import CorruptFile, EmptyFile, TooManyPages, ZipBomb
from ferry_parser.formats import Block
from ferry_parser.formats import docx as docx_format

from .conftest import Read
from .test_zipguard import declare

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
MiB = 1 << 20


def build(fill: Callable[[Document], None]) -> bytes:
    document = docx.Document()
    fill(document)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def replaced(data: bytes, members: dict[str, bytes]) -> bytes:
    """The archive with ``members`` replaced (or added)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename not in members:
                target.writestr(info, source.read(info))
        for name, content in members.items():
            target.writestr(name, content)
    return out.getvalue()


def with_body(body: str, prolog: str = "") -> bytes:
    """A document whose ``word/document.xml`` is ``body`` (WordprocessingML), after an optional DOCTYPE."""
    xml = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n{prolog}'
        f'<w:document xmlns:w="{W}" xmlns:mc="{MC}"><w:body>{body}</w:body></w:document>'
    )
    return replaced(build(lambda _: None), {"word/document.xml": xml.encode()})


def run(text: str) -> str:
    return f'<w:r><w:t xml:space="preserve">{text}</w:t></w:r>'


def blocks(result: object) -> list[Block]:
    return [block for page in result.full_pages for block in page.blocks or []]  # type: ignore[attr-defined]


def sample(document: Document) -> None:
    properties = document.core_properties
    properties.title = "Ferry handbook"
    properties.author = "Ada Lovelace"
    properties.subject = "Crossings"
    properties.keywords = "ferry, river"
    properties.created = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    properties.modified = datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC)
    document.add_heading("Ferry handbook", level=0)
    document.add_heading("Getting on board", level=1)
    document.add_paragraph("Zoë crosses the Łaba at dawn — 日本語 too 🚢.")
    document.add_paragraph("Tickets", style="List Bullet")
    document.add_paragraph("Bicycles", style="List Bullet 2")
    document.add_paragraph("First step", style="List Number")
    document.add_heading("Timetable", level=2)
    table = document.add_table(rows=3, cols=3)
    for r, values in enumerate([["Port", "Departs", "Arrives"], ["Ålesund", "08:00", "09:10"], ["Molde", "", ""]]):
        for c, value in enumerate(values):
            table.cell(r, c).text = value
    table.cell(2, 1).merge(table.cell(2, 2)).text = "cancelled"
    document.add_heading("Small print", level=3)
    document.add_paragraph("Mind the gap.", style="Quote")


def test_headings_paragraphs_lists_tables_and_metadata(read: Read) -> None:
    result = read(build(sample), "docx")
    assert result.document.kind == "document"
    assert result.document.pages_total == 1
    metadata = result.document.metadata
    assert metadata["title"] == "Ferry handbook"
    assert metadata["author"] == "Ada Lovelace"
    assert metadata["subject"] == "Crossings"
    assert metadata["keywords"] == "ferry, river"
    assert metadata["creation_date"] == "2024-01-02T03:04:05Z"
    assert metadata["modification_date"] == "2024-02-03T04:05:06Z"
    assert (metadata["headings"], metadata["paragraphs"], metadata["list_items"], metadata["tables"]) == (4, 1, 3, 1)
    assert (metadata["quotes"], metadata["page_count"]) == (1, 1)
    table = [["Port", "Departs", "Arrives"], ["Ålesund", "08:00", "09:10"], ["Molde", "cancelled", None]]
    assert blocks(result) == [
        Block("heading", text="Ferry handbook", level=1),  # the Title style
        Block("heading", text="Getting on board", level=1),
        Block("paragraph", text="Zoë crosses the Łaba at dawn — 日本語 too 🚢."),
        Block("list_item", text="Tickets", level=1),
        Block("list_item", text="Bicycles", level=2),
        Block("list_item", text="First step", level=1),
        Block("heading", text="Timetable", level=2),
        Block("table", rows=table),
        Block("heading", text="Small print", level=3),
        Block("quote", text="Mind the gap."),
    ]
    [page] = result.full_pages
    assert page.tables == [table]
    assert page.text.startswith("Ferry handbook\n\nGetting on board\n\nZoë crosses")
    assert "Port\tDeparts\tArrives\nÅlesund\t08:00\t09:10\nMolde\tcancelled\t\n\nSmall print" in page.text


def test_a_page_break_starts_a_new_page_and_a_long_document_is_cut_into_pages(read: Read) -> None:
    def fill(document: Document) -> None:
        document.add_paragraph("Cover")
        document.add_page_break()
        for n in range(300):
            document.add_paragraph(f"Paragraph {n}: " + "words " * 40)

    result = read(build(fill), "docx")
    texts = [text for _, text in result.pages]
    assert texts[0] == "Cover"
    assert len(texts) == result.document.pages_total > 20
    assert all(len(text) <= 4000 for text in texts)
    paragraphs = [block.text for block in blocks(result)]
    assert paragraphs == ["Cover", *(f"Paragraph {n}: " + ("words " * 40).strip() for n in range(300))]


def test_a_custom_style_based_on_a_heading_and_outline_levels_and_numbering(read: Read) -> None:
    def fill(document: Document) -> None:
        custom = document.styles.add_style("Chapter", WD_STYLE_TYPE.PARAGRAPH)
        custom.base_style = document.styles["Heading 2"]
        document.add_paragraph("Custom heading", style="Chapter")

    data = build(fill)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        xml = archive.read("word/document.xml").decode()
    more = (
        f'<w:p><w:pPr><w:outlineLvl w:val="3"/></w:pPr>{run("Outlined")}</w:p>'
        f'<w:p><w:pPr><w:numPr><w:ilvl w:val="2"/><w:numId w:val="1"/></w:numPr></w:pPr>{run("Numbered")}</w:p>'
        f'<w:p><w:pPr><w:numPr><w:ilvl w:val="0"/><w:numId w:val="0"/></w:numPr></w:pPr>{run("Not numbered")}</w:p>'
    )
    xml = xml.replace("<w:sectPr", more + "<w:sectPr", 1)
    result = read(replaced(data, {"word/document.xml": xml.encode()}), "docx")
    assert blocks(result) == [
        Block("heading", text="Custom heading", level=2),
        Block("heading", text="Outlined", level=4),
        Block("list_item", text="Numbered", level=3),
        Block("paragraph", text="Not numbered"),
    ]


def test_insertions_links_fields_content_controls_and_text_boxes_are_read_deletions_are_not(read: Read) -> None:
    box = f"<w:txbxContent><w:p>{run('In a box')}</w:p></w:txbxContent>"
    body = (
        f"<w:p>{run('Kept ')}<w:ins>{run('inserted ')}</w:ins>"
        f'<w:del><w:r><w:delText>deleted </w:delText></w:r></w:del><w:hyperlink r:id="x">{run("link")}</w:hyperlink>'
        f'<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> PAGE </w:instrText></w:r>'
        f'<w:r><w:fldChar w:fldCharType="separate"/></w:r>{run(" 7")}<w:r><w:fldChar w:fldCharType="end"/></w:r>'
        f"<w:r><w:tab/><w:t>tabbed</w:t><w:br/><w:t>next line</w:t></w:r>"
        f"<w:r><mc:AlternateContent><mc:Choice>{box}</mc:Choice><mc:Fallback>{box}</mc:Fallback>"
        f"</mc:AlternateContent></w:r></w:p>"
        f"<w:sdt><w:sdtContent><w:p>{run('In a control')}</w:p></w:sdtContent></w:sdt>"
    ).replace("r:id", f'xmlns:r="{W}r" r:id')
    result = read(with_body(body), "docx")
    assert blocks(result) == [
        Block("paragraph", text="Kept inserted link 7\ttabbed\nnext line"),
        Block("paragraph", text="In a box"),
        Block("paragraph", text="In a control"),
    ]


def test_section_breaks_and_page_break_before_end_pages(read: Read) -> None:
    body = (
        f'<w:p><w:pPr><w:sectPr><w:type w:val="continuous"/></w:sectPr></w:pPr>{run("one")}</w:p>'
        f"<w:p><w:pPr><w:sectPr/></w:pPr>{run('two')}</w:p>"
        f"<w:p>{run('three')}</w:p>"
        f"<w:p><w:pPr><w:pageBreakBefore/></w:pPr>{run('four')}</w:p>"
        f'<w:p>{run("five")}<w:r><w:br w:type="page"/></w:r>{run("six")}</w:p>'
    )
    result = read(with_body(body), "docx")
    assert [text for _, text in result.pages] == ["one\n\ntwo", "three", "four\n\nfive", "six"]


def test_a_paragraph_over_the_page_cap_continues_and_too_many_pages_fail(read: Read) -> None:
    data = build(lambda document: document.add_paragraph("word " * 100))
    result = read(data, "docx", max_text_bytes=100)
    assert len(result.pages) == 5
    assert all(len(text.encode()) <= 100 for _, text in result.pages)
    assert "continue over several pages" in result.document.warnings[0]
    with pytest.raises(TooManyPages, match=r"^The document makes more than 4 pages"):
        read(data, "docx", max_text_bytes=100, max_pages=4)


def test_a_document_without_text_is_empty(read: Read) -> None:
    with pytest.raises(EmptyFile, match=r"^The document has no text\.$"):
        read(build(lambda document: document.add_paragraph("   ")), "docx")
    with pytest.raises(EmptyFile, match=r"^The file is empty\.$"):
        read(b"", "docx")


def test_without_core_properties_there_is_no_invented_metadata(read: Read) -> None:
    data = build(lambda document: document.add_paragraph("Text"))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        relationships = archive.read("_rels/.rels").decode()
    relationships = re.sub(r"<Relationship [^>]*core-properties[^>]*/>", "", relationships)
    assert "core-properties" not in relationships
    result = read(replaced(data, {"_rels/.rels": relationships.encode()}), "docx")
    assert "author" not in result.document.metadata
    assert "creation_date" not in result.document.metadata
    assert result.pages == [(1, "Text")]


def test_images_are_not_loaded(read: Read, tmp_path: Path) -> None:
    data = build(lambda document: document.add_paragraph("Has a picture"))
    data = replaced(data, {"word/media/image1.png": b"\x89PNG" + random.Random(7).randbytes(2 * MiB)})
    result = read(data, "docx")
    assert result.pages == [(1, "Has a picture")]
    with zipfile.ZipFile(tmp_path / "work" / "document.docx") as copy:
        assert copy.getinfo("word/media/image1.png").file_size == 0
        assert copy.getinfo("word/document.xml").file_size > 0


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        pytest.param(b"PK\x03\x04" + bytes(range(256)) * 8, "it is not a readable zip archive", id="zip-magic"),
        pytest.param(bytes(range(256)) * 8, "it is not a readable zip archive", id="noise"),
        pytest.param(build(sample)[:3000], "it is not a readable zip archive", id="cut"),
        pytest.param(replaced(build(sample), {"word/document.xml": b"<w:document"}), "not well-formed", id="xml"),
        pytest.param(
            replaced(build(sample), {"[Content_Types].xml": b"<Types/>"}),
            "not a Word document",
            id="no-content-types",
        ),
    ],
)
def test_a_damaged_document_is_corrupt(read: Read, data: bytes, fragment: str) -> None:
    with pytest.raises(CorruptFile, match=r"^The document is damaged") as caught:
        read(data, "docx")
    assert fragment in caught.value.message


def test_a_workbook_sent_as_a_document_is_corrupt(read: Read) -> None:
    from .test_excel import PEOPLE, xlsx

    with pytest.raises(CorruptFile, match=r"^The document is damaged or is not a Word document \(\.docx\)\.$"):
        read(xlsx([("People", PEOPLE)]), "docx")


def entities(levels: int) -> str:
    """A DOCTYPE whose entity ``&z;`` would expand to 64 * 16 ** ``levels`` bytes."""
    names = "abcdefghijklmnopqrstuvwxy"[:levels] + "z"
    chain = "".join(f'<!ENTITY {c} "{("&" + p + ";") * 16}">' for p, c in itertools.pairwise(names))
    return f'<!DOCTYPE w:document [<!ENTITY a "{"a" * 64}">{chain}]>'


def test_entities_are_never_expanded(read: Read) -> None:
    """64 KiB if expanded: the reference stays a reference, and the text around it is kept."""
    result = read(with_body(f"<w:p>{run('before &z; after')}</w:p>", prolog=entities(2)), "docx")
    assert result.pages == [(1, "before  after")]


def test_an_entity_bomb_fails_fast_without_expanding(read: Read) -> None:
    """256 GiB if expanded (billion laughs): libxml2 refuses the amplification; the document is corrupt."""
    started = time.monotonic()
    with pytest.raises(CorruptFile, match=r"its XML defines entities that would expand without bound\.$"):
        read(with_body(f"<w:p>{run('before &z; after')}</w:p>", prolog=entities(8)), "docx")
    assert time.monotonic() - started < 5


def test_an_external_entity_is_not_read(read: Read) -> None:
    prolog = '<!DOCTYPE w:document [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'
    result = read(with_body(f"<w:p>{run('x &secret; y')}</w:p>", prolog=prolog), "docx")
    assert result.pages == [(1, "x  y")]


def test_a_zip_bomb_is_refused_before_python_docx_opens_it(read: Read) -> None:
    bomb = replaced(build(sample), {"word/document.xml": b"\0" * (8 * MiB)})
    with pytest.raises(ZipBomb, match=r"^The document was refused as a zip bomb: 'word/document.xml' would unpack"):
        read(bomb, "docx")
    lying = declare(bomb, "word/document.xml", size=100)
    with pytest.raises(ZipBomb, match=r"'word/document.xml' unpacks from [\d.]+ KiB to more than [\d.]+ MiB\.$"):
        read(lying, "docx")


def test_xml_parts_over_the_cap_are_refused(read: Read, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docx_format, "MAX_XML_BYTES", 4096)
    with pytest.raises(ZipBomb, match=r"^The document was refused as a zip bomb: its XML parts unpack to [\d.]+ KiB"):
        read(build(sample), "docx")
