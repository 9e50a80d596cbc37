"""The notifier's errors: an HTTP status for ``/events`` and the handshake, a close code for sockets."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse


class NotifierError(Exception):
    status_code = 500
    # Used only when the server cannot refuse a WebSocket handshake with an HTTP response.
    close_code = 1011
    default_detail = "internal error"

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.default_detail
        super().__init__(self.detail)

    def response(self) -> JSONResponse:
        return JSONResponse({"detail": self.detail}, status_code=self.status_code)


class NotAuthenticated(NotifierError):
    status_code = 401
    close_code = 4401
    default_detail = "not authenticated"

    def response(self) -> JSONResponse:
        response = super().response()
        response.headers["WWW-Authenticate"] = "Bearer"
        return response


class InvalidApiKey(NotAuthenticated):
    """An ``X-API-Key`` that is unknown or revoked; the challenge names the header, as the gateway's does."""

    default_detail = "invalid or revoked API key"

    def response(self) -> JSONResponse:
        response = super().response()
        response.headers["WWW-Authenticate"] = 'APIKey header="X-API-Key"'
        return response


class FileNotFound(NotifierError):
    """The file does not exist, or belongs to someone else (never a 403)."""

    status_code = 404
    close_code = 4404
    default_detail = "file not found"


class BatchNotFound(NotifierError):
    """The batch is someone else's, as far as this replica has heard (never a 403)."""

    status_code = 404
    close_code = 4404
    default_detail = "batch not found"


class OrgNotFound(NotifierError):
    """The caller named an organization their token does not list (as for a file: 404)."""

    status_code = 404
    close_code = 4404
    default_detail = "organization not found"


class InvalidRequest(NotifierError):
    status_code = 422
    close_code = 4422
    default_detail = "invalid request"


async def handle_notifier_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NotifierError)
    return exc.response()
