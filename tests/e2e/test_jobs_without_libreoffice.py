"""docx → pdf where the parser finds no LibreOffice: 501 with the reason, never a 500.

A module of its own: its platform must not share the broker's queues with another
platform still running (test_jobs.py's lives as long as its module).
"""

from __future__ import annotations

from pathlib import Path

import httpx

from ferry_core.events import new_id
from ferry_testkit.servers import S3Server
from tests.e2e import platform
from tests.e2e.journey import register_and_login
from tests.e2e.test_jobs import docx_bytes, upload_parsed


async def test_docx_to_pdf_without_libreoffice_is_501_with_the_reason(
    amqp_url: str, mongo_url: str, s3_server: S3Server, tmp_path: Path
) -> None:
    """A parser that finds no LibreOffice says so; the gateway answers 501, never a 500, and nothing is stored."""
    s3 = (s3_server.endpoint, s3_server.access_key, s3_server.secret_key)
    bucket, db = f"ferry-nolo-{new_id()[:8]}", f"ferry_nolo_{new_id()[:8]}"
    missing = {"FERRY_LIBREOFFICE": str(tmp_path / "no-such-soffice")}
    with platform.distributed(amqp_url, mongo_url, *s3, bucket, db, tmp_path, extra_env=missing) as (urls, _):
        async with httpx.AsyncClient(timeout=60) as client:
            ada = await register_and_login(client, urls, f"ada{new_id()[:8]}")
            word = await upload_parsed(client, urls, ada, "report.docx", docx_bytes())
            base = f"{urls.files}/files/{word['file_id']}/conversions"
            for attempt in ("?wait=30", ""):
                refused = await client.post(f"{base}{attempt}", headers=ada.headers, json={"to": "pdf"})
                assert refused.status_code == 501, refused.text
                assert "LibreOffice" in refused.json()["detail"]
            text = await client.post(f"{base}?wait=30", headers=ada.headers, json={"to": "md"})
            assert text.status_code == 200 and text.json()["status"] == "done", text.text  # other targets still work
