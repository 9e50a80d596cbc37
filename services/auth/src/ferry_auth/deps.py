"""What request handlers depend on, declared once as ``Annotated`` aliases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from ferry_auth.accounts import Accounts
from ferry_auth.apikeys import ApiKeys
from ferry_auth.audit_log import AuditLog
from ferry_auth.client_address import TrustedProxies
from ferry_auth.errors import AccountDisabled, Forbidden, Unauthenticated
from ferry_auth.invitations import Invitations
from ferry_auth.keyring import LiveKeyRing
from ferry_auth.members import Members
from ferry_auth.org_events import OrgAnnouncer
from ferry_auth.organizations import Organizations
from ferry_auth.sessions import Sessions
from ferry_auth.two_factor import TwoFactor
from ferry_auth.users import User, UserRepository
from ferry_core.audit import AuditRecorder
from ferry_core.tokens import InvalidToken, Principal, TokenVerifier


@dataclass(frozen=True)
class AuthState:
    """The service's parts, built in the lifespan and kept on ``app.state.auth``."""

    users: UserRepository
    accounts: Accounts
    sessions: Sessions
    two_factor: TwoFactor
    verifier: TokenVerifier
    keys: LiveKeyRing
    proxies: TrustedProxies
    api_keys: ApiKeys
    audit: AuditRecorder
    audit_log: AuditLog
    organizations: Organizations
    members: Members
    invitations: Invitations
    announcer: OrgAnnouncer


def get_state(request: Request) -> AuthState:
    state: AuthState = request.app.state.auth
    return state


State = Annotated[AuthState, Depends(get_state)]


def get_client_address(request: Request, state: State) -> str:
    """The caller's address, through the trusted proxies (see ``client_address.py``)."""
    peer = request.client.host if request.client else None
    return state.proxies.client_address(peer, request.headers.get("x-forwarded-for"))


ClientAddress = Annotated[str, Depends(get_client_address)]

# auto_error=False: a missing token is answered by our own 401 body, like every other auth failure.
_bearer = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)


async def get_principal(token: Annotated[str | None, Depends(_bearer)], state: State) -> Principal:
    if token is None:
        raise Unauthenticated()
    try:
        return await state.verifier.verify(token)
    except InvalidToken as exc:
        raise Unauthenticated(str(exc)) from None


async def get_current_user(principal: Annotated[Principal, Depends(get_principal)], state: State) -> User:
    """The caller's record as stored now, so a deleted or disabled user loses access here at once."""
    user = await state.users.get(principal.user_id)
    if user is None:
        raise Unauthenticated("user no longer exists")
    if user.disabled:
        raise AccountDisabled()
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_admin_user(user: CurrentUser) -> User:
    # The stored role decides, not the token's claim: a demoted admin stops being one here immediately.
    if not user.is_admin:
        raise Forbidden()
    return user


AdminUser = Annotated[User, Depends(get_admin_user)]
