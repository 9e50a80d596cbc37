"""Analysis and conversion jobs through the four services as separate processes, as a client uses them.

Upload with ``analyze=true`` and watch the analysis on the socket; ask for an
analysis twice (one job); convert a table, a PDF and a Word document and read each
result back (from the gateway, and from a presigned URL without a token); another
user is told none of it exists; deleting the file removes what its jobs made.
"""

from __future__ import annotations

import io
import shutil
import time
from collections.abc import Iterator
from typing import Any

import docx
import fastexcel
import httpx
import pymupdf
import pytest
from websockets.asyncio.client import connect

from ferry_core.events import new_id
from ferry_testkit.servers import S3Server
from tests.e2e import platform
from tests.e2e.journey import Account, poll, receive, register_and_login

LIBREOFFICE_MISSING = shutil.which("soffice") is None and shutil.which("libreoffice") is None
TABLE = "sku,qty,price,city\n" + "".join(f"A-{i},{i},{i * 1.5},Zürich\n" for i in range(300))
POSITIVE = (
    "The new solar panels are wonderful. Our energy bills dropped, the installers were friendly and helpful, "
    "and the whole family loves how quiet and clean the solar power system is. A delightful investment."
)
PAGES = [
    POSITIVE,
    "Solar panels convert sunlight into electricity. Modern solar panels reach high efficiency on rooftops.",
    "Batteries store the solar energy for the night, so the house runs on sunshine even after dark.",
]


def pdf_bytes(pages: list[str]) -> bytes:
    document = pymupdf.open()
    for text in pages:
        page = document.new_page()
        page.insert_textbox(pymupdf.Rect(50, 50, 550, 800), text, fontsize=11)
    data: bytes = document.tobytes()
    return data


def docx_bytes() -> bytes:
    document = docx.Document()
    document.core_properties.title = "Quarterly report"
    document.add_heading("Quarterly report", level=1)
    document.add_paragraph("Revenue grew in every region this quarter.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "region", "growth"
    table.cell(1, 0).text, table.cell(1, 1).text = "north", "12%"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def urls(
    amqp_url: str, mongo_url: str, s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[platform.Urls]:
    with platform.isolated("jobs", amqp_url, mongo_url, s3_server, tmp_path_factory.mktemp("jobs")) as (urls, _):
        yield urls


async def upload_parsed(
    client: httpx.AsyncClient, urls: platform.Urls, account: Account, name: str, data: bytes, **form: str
) -> dict[str, Any]:
    upload = {"file": (name, data, "application/octet-stream")}
    response = await client.post(f"{urls.files}/files", headers=account.headers, data=form, files=upload)
    assert response.status_code == 201, response.text
    file_id = response.json()["file_id"]

    async def parsed() -> dict[str, Any] | None:
        record = (await client.get(f"{urls.files}/files/{file_id}", headers=account.headers)).json()
        assert record["status"] != "failed", record
        return record if record["status"] == "parsed" else None

    result: dict[str, Any] = await poll(parsed, timeout=60)
    return result


async def test_an_upload_with_analyze_true_is_analysed_live_and_once(urls: platform.Urls) -> None:
    async with httpx.AsyncClient(timeout=60) as client:
        ada = await register_and_login(client, urls, f"ada{new_id()[:8]}")
        eve = await register_and_login(client, urls, f"eve{new_id()[:8]}")
        async with connect(f"{urls.ws}/ws?token={ada.access}") as ws:
            record = await upload_parsed(client, urls, ada, "solar.pdf", pdf_bytes(PAGES), analyze="true")
            file_id = record["file_id"]
            jobs: list[dict[str, Any]] = []
            deadline = time.monotonic() + 60
            while not jobs or jobs[-1]["status"] not in ("done", "failed"):
                message = await receive(ws, max(0.1, deadline - time.monotonic()))
                if message["type"] == "job_update" and message["data"]["file_id"] == file_id:
                    jobs.append(message["data"])
        assert jobs[-1]["status"] == "done", jobs
        assert jobs[-1]["kind"] == "analysis" and jobs[-1]["result"]["language"] == "en"
        progress = [m["progress"] for m in jobs if m["status"] == "running"]
        assert progress == sorted(progress)

        async def stored() -> dict[str, Any] | None:
            # The notifier and the gateway each take file.analyzed.v1 from their own queue: either may be first.
            found: dict[str, Any] = (
                await client.get(f"{urls.files}/files/{file_id}/analysis", headers=ada.headers)
            ).json()
            return found if found["status"] == "done" else None

        analysis = await poll(stored, timeout=30)
        assert analysis["analysis_id"] == jobs[-1]["job_id"]
        result = analysis["result"]
        assert result["language"]["code"] == "en"
        assert any("solar" in k["text"].lower() for k in result["keywords"]), result["keywords"]
        assert result["sentiment"]["supported"] is True
        assert result["reading"]["words"] > 50 and result["sentences"]["count"] >= 6
        assert [p["number"] for p in analysis["pages"]["items"]] == [1, 2, 3]
        assert analysis["pages"]["items"][0]["sentiment"]["label"] == "positive"

        again = await client.post(f"{urls.files}/files/{file_id}/analysis", headers=ada.headers)
        assert again.status_code == 200, again.text
        assert again.json()["analysis_id"] == analysis["analysis_id"]  # the existing one, not a second job

        for path in (f"/files/{file_id}/analysis", f"/files/{file_id}/conversions"):
            assert (await client.get(f"{urls.files}{path}", headers=eve.headers)).status_code == 404
        assert (await client.post(f"{urls.files}/files/{file_id}/analysis", headers=eve.headers)).status_code == 404


async def test_conversions_round_trip_and_go_with_the_file(urls: platform.Urls) -> None:
    async with httpx.AsyncClient(timeout=90) as client:
        ada = await register_and_login(client, urls, f"ada{new_id()[:8]}")
        eve = await register_and_login(client, urls, f"eve{new_id()[:8]}")
        table = await upload_parsed(client, urls, ada, "stock.csv", TABLE.encode())
        base = f"{urls.files}/files/{table['file_id']}/conversions"

        made = await client.post(f"{base}?wait=60", headers=ada.headers, json={"to": "xlsx"})
        assert made.status_code == 200, made.text
        conversion = made.json()
        assert (conversion["status"], conversion["to"], conversion["filename"]) == ("done", "xlsx", "stock.xlsx")
        download = await client.get(f"{base}/{conversion['conversion_id']}/download", headers=ada.headers)
        assert download.status_code == 200, download.text
        sheet = fastexcel.read_excel(download.content).load_sheet(0).to_polars()
        assert sheet.height == 300 and sheet["sku"][7] == "A-7" and sheet["qty"][299] == 299
        assert sheet["city"].unique().to_list() == ["Zürich"]

        reused = await client.post(base, headers=ada.headers, json={"to": "xlsx"})
        assert reused.status_code == 200 and reused.json()["conversion_id"] == conversion["conversion_id"]
        refused = await client.post(base, headers=ada.headers, json={"to": "pdf"})
        assert refused.status_code == 422 and "csv" in refused.text  # names the targets a table allows

        # A presigned URL needs no token; another user is told the conversion does not exist.
        link = await client.get(f"{base}/{conversion['conversion_id']}/download?url=true", headers=ada.headers)
        assert link.status_code == 200, link.text
        fetched = await client.get(link.json()["url"])
        assert fetched.status_code == 200 and fetched.content == download.content
        assert (await client.get(f"{base}/{conversion['conversion_id']}", headers=eve.headers)).status_code == 404

        pdf = await upload_parsed(client, urls, ada, "solar.pdf", pdf_bytes(PAGES))
        made = await client.post(
            f"{urls.files}/files/{pdf['file_id']}/conversions?wait=60", headers=ada.headers, json={"to": "md"}
        )
        assert made.status_code == 200, made.text
        markdown = await client.get(
            f"{urls.files}/files/{pdf['file_id']}/conversions/{made.json()['conversion_id']}/download",
            headers=ada.headers,
        )
        flat = " ".join(markdown.text.split())
        assert all(" ".join(page.split()) in flat for page in PAGES)  # every page's text is kept

        word = await upload_parsed(client, urls, ada, "report.docx", docx_bytes())
        made = await client.post(
            f"{urls.files}/files/{word['file_id']}/conversions?wait=60", headers=ada.headers, json={"to": "pdf"}
        )
        if LIBREOFFICE_MISSING:
            assert made.status_code == 501, made.text
            assert "LibreOffice" in made.text
        else:
            assert made.status_code == 200, made.text
            rendered = await client.get(
                f"{urls.files}/files/{word['file_id']}/conversions/{made.json()['conversion_id']}/download",
                headers=ada.headers,
            )
            with pymupdf.open(stream=rendered.content, filetype="pdf") as document:
                assert "Revenue grew in every region" in "".join(page.get_text() for page in document)

        # Deleting the file deletes its conversions: the presigned URL stops answering with the bytes.
        assert (await client.delete(f"{urls.files}/files/{table['file_id']}", headers=ada.headers)).status_code == 204

        async def blob_gone() -> bool:
            return (await client.get(link.json()["url"])).status_code in (403, 404)

        assert await poll(blob_gone, timeout=30)
