"""Signing in and staying signed in: credentials to a token pair, refresh rotation, logout.

A sign-in is refused with 429 before any password is checked once the account or
the client address has too many recent failures; a wrong password or one-time
code adds a failure to both, and a successful sign-in clears the account's.
Every sign-in, refused or not, and every reuse of a spent refresh token is
recorded in the audit log.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ferry_auth.errors import (
    AccountDisabled,
    AuthError,
    InvalidCredentials,
    InvalidOtp,
    InvalidRefreshToken,
    OtpRequired,
    TooManyAttempts,
)
from ferry_auth.passwords import Passwords
from ferry_auth.refresh import RefreshTokenReused, RefreshTokenStore
from ferry_auth.throttle import Attempt, LoginThrottle
from ferry_auth.tokens import AccessTokenIssuer
from ferry_auth.two_factor import TwoFactor
from ferry_auth.users import User, UserRepository, login_key
from ferry_core.audit import AuditAction, AuditRecorder, AuditTarget

# Why a sign-in was refused, as the audit log says it (the client sees less: see errors.py).
_FAILURE_REASONS: dict[type[AuthError], str] = {
    TooManyAttempts: "throttled",
    InvalidCredentials: "invalid_credentials",
    AccountDisabled: "account_disabled",
    OtpRequired: "otp_required",
    InvalidOtp: "invalid_otp",
}
_MAX_NAME = 254

OrgClaim = Callable[[str], Awaitable[dict[str, str]]]
"""A user's memberships for the ``orgs`` claim of their access token, by user id."""


@dataclass(frozen=True)
class TokenPair:
    """What a sign-in or a refresh hands the client."""

    access_token: str
    refresh_token: str
    expires_in: int


class Sessions:
    """Sign-in, refresh and logout on top of users, passwords, the second factor and the two kinds of token."""

    def __init__(
        self,
        users: UserRepository,
        refresh: RefreshTokenStore,
        passwords: Passwords,
        issuer: AccessTokenIssuer,
        throttle: LoginThrottle,
        two_factor: TwoFactor,
        audit: AuditRecorder,
        org_claim: OrgClaim,
    ) -> None:
        self._users = users
        self._refresh = refresh
        self._passwords = passwords
        self._issuer = issuer
        self._throttle = throttle
        self._two_factor = two_factor
        self._audit = audit
        self._org_claim = org_claim

    async def login(self, identifier: str, password: str, *, address: str, otp: str | None = None) -> TokenPair:
        """A new sign-in for a username or email, its password and, when enabled, a one-time code."""
        user = await self._users.find_by_login(identifier)
        target = AuditTarget(type="user", id=user.id if user else None)
        try:
            pair = await self._login(user, identifier, password, address=address, otp=otp)
        except AuthError as exc:
            await self._audit.record(
                AuditAction.LOGIN_FAILED,
                actor_id=user.id if user else None,
                actor_name=identifier[:_MAX_NAME],
                target=target,
                outcome="failure",
                reason=_FAILURE_REASONS.get(type(exc), type(exc).__name__),
                client_address=address,
            )
            raise
        assert user is not None
        await self._audit.record(
            AuditAction.LOGIN, actor_id=user.id, actor_name=user.username, target=target, client_address=address
        )
        return pair

    async def _login(
        self, user: User | None, identifier: str, password: str, *, address: str, otp: str | None
    ) -> TokenPair:
        # Unknown names are throttled too (by the name), so a 429 tells nothing about whether an account exists.
        attempt = Attempt(user.id if user else "login:" + ":".join(login_key(identifier)), address)
        await self._throttle.check(attempt)
        if user is None:
            await self._passwords.verify_dummy(password)
            await self._throttle.record_failure(attempt)
            raise InvalidCredentials()
        result = await self._passwords.verify(user.password_hash, password)
        if not result.ok:
            await self._throttle.record_failure(attempt)
            raise InvalidCredentials()
        if result.new_hash is not None:
            await self._users.set_password_hash(user.id, result.new_hash)
        # Checked only after the password, so "disabled" tells nothing to someone who does not know it.
        if user.disabled:
            raise AccountDisabled()
        await self._two_factor.require(user, otp, attempt)
        await self._throttle.clear_account(attempt)
        return await self._pair(user, family_id=None)

    async def refresh(self, refresh_token: str, *, address: str | None = None) -> TokenPair:
        """Exchange a refresh token for a new pair; the old token is spent."""
        try:
            grant = await self._refresh.consume(refresh_token)
        except RefreshTokenReused as reuse:
            owner = await self._users.get(reuse.user_id)
            await self._audit.record(
                AuditAction.REFRESH_REUSE,
                actor_id=reuse.user_id,
                actor_name=owner.username if owner else None,
                target=AuditTarget(type="user", id=reuse.user_id),
                outcome="failure",
                reason="reused_refresh_token",
                client_address=address,
                details={"family_id": reuse.family_id, "family_revoked": True},
            )
            raise
        user = await self._users.get(grant.user_id)
        if user is None or user.disabled:
            await self._refresh.revoke_family(grant.family_id)
            raise InvalidRefreshToken()
        return await self._pair(user, family_id=grant.family_id)

    async def logout(self, refresh_token: str) -> None:
        await self._refresh.revoke(refresh_token)

    async def logout_everywhere(self, user: User, *, address: str | None = None) -> None:
        """End every sign-in of ``user``: all their refresh tokens stop working."""
        await self._refresh.revoke_user(user.id)
        await self._audit.record(
            AuditAction.LOGOUT_ALL,
            actor_id=user.id,
            actor_name=user.username,
            target=AuditTarget(type="user", id=user.id),
            client_address=address,
        )

    async def _pair(self, user: User, family_id: str | None) -> TokenPair:
        access = self._issuer.issue(user, await self._org_claim(user.id))
        refresh_token = await self._refresh.issue(user.id, family_id)
        return TokenPair(access_token=access.token, refresh_token=refresh_token, expires_in=access.expires_in)
