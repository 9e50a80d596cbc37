"""One exception per error status the APIs answer with, each carrying the server's ``detail``."""

from __future__ import annotations

from typing import Any

import httpx


class FerryError(Exception):
    """Base of every error the SDK raises; ``status_code`` is None when no HTTP answer came."""

    status_code: int | None = None

    def __init__(self, detail: Any = None, *, status_code: int | None = None, response: httpx.Response | None = None):
        self.detail = detail
        if status_code is not None:
            self.status_code = status_code
        self.response = response
        super().__init__(self._message())

    def _message(self) -> str:
        detail = self.detail if isinstance(self.detail, str) else repr(self.detail)
        return f"{self.status_code} {detail}" if self.status_code else detail


class TransportError(FerryError):
    """The request never got an answer: the server is unreachable, or the connection broke."""


class BadRequest(FerryError):
    status_code = 400


class Unauthorized(FerryError):
    """Missing, expired or refused credentials (after the one refresh the client tries)."""

    status_code = 401


class OtpRequired(Unauthorized):
    """The account has two-factor sign-in: log in again with ``otp``."""


class Forbidden(FerryError):
    status_code = 403


class NotFound(FerryError):
    status_code = 404


class Conflict(FerryError):
    status_code = 409


class PayloadTooLarge(FerryError):
    status_code = 413


class UnsupportedMediaType(FerryError):
    status_code = 415


class Unprocessable(FerryError):
    status_code = 422


class _RetryLater(FerryError):
    def __init__(self, detail: Any = None, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(detail, **kwargs)


class TooManyRequests(_RetryLater):
    """Throttled; ``retry_after`` says in how many seconds to try again (None if the server did not say)."""

    status_code = 429


class ServiceUnavailable(_RetryLater):
    """Overloaded or not ready; ``retry_after`` says in how many seconds to try again."""

    status_code = 503


class NotImplementedByServer(FerryError):
    """The server cannot do this here (a conversion needing LibreOffice where none is installed)."""

    status_code = 501


class ServerError(FerryError):
    """Any other 5xx."""

    status_code = 500


_BY_STATUS: dict[int, type[FerryError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: Unprocessable,
    429: TooManyRequests,
    501: NotImplementedByServer,
    503: ServiceUnavailable,
}


def detail_of(response: httpx.Response) -> Any:
    """The ``detail`` of an error body, or its text when it is not the usual JSON."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    return body.get("detail", body) if isinstance(body, dict) else body


def error_for(response: httpx.Response) -> FerryError:
    """The exception an error response means (the body must have been read)."""
    status, detail = response.status_code, detail_of(response)
    kind = _BY_STATUS.get(status) or (ServerError if status >= 500 else FerryError)
    if kind is Unauthorized and isinstance(detail, str) and detail.startswith("one-time code required"):
        kind = OtpRequired
    if issubclass(kind, _RetryLater):
        retry_after = _seconds(response.headers.get("retry-after"))
        return kind(detail, retry_after=retry_after, status_code=status, response=response)
    return kind(detail, status_code=status, response=response)


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
