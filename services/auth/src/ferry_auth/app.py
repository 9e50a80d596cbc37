"""``create_app``: the one place auth's parts are built and wired together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI

from ferry_auth import routes
from ferry_auth.accounts import Accounts
from ferry_auth.deps import AuthState
from ferry_auth.errors import install_error_handler
from ferry_auth.keys import SigningKey, jwks, load_signing_key
from ferry_auth.passwords import Passwords
from ferry_auth.refresh import RefreshTokenStore
from ferry_auth.sessions import Sessions
from ferry_auth.settings import AuthSettings
from ferry_auth.tokens import AccessTokenIssuer
from ferry_auth.users import UserRepository
from ferry_core.infra import Infrastructure, connect
from ferry_core.observability import instrument, ops_router
from ferry_core.tokens import TokenVerifier


async def build_state(settings: AuthSettings, infra: Infrastructure, key: SigningKey) -> AuthState:
    """Build the service's parts, create the indexes, and make sure the configured admin exists."""
    users = UserRepository(infra.db)
    refresh = RefreshTokenStore(infra.db, timedelta(days=settings.refresh_token_ttl_days))
    await users.ensure_indexes()
    await refresh.ensure_indexes()
    passwords = Passwords.from_settings(settings)
    accounts = Accounts(users, refresh, passwords, infra.bus)
    if settings.admin_username and settings.admin_password:
        await accounts.ensure_admin(
            username=settings.admin_username,
            password=settings.admin_password.get_secret_value(),
            email=settings.admin_email,
        )
    key_set = jwks([key])

    async def own_jwks() -> dict[str, Any]:
        # Auth verifies its own tokens the way every other service does, minus the HTTP round trip.
        return dict(key_set)

    return AuthState(
        users=users,
        accounts=accounts,
        sessions=Sessions(users, refresh, passwords, AccessTokenIssuer(key, settings.access_token_ttl_seconds)),
        verifier=TokenVerifier(own_jwks),
        jwks=key_set,
    )


def create_app(settings: AuthSettings, infra: Infrastructure | None = None) -> FastAPI:
    """The auth app; it connects its own infrastructure unless one is given (embedded mode, tests)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        key = load_signing_key(settings)  # before connecting: a bad key should fail fast
        live = infra if infra is not None else await connect(settings, with_blobs=False)
        try:
            app.state.infra = live
            app.state.auth = await build_state(settings, live, key)
            yield
        finally:
            if infra is None:
                await live.close()

    app = FastAPI(
        title="Ferry auth",
        summary="Users, sign-in, access and refresh tokens, and the JWKS to verify access tokens with.",
        version="0.1.0",
        lifespan=lifespan,
    )

    async def readiness() -> dict[str, bool]:
        live: Infrastructure = app.state.infra
        return await live.readiness()

    install_error_handler(app)
    app.include_router(routes.router)
    app.include_router(ops_router(readiness))
    instrument(app, "auth")
    return app
