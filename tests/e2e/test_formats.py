"""Every supported format, uploaded to the four services as separate processes, parsed and read back."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docx
import httpx
import pytest

from ferry_core.events import new_id
from ferry_testkit.servers import S3Server
from tests.e2e import platform
from tests.e2e.journey import Account, poll, register_and_login, upload

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "formats"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PEOPLE = [[1, "Zoë", 9.5, "2024-01-02"], [2, "Łukasz", 7.25, "2023-12-31"], [3, "Ana", 8, "2022-06-15"]]


@pytest.fixture(scope="module")
def urls(
    amqp_url: str, mongo_url: str, s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[platform.Urls]:
    with platform.isolated("formats", amqp_url, mongo_url, s3_server, tmp_path_factory.mktemp("formats")) as (urls, _):
        yield urls


async def parsed(client: httpx.AsyncClient, urls: platform.Urls, account: Account, name: str, data: bytes) -> Any:
    record = await upload(client, urls, account, name, data)

    async def done() -> dict[str, Any] | None:
        body: dict[str, Any] = (
            await client.get(f"{urls.files}/files/{record['file_id']}", headers=account.headers)
        ).json()
        return body if body["status"] in ("parsed", "failed") else None

    result = await poll(done, timeout=60)
    assert result["status"] == "parsed", result
    return result


async def rows(client: httpx.AsyncClient, urls: platform.Urls, account: Account, file_id: str, sheet: str = "") -> Any:
    query = f"?sheet={sheet}&limit=100" if sheet else "?limit=100"
    response = await client.get(f"{urls.files}/files/{file_id}/content{query}", headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()


def normalise(table: list[list[Any]]) -> list[list[Any]]:
    """Spreadsheets may store whole numbers as floats and dates with a time: compare by value."""
    out = []
    for row in table:
        values = []
        for value in row:
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, str) and len(value) >= 10 and value[4] == "-" and value[10:] in ("", "T00:00:00"):
                value = value[:10]
            values.append(value)
        out.append(values)
    return out


@pytest.mark.parametrize("ext", ["xlsx", "xlsm", "xlsb", "xls", "ods"])
async def test_workbooks(urls: platform.Urls, ext: str) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        account = await register_and_login(client, urls, f"wb{ext}{new_id()[:6]}")
        result = await parsed(client, urls, account, f"workbook.{ext}", (FIXTURES / f"workbook.{ext}").read_bytes())
        summary = result["summary"]
        assert summary["kind"] == "table"
        assert [s["name"] for s in summary["sheets"]] == ["People", "Stock"]
        people = await rows(client, urls, account, result["file_id"], "People")
        assert people["columns"] == ["id", "name", "score", "joined"]
        assert normalise(people["rows"]) == PEOPLE
        stock = await rows(client, urls, account, result["file_id"], "Stock")
        assert normalise(stock["rows"]) == [["A-1", 5], ["B-2", 12]]


async def test_pdf_pages_and_metadata(urls: platform.Urls) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        account = await register_and_login(client, urls, f"pdf{new_id()[:6]}")
        result = await parsed(client, urls, account, "document.pdf", (FIXTURES / "document.pdf").read_bytes())
        summary = result["summary"]
        assert summary["kind"] == "pages"
        assert summary["pages"] == 3
        assert summary["metadata"]["title"] == "Ferry test"
        assert summary["metadata"]["author"] == "Ada"
        pages = (await rows(client, urls, account, result["file_id"]))["pages"]
        assert [p["number"] for p in pages] == [1, 2, 3]
        assert "Page 2: Ferry carries files across." in pages[1]["text"]
        assert "Ça va très bien." in pages[0]["text"]


TEXT_CASES: dict[str, tuple[bytes, list[str], list[str]]] = {
    "semicolon-cp1252.csv": (
        "id;ville;montant\n1;Zürich;3,5\n2;Besançon;4,25\n".encode("cp1252"),
        ["id", "ville", "montant"],
        ["Zürich", "Besançon"],
    ),
    "tabs-utf16.tsv": ("id\tname\n1\tZoë\n2\tŁukasz\n".encode("utf-16"), ["id", "name"], ["Zoë", "Łukasz"]),
    "pipes.txt": (b"a|b|c\n1|2|3\n4|5|6\n", ["a", "b", "c"], []),
    "bom.csv": ("\ufeffname,city\nZoë,Zürich\n".encode(), ["name", "city"], ["Zoë", "Zürich"]),
    "quoted.csv": (b'id,note\n1,"first line\nsecond line"\n2,plain\n', ["id", "note"], ["first line\nsecond line"]),
}


@pytest.mark.parametrize("name", sorted(TEXT_CASES))
async def test_delimited_text(urls: platform.Urls, name: str) -> None:
    data, columns, words = TEXT_CASES[name]
    async with httpx.AsyncClient(timeout=30) as client:
        account = await register_and_login(client, urls, f"txt{new_id()[:6]}")
        result = await parsed(client, urls, account, name, data)
        content = await rows(client, urls, account, result["file_id"])
        assert content["columns"] == columns
        values = [value for row in content["rows"] for value in row]
        for word in words:
            assert word in values, (word, content["rows"])


async def test_prose_text_and_json_document(urls: platform.Urls) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        account = await register_and_login(client, urls, f"doc{new_id()[:6]}")
        prose = b"A ferry crosses the river.\nIt carries files.\n\nThe second paragraph is here.\n"
        result = await parsed(client, urls, account, "notes.txt", prose)
        assert result["summary"]["kind"] == "text"
        pages = (await rows(client, urls, account, result["file_id"]))["pages"]
        assert "The second paragraph is here." in " ".join(p["text"] for p in pages)

        document = {"service": "ferry", "nested": {"levels": [1, 2, {"deep": True}]}}
        result = await parsed(client, urls, account, "config.json", json.dumps(document).encode())
        assert result["summary"]["kind"] == "document"
        assert result["summary"]["metadata"]["json_type"] == "object"


def word_document() -> bytes:
    document = docx.Document()
    document.core_properties.title = "Ferry handbook"
    document.core_properties.author = "Ada"
    document.add_heading("Getting on board", level=1)
    document.add_paragraph("Zoë crosses the river at dawn.")
    document.add_paragraph("Tickets", style="List Bullet")
    table = document.add_table(rows=2, cols=2)
    for r, values in enumerate([["Port", "Departs"], ["Ålesund", "08:00"]]):
        for c, value in enumerate(values):
            table.cell(r, c).text = value
    document.add_page_break()
    document.add_heading("Small print", level=2)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


STRUCTURED_CASES: dict[str, tuple[bytes, str, list[list[dict[str, Any]]]]] = {
    "handbook.docx": (
        word_document(),
        "document",
        [
            [
                {"type": "heading", "level": 1, "text": "Getting on board"},
                {"type": "paragraph", "text": "Zoë crosses the river at dawn."},
                {"type": "list_item", "level": 1, "text": "Tickets"},
                {"type": "table", "rows": [["Port", "Departs"], ["Ålesund", "08:00"]]},
            ],
            [{"type": "heading", "level": 2, "text": "Small print"}],
        ],
    ),
    "notes.md": (
        (
            "# Ferry notes\n\nZoë crosses *the river*.\n\n- Tickets\n\n"
            "| Port | Departs |\n|---|---|\n| Ålesund | 08:00 |\n"
        ).encode(),
        "text",
        [
            [
                {"type": "heading", "level": 1, "text": "Ferry notes"},
                {"type": "paragraph", "text": "Zoë crosses the river."},
                {"type": "list_item", "level": 1, "text": "Tickets"},
                {"type": "table", "rows": [["Port", "Departs"], ["Ålesund", "08:00"]]},
            ]
        ],
    ),
    "page.html": (
        b"<!doctype html><html><head><title>Ferry notes</title><script>alert(1)</script></head><body>"
        b"<h1>Ferry notes</h1><p>Zo&euml; crosses <b>the river</b>.</p><ul><li>Tickets</ul>"
        b"<table><tr><th>Port<th>Departs<tr><td>\xc3\x85lesund<td>08:00</table></body></html>",
        "text",
        [
            [
                {"type": "heading", "level": 1, "text": "Ferry notes"},
                {"type": "paragraph", "text": "Zoë crosses the river."},
                {"type": "list_item", "level": 1, "text": "Tickets"},
                {"type": "table", "rows": [["Port", "Departs"], ["Ålesund", "08:00"]]},
            ]
        ],
    ),
}


@pytest.mark.parametrize("name", sorted(STRUCTURED_CASES))
async def test_word_markdown_and_html_pages_keep_their_structure(urls: platform.Urls, name: str) -> None:
    data, kind, expected = STRUCTURED_CASES[name]
    async with httpx.AsyncClient(timeout=30) as client:
        account = await register_and_login(client, urls, f"doc{new_id()[:6]}")
        result = await parsed(client, urls, account, name, data)
        content_types = {"docx": DOCX, "md": "text/markdown", "html": "text/html"}
        assert result["content_type"] == content_types[name.rsplit(".", 1)[1]]
        summary = result["summary"]
        assert (summary["kind"], summary["pages"]) == (kind, len(expected))
        title = "Ferry handbook" if name.endswith(".docx") else "Ferry notes"
        assert summary["metadata"]["title"] == title
        pages = (await rows(client, urls, account, result["file_id"]))["pages"]
        assert [page["blocks"] for page in pages] == expected
        assert "Zoë crosses" in pages[0]["text"]
        assert pages[0]["tables"] == [[["Port", "Departs"], ["Ålesund", "08:00"]]]
        assert "alert" not in pages[0]["text"]
