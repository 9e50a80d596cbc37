"""Short-lived download URLs for originals and conversions, which need no token to fetch.

The blob store signs them when it can (S3: a presigned GET that names the download
filename and content type). A folder store cannot, so the gateway signs a URL of its
own: an HMAC over the key, the expiry, the filename and the content type, served by
``GET /downloads/{key}`` (this module's router), which checks it and streams the blob.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel

from ferry_core.blobs import BlobStore, attachment
from ferry_ingest.blob_stream import open_blob
from ferry_ingest.errors import Forbidden, error_responses

router = APIRouter(tags=["files"])

SIGNED_ROUTE = "signed_download"


class PresignedUrl(BaseModel):
    """A URL that serves the bytes without credentials until ``expires_at``."""

    url: str
    expires_at: datetime


class UrlSigner:
    """HMAC-SHA256 signatures over what a signed URL serves, so none of it can be changed."""

    def __init__(self, secret: str) -> None:
        # No secret configured: one per process, so the URLs it signs die with it (they are short-lived anyway).
        self._secret = (secret or secrets.token_urlsafe(32)).encode()

    def sign(self, key: str, expires: int, filename: str, content_type: str) -> str:
        message = "\n".join((key, str(expires), filename, content_type)).encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def valid(self, key: str, expires: int, filename: str, content_type: str, signature: str) -> bool:
        """The signature is ours and the URL has not expired."""
        if expires < time.time():
            return False
        # As bytes: compare_digest refuses str that is not ASCII, and a forged signature may be anything.
        return hmac.compare_digest(self.sign(key, expires, filename, content_type).encode(), signature.encode())


@dataclass(frozen=True)
class Presigner:
    blobs: BlobStore
    signer: UrlSigner
    ttl: timedelta

    async def url(self, request: Request, key: str, *, filename: str, content_type: str) -> PresignedUrl:
        """A URL for ``key``: the blob store's own when it signs, else one this gateway serves."""
        expires_at = datetime.now(UTC).replace(microsecond=0) + self.ttl
        url = await self.blobs.presign_get(key, self.ttl, filename=filename, content_type=content_type)
        if url is None:
            expires = int(expires_at.timestamp())
            signature = self.signer.sign(key, expires, filename, content_type)
            url = str(
                request.url_for(SIGNED_ROUTE, key=key).include_query_params(
                    expires=expires, filename=filename, type=content_type, signature=signature
                )
            )
        return PresignedUrl(url=url, expires_at=expires_at)

    async def answer(self, request: Request, key: str, *, filename: str, content_type: str, redirect: bool) -> Response:
        """``?redirect=true``: a 307 to the URL; else the URL and its expiry (``?url=true``)."""
        presigned = await self.url(request, key, filename=filename, content_type=content_type)
        if redirect:
            return RedirectResponse(presigned.url, status_code=307)
        return JSONResponse(presigned.model_dump(mode="json"))


def presigner(request: Request) -> Presigner:
    found: Presigner = request.app.state.presigner
    return found


def bytes_or_url(description: str) -> dict[int | str, dict[str, Any]]:
    """The 200 of a download that may also answer ``url=true`` with a ``PresignedUrl`` (a JSON body)."""
    url_schema = PresignedUrl.model_json_schema()
    return {
        200: {
            "description": f"{description}; with `url=true`, `{{url, expires_at}}` instead",
            "content": {
                "*/*": {"schema": {"type": "string", "format": "binary"}},
                # A JSON original (or conversion) is served as application/json too.
                "application/json": {"schema": {"anyOf": [url_schema, {}]}},
            },
        },
        307: {"description": "`redirect=true`: to a short-lived URL that serves the bytes without credentials"},
    }


Redirect = Annotated[
    bool, Query(description="Answer 307 to a short-lived URL of the bytes (no credentials needed to follow it)")
]
AsUrl = Annotated[bool, Query(description="Answer `{url, expires_at}`: a short-lived URL of the bytes, not the bytes")]


@router.get(
    "/downloads/{key}",
    name=SIGNED_ROUTE,
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The bytes the URL was signed for",
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        },
        **error_responses(
            403,
            404,
            422,
            _403="The signature does not match, or the URL has expired",
            _404="The file or conversion is gone",
        ),
    },
)
async def signed_download(
    request: Request,
    key: str,
    expires: int,
    filename: Annotated[str, Query(max_length=1000)],
    type: Annotated[str, Query(max_length=200)],
    signature: Annotated[str, Query(max_length=100)],
) -> StreamingResponse:
    """Bytes behind a URL this gateway signed (the embedded mode's presigned URLs); no token needed."""
    found = presigner(request)
    if not found.signer.valid(key, expires, filename, type, signature):
        raise Forbidden("the download URL is invalid or has expired")
    body = await open_blob(found.blobs, key, "the content is not available")
    headers = {"Content-Disposition": attachment(filename)}
    return StreamingResponse(body, media_type=type, headers=headers)
