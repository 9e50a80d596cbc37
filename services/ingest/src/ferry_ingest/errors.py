"""The gateway's errors, each mapped to one HTTP status in ``install_error_handlers``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ferry_core.error_bodies import ErrorBody, InvalidRequestBody


class IngestError(Exception):
    status_code = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadUpload(IngestError):
    status_code = 400


class FileNotFound(IngestError):
    status_code = 404

    def __init__(self, detail: str = "file not found") -> None:
        super().__init__(detail)


class NotFound(IngestError):
    status_code = 404


class Forbidden(IngestError):
    status_code = 403


class NotReady(IngestError):
    status_code = 409


class Conflict(IngestError):
    status_code = 409


class Overloaded(IngestError):
    """More work is waiting than the platform takes on: come back after ``retry_after`` seconds."""

    status_code = 503

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class UploadTooLarge(IngestError):
    status_code = 413


class QuotaExceeded(IngestError):
    """The organization's file or storage quota would be exceeded."""

    status_code = 413


class RateQuotaExceeded(IngestError):
    """The organization started as many uploads this minute as its quota allows: retry after ``retry_after``."""

    status_code = 429

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class UnsupportedFormat(IngestError):
    status_code = 415


class InvalidContent(IngestError):
    status_code = 422


class NotImplementedHere(IngestError):
    """The platform cannot do this at all right now (no parser replica has the converter it takes)."""

    status_code = 501


class Unauthorized(IngestError):
    status_code = 401

    def __init__(self, detail: str, challenge: str = "Bearer") -> None:
        super().__init__(detail)
        self.challenge = challenge  # the WWW-Authenticate header: which credentials to send


_DESCRIPTIONS = {
    400: "Malformed request: a broken multipart body or Content-Length",
    401: "Missing, invalid or expired access token, or an unknown or revoked API key",
    403: "Administrators only",
    404: "No such file among the caller's (another user's file is not found either)",
    409: "The file is not in a state that allows this",
    413: "The file exceeds the upload limit",
    415: "Not multipart, or a format Ferry cannot parse",
    422: "Invalid parameters (a list of field errors), or content that cannot be used (a sentence)",
    429: "The organization's upload rate quota is used up; retry after `Retry-After` seconds",
    501: "The conversion needs a converter no parser replica has (LibreOffice); the reason is in `detail`",
    503: "Too many files wait to be parsed; retry after `Retry-After` seconds",
}


def error_responses(*codes: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the errors a route answers with; ``descriptions`` override by ``_<code>=...``."""
    return {
        code: {
            "model": InvalidRequestBody if code == 422 else ErrorBody,
            "description": descriptions.get(f"_{code}", _DESCRIPTIONS[code]),
        }
        for code in codes
    }


def install_error_handlers(app: FastAPI) -> None:
    async def handle(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, IngestError)
        headers = {"WWW-Authenticate": exc.challenge} if isinstance(exc, Unauthorized) else None
        if isinstance(exc, Overloaded | RateQuotaExceeded):
            headers = {"Retry-After": str(exc.retry_after)}
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)

    app.add_exception_handler(IngestError, handle)
