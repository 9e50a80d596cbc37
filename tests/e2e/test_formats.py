"""Every supported format, uploaded to the four services as separate processes, parsed and read back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ferry_core.events import new_id
from ferry_testkit.servers import S3Server
from tests.e2e import platform
from tests.e2e.journey import Account, poll, register_and_login, upload

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "formats"
PEOPLE = [[1, "Zoë", 9.5, "2024-01-02"], [2, "Łukasz", 7.25, "2023-12-31"], [3, "Ana", 8, "2022-06-15"]]


@pytest.fixture(scope="module")
def urls(
    amqp_url: str, mongo_url: str, s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[platform.Urls]:
    work = tmp_path_factory.mktemp("formats")
    with platform.distributed(
        amqp_url,
        mongo_url,
        s3_server.endpoint,
        s3_server.access_key,
        s3_server.secret_key,
        f"ferry-formats-{new_id()[:8]}",
        f"ferry_formats_{new_id()[:8]}",
        work,
    ) as (urls, _):
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
