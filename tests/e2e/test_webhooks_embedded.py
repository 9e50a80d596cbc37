"""Webhooks in the embedded mode (``ferry dev``): a developer's receiver on localhost is allowed unless told otherwise.

The whole platform runs as one process on one port; the receiver is an aiohttp server on
127.0.0.1 that verifies each request with the ``standardwebhooks`` library.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx

from ferry_core.embedded_mongo import free_port
from tests.e2e import platform
from tests.e2e.journey import CSV, poll
from tests.e2e.notifiers import user_token
from tests.e2e.webhook_receiver import receiving


@contextlib.contextmanager
def ferry_dev(work: Path, **env: str) -> Iterator[str]:
    """``ferry dev`` on a free port with ``env`` added; yields its URL once ready."""
    with platform.embedded(work, env) as (urls, _):
        yield urls.files


async def test_loopback_endpoints_are_allowed_and_deliveries_arrive_signed(tmp_path: Path) -> None:
    async with receiving() as receiver, httpx.AsyncClient(timeout=30) as client:
        with ferry_dev(tmp_path) as url:
            ada, token = await user_token(client, url, "ada")
            headers = {"Authorization": f"Bearer {token}"}
            created = await client.post(
                f"{url}/webhooks",
                headers=headers,
                json={"url": receiver.hook("dev"), "events": ["file.parsed"]},
            )
            assert created.status_code == 201, created.text
            hook = created.json()
            receiver.secrets["dev"] = hook["secret"]

            sent = await client.post(f"{url}/webhooks/{hook['webhook_id']}/test", headers=headers)
            assert sent.status_code == 202, sent.text
            uploaded = await client.post(f"{url}/files", headers=headers, files={"file": ("people.csv", CSV)})
            assert uploaded.status_code == 201, uploaded.text
            file_id = uploaded.json()["file_id"]

            async def both_arrived() -> bool:
                return bool(receiver.of("dev", "webhook.test")) and bool(receiver.of("dev", "file.parsed"))

            await poll(both_arrived)
            assert all(hit.answered == 200 for hit in receiver.hits), receiver.hits  # every signature verified
            (test,) = receiver.of("dev", "webhook.test")
            assert test.webhook_id == sent.json()["delivery_id"]
            (parsed,) = receiver.of("dev", "file.parsed")
            assert parsed.payload is not None
            assert parsed.payload["data"]["file_id"] == file_id and parsed.payload["data"]["owner_id"] == ada
            assert parsed.payload["data"]["summary"]["rows"] == 3


async def test_the_environment_can_refuse_loopback_endpoints(tmp_path: Path) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        with ferry_dev(tmp_path, FERRY_WEBHOOK_ALLOW_PRIVATE="false") as url:
            _ada, token = await user_token(client, url, "ada")
            refused = await client.post(
                f"{url}/webhooks",
                headers={"Authorization": f"Bearer {token}"},
                json={"url": f"http://127.0.0.1:{free_port()}/hook", "events": ["file.parsed"]},
            )
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert isinstance(detail, str) and "127.0.0.1" in detail, detail
