"""Two-factor sign-in as the API offers it: enroll, confirm, disable, and the code check at login.

Every wrong code counts as a failed sign-in for the account and the address, so
guessing codes is throttled like guessing passwords.
"""

from __future__ import annotations

from dataclasses import dataclass

from ferry_auth.errors import Conflict, InvalidOtp, OtpRequired, WrongCode
from ferry_auth.throttle import Attempt, LoginThrottle
from ferry_auth.totp import Enrollment, TotpFactors, Verdict
from ferry_auth.users import User


@dataclass(frozen=True)
class TwoFactorStatus:
    enabled: bool
    recovery_codes_left: int


class TwoFactor:
    """The TOTP factor of signed-in users, with wrong codes throttled."""

    def __init__(self, factors: TotpFactors, throttle: LoginThrottle) -> None:
        self._factors = factors
        self._throttle = throttle

    async def status(self, user: User) -> TwoFactorStatus:
        factor = await self._factors.get(user.id)
        if factor is None:
            return TwoFactorStatus(enabled=False, recovery_codes_left=0)
        return TwoFactorStatus(enabled=True, recovery_codes_left=factor.recovery_codes_left)

    async def enroll(self, user: User) -> Enrollment:
        return await self._factors.enroll(user)

    async def confirm(self, user: User, code: str, address: str) -> list[str]:
        """Enable the factor with a first valid code; returns the recovery codes (shown this once)."""
        attempt = Attempt(user.id, address)
        await self._throttle.check(attempt)
        codes = await self._factors.confirm(user.id, code)
        if codes is None:
            await self._throttle.record_failure(attempt)
            raise WrongCode()
        return codes

    async def disable(self, user: User, code: str, address: str) -> None:
        """Turn the factor off; needs a current code or a recovery code."""
        attempt = Attempt(user.id, address)
        await self._throttle.check(attempt)
        factor = await self._factors.get(user.id)
        if factor is None:
            raise Conflict("two-factor sign-in is not enabled")
        if await self._factors.check(factor, code) is not Verdict.ACCEPTED:
            await self._throttle.record_failure(attempt)
            raise WrongCode()
        await self._factors.remove(user.id)

    async def reset(self, user_id: str) -> bool:
        """An admin's way out for a user who lost both the device and the recovery codes."""
        return await self._factors.remove(user_id)

    async def require(self, user: User, otp: str | None, attempt: Attempt) -> None:
        """At sign-in, after the password: pass if the user has no factor or ``otp`` checks out."""
        factor = await self._factors.get(user.id)
        if factor is None:
            return
        if not otp:
            raise OtpRequired()
        verdict = await self._factors.check(factor, otp)
        if verdict is Verdict.ACCEPTED:
            return
        await self._throttle.record_failure(attempt)
        if verdict is Verdict.REUSED:
            raise InvalidOtp("one-time code already used; wait for the next one")
        raise InvalidOtp()
