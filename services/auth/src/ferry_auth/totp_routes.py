"""Two-factor sign-in endpoints: status, enroll, confirm, disable, and an admin's reset."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from ferry_auth.deps import AdminUser, ClientAddress, CurrentUser, State
from ferry_auth.errors import NotFound
from ferry_auth.schemas import ErrorResponses

router = APIRouter(tags=["two-factor"])

_errors = ErrorResponses(
    {
        400: "The one-time code is wrong or already used, or the body could not be read (not UTF-8 JSON)",
        401: "Missing, invalid or expired access token",
        403: "Account disabled, or admin role required",
        404: "No such user",
        409: "Two-factor sign-in is not in the state this call needs",
        429: "Too many wrong codes for the account or from the address; see Retry-After",
    }
)


class TotpStatus(BaseModel):
    enabled: bool
    recovery_codes_left: int


class TotpEnrollment(BaseModel):
    secret: str = Field(description="Base32 secret, for apps that cannot scan the URI.")
    otpauth_uri: str = Field(description="otpauth://totp/... URI; show it as a QR code.")


class CodeBody(BaseModel):
    code: Annotated[str, Field(min_length=1, max_length=64, description="A current code, or a recovery code.")]


class RecoveryCodes(BaseModel):
    recovery_codes: list[str] = Field(description="Each works once in place of a code; shown only now.")


@router.get("/auth/totp", responses=_errors(401, 403))
async def totp_status(user: CurrentUser, state: State) -> TotpStatus:
    current = await state.two_factor.status(user)
    return TotpStatus(enabled=current.enabled, recovery_codes_left=current.recovery_codes_left)


@router.post("/auth/totp/enroll", responses=_errors(401, 403, 409))
async def totp_enroll(user: CurrentUser, state: State, response: Response) -> TotpEnrollment:
    """Start enrollment with a new secret; sign-in is unchanged until ``/auth/totp/confirm`` succeeds."""
    enrollment = await state.two_factor.enroll(user)
    response.headers["Cache-Control"] = "no-store"
    return TotpEnrollment(secret=enrollment.secret, otpauth_uri=enrollment.otpauth_uri)


@router.post("/auth/totp/confirm", responses=_errors(400, 401, 403, 409, 429))
async def totp_confirm(
    body: CodeBody, user: CurrentUser, state: State, address: ClientAddress, response: Response
) -> RecoveryCodes:
    """Turn two-factor sign-in on with a first valid code; returns the recovery codes."""
    codes = await state.two_factor.confirm(user, body.code, address)
    response.headers["Cache-Control"] = "no-store"
    return RecoveryCodes(recovery_codes=codes)


@router.post("/auth/totp/disable", status_code=status.HTTP_204_NO_CONTENT, responses=_errors(400, 401, 403, 409, 429))
async def totp_disable(body: CodeBody, user: CurrentUser, state: State, address: ClientAddress) -> None:
    """Turn two-factor sign-in off; needs a current code or a recovery code."""
    await state.two_factor.disable(user, body.code, address)


@router.delete("/users/{user_id}/totp", status_code=status.HTTP_204_NO_CONTENT, responses=_errors(401, 403, 404))
async def totp_reset(user_id: str, _: AdminUser, state: State) -> None:
    """An admin turns a user's two-factor sign-in off (lost device and recovery codes)."""
    if await state.users.get(user_id) is None:
        raise NotFound()
    await state.two_factor.reset(user_id)
