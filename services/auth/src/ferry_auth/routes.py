"""Thin HTTP handlers: read the request, call accounts or sessions, shape the reply."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from ferry_auth.deps import AdminUser, ClientAddress, CurrentUser, State
from ferry_auth.errors import NotFound
from ferry_auth.schemas import (
    ErrorResponses,
    Jwks,
    LoginRequest,
    RefreshTokenBody,
    RegisterRequest,
    TokenResponse,
    UserOut,
    UserPage,
    UserUpdate,
)
from ferry_auth.sessions import TokenPair
from ferry_core.audit import AuditAction, AuditTarget

router = APIRouter()

# MongoDB skips by a 64-bit integer; 2**53 - 1 also keeps offsets exact in JavaScript clients.
MAX_OFFSET = 2**53 - 1

_errors = ErrorResponses(
    {
        400: "The body could not be read (not UTF-8 JSON, or a broken form)",
        401: "Missing, invalid or expired credentials",
        403: "Account disabled, or admin role required",
        404: "No such user",
        409: "Username or email taken, or an admin acting on their own account",
        429: "Too many failed sign-ins for the account or from the address; see Retry-After",
    }
)


def _tokens(pair: TokenPair, response: Response) -> TokenResponse:
    response.headers["Cache-Control"] = "no-store"  # RFC 6749 §5.1: token responses must not be cached
    return TokenResponse(access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in)


@router.post("/auth/register", status_code=status.HTTP_201_CREATED, tags=["auth"], responses=_errors(400, 409))
async def register(body: RegisterRequest, state: State) -> UserOut:
    user = await state.accounts.register(
        username=body.username, email=body.email, password=body.password, full_name=body.full_name
    )
    return UserOut.of(user)


@router.post("/auth/login", tags=["auth"], responses=_errors(400, 401, 403, 429))
async def login(body: LoginRequest, state: State, address: ClientAddress, response: Response) -> TokenResponse:
    """Sign in; accounts with two-factor sign-in also need ``otp``, else 401 says a one-time code is required."""
    pair = await state.sessions.login(body.identifier, body.password, address=address, otp=body.otp)
    return _tokens(pair, response)


@router.post("/auth/token", tags=["auth"], responses=_errors(400, 401, 403, 429))
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    state: State,
    address: ClientAddress,
    response: Response,
    otp: Annotated[str | None, Form(min_length=1, max_length=64)] = None,
) -> TokenResponse:
    """The OAuth2 password grant as a form, for ``/docs`` "Authorize" and OAuth2 clients (``otp`` as for login)."""
    return _tokens(await state.sessions.login(form.username, form.password, address=address, otp=otp), response)


@router.post("/auth/refresh", tags=["auth"], responses=_errors(400, 401))
async def refresh(body: RefreshTokenBody, state: State, address: ClientAddress, response: Response) -> TokenResponse:
    return _tokens(await state.sessions.refresh(body.refresh_token, address=address), response)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"], responses=_errors(400))
async def logout(body: RefreshTokenBody, state: State) -> None:
    await state.sessions.logout(body.refresh_token)


@router.post("/auth/logout-all", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"], responses=_errors(401, 403))
async def logout_all(user: CurrentUser, state: State, address: ClientAddress) -> None:
    """Log out everywhere: every refresh token of the caller stops working (access tokens expire on their own)."""
    await state.sessions.logout_everywhere(user, address=address)


@router.get("/users/me", tags=["users"], responses=_errors(401, 403))
async def me(user: CurrentUser) -> UserOut:
    return UserOut.of(user)


@router.get("/users", tags=["users"], responses=_errors(401, 403))
async def list_users(
    _: AdminUser,
    state: State,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> UserPage:
    users, total = await state.users.page(limit=limit, offset=offset)
    return UserPage(items=[UserOut.of(user) for user in users], total=total, limit=limit, offset=offset)


@router.get("/users/{user_id}", tags=["users"], responses=_errors(401, 403, 404))
async def get_user(user_id: str, _: AdminUser, state: State) -> UserOut:
    user = await state.users.get(user_id)
    if user is None:
        raise NotFound()
    return UserOut.of(user)


@router.patch("/users/{user_id}", tags=["users"], responses=_errors(400, 401, 403, 404, 409))
async def update_user(
    user_id: str, body: UserUpdate, admin: AdminUser, state: State, address: ClientAddress
) -> UserOut:
    user = await state.accounts.update(admin, user_id, role=body.role, disabled=body.disabled)
    target = AuditTarget(type="user", id=user.id)
    if body.role is not None:
        await state.audit.record(
            AuditAction.ROLE_CHANGED,
            actor_id=admin.id,
            actor_name=admin.username,
            target=target,
            client_address=address,
            details={"role": user.role},
        )
    if body.disabled is not None:
        action = AuditAction.DISABLED if body.disabled else AuditAction.ENABLED
        await state.audit.record(
            action, actor_id=admin.id, actor_name=admin.username, target=target, client_address=address
        )
    return UserOut.of(user)


@router.delete(
    "/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["users"], responses=_errors(401, 403, 404, 409)
)
async def delete_user(user_id: str, admin: AdminUser, state: State, address: ClientAddress) -> None:
    await state.accounts.delete(admin, user_id)
    await state.two_factor.reset(user_id)
    await state.audit.record(
        AuditAction.DELETED,
        actor_id=admin.id,
        actor_name=admin.username,
        target=AuditTarget(type="user", id=user_id),
        client_address=address,
    )


@router.get("/.well-known/jwks.json", tags=["keys"])
async def jwks(state: State, response: Response) -> Jwks:
    """The public keys access tokens are signed with; verifiers cache them and refetch on an unknown ``kid``."""
    response.headers["Cache-Control"] = "public, max-age=300"
    return Jwks.model_validate(state.keys.jwks())
