"""Audit entries for the files API: who uploaded, downloaded, exported or deleted which file, from where.

Published directly with publisher confirms (``ferry_core.audit``) after the
action, not through the outbox: see docs/DECISIONS.md.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from ferry_core.audit import AuditAction, AuditRecorder, AuditTarget
from ferry_core.tokens import Principal


def client_address(request: Request) -> str | None:
    """The peer uvicorn reports: it believes ``X-Forwarded-For`` from ``FORWARDED_ALLOW_IPS`` (localhost by default)."""
    return request.client.host if request.client else None


class FileAudit:
    """Records the caller's actions on files, with the request's address."""

    def __init__(self, recorder: AuditRecorder, user: Principal, address: str | None) -> None:
        self._recorder = recorder
        self._user = user
        self._address = address

    async def record(self, action: AuditAction, doc: dict[str, Any], **details: str | int | bool | None) -> None:
        await self._recorder.record(
            action,
            actor_id=self._user.user_id,
            actor_name=self._user.username,
            target=AuditTarget(type="file", id=str(doc["_id"])),
            client_address=self._address,
            org_id=doc.get("org_id") or doc.get("owner_id"),
            details={"filename": doc.get("filename"), "owner_id": doc.get("owner_id"), **details},
        )
