"""Auth's error hierarchy and the one handler that turns it into ``{"detail": ...}`` responses."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


class AuthError(Exception):
    """Base of every error a request can end with; carries its status code and public detail."""

    status_code = 400
    detail = "bad request"
    headers: dict[str, str] | None = None

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.detail)
        if detail is not None:
            self.detail = detail


class Unauthenticated(AuthError):
    """No usable access token: missing, malformed, expired, or its user is gone."""

    status_code = 401
    detail = "not authenticated"
    headers = {"WWW-Authenticate": "Bearer"}


class InvalidCredentials(Unauthenticated):
    """Unknown user or wrong password; the two are deliberately indistinguishable."""

    detail = "invalid credentials"


class OtpRequired(Unauthenticated):
    """The password was right, but the account has two-factor sign-in and no code came with it."""

    detail = 'one-time code required: send the code from your authenticator app (or a recovery code) as "otp"'


class InvalidOtp(Unauthenticated):
    """The password was right, but the one-time code was wrong, stale, or already used."""

    detail = "invalid one-time code"


class InvalidRefreshToken(Unauthenticated):
    """The refresh token is unknown, expired, revoked or was already used."""

    detail = "invalid refresh token"


class AccountDisabled(AuthError):
    """The right credentials, but an admin has disabled the account."""

    status_code = 403
    detail = "account disabled"


class Forbidden(AuthError):
    """The caller is known but lacks the admin role."""

    status_code = 403
    detail = "admin role required"


class WrongCode(AuthError):
    """A one-time code sent to manage two-factor sign-in (confirm, disable) did not check out."""

    status_code = 400
    detail = "invalid one-time code"


class NotFound(AuthError):
    status_code = 404
    detail = "user not found"


class Conflict(AuthError):
    """The request clashes with stored state: a taken name, or an admin acting on themselves."""

    status_code = 409
    detail = "conflict"


class UsernameTaken(Conflict):
    detail = "username already taken"


class EmailTaken(Conflict):
    detail = "email already registered"


class OrgNotFound(NotFound):
    """No such organization, or one the caller is not a member of (never told apart)."""

    detail = "organization not found"


class MemberNotFound(NotFound):
    detail = "member not found"


class InvitationNotFound(NotFound):
    detail = "invitation not found"


class OrgRoleRequired(AuthError):
    """A member of the organization whose role does not allow the action."""

    status_code = 403
    detail = "your role in the organization does not allow this"


class InvitationGone(AuthError):
    """An invitation that existed but can no longer be accepted: expired, revoked or used."""

    status_code = 410
    detail = "invitation is no longer valid"


class TooManyAttempts(AuthError):
    """Too many failed sign-ins for the account or from the address; carries when to try again."""

    status_code = 429

    def __init__(self, retry_after: int) -> None:
        self.retry_after = max(1, retry_after)
        super().__init__(f"too many failed sign-in attempts; try again in {self.retry_after} seconds")
        self.headers = {"Retry-After": str(self.retry_after)}


async def _handle(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AuthError)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def install_error_handler(app: FastAPI) -> None:
    app.add_exception_handler(AuthError, _handle)
