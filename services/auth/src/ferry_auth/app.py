"""``create_app``: the one place auth's parts are built and wired together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI

from ferry_auth import (
    apikey_routes,
    audit_log,
    audit_routes,
    invitation_routes,
    org_routes,
    routes,
    totp_routes,
    usage,
)
from ferry_auth.accounts import Accounts
from ferry_auth.apikeys import ApiKeys
from ferry_auth.client_address import TrustedProxies
from ferry_auth.deps import AuthState
from ferry_auth.errors import install_error_handler
from ferry_auth.invitations import Invitations
from ferry_auth.keyring import LiveKeyRing
from ferry_auth.members import Members
from ferry_auth.memberships import MembershipRepository
from ferry_auth.org_events import OrgAnnouncer, Reannouncer
from ferry_auth.organizations import Organizations
from ferry_auth.orgs import OrgRepository
from ferry_auth.passwords import Passwords
from ferry_auth.refresh import RefreshTokenStore
from ferry_auth.sessions import Sessions
from ferry_auth.settings import AuthSettings
from ferry_auth.throttle import LoginThrottle
from ferry_auth.tokens import AccessTokenIssuer
from ferry_auth.totp import TotpFactors
from ferry_auth.two_factor import TwoFactor
from ferry_auth.users import UserRepository
from ferry_core.audit import AuditRecorder
from ferry_core.infra import Infrastructure, connect
from ferry_core.observability import instrument, ops_router
from ferry_core.tokens import TokenVerifier


async def build_state(settings: AuthSettings, infra: Infrastructure, keys: LiveKeyRing) -> AuthState:
    """Build the service's parts, create the indexes, and make sure the configured admin exists."""
    users = UserRepository(infra.db)
    refresh = RefreshTokenStore(infra.db, timedelta(days=settings.refresh_token_ttl_days))
    await users.ensure_indexes()
    await refresh.ensure_indexes()
    throttle = LoginThrottle.from_settings(infra.db, settings)
    await throttle.ensure_indexes()
    two_factor = TwoFactor(TotpFactors(infra.db, issuer=settings.totp_issuer), throttle)
    api_keys = ApiKeys(infra.db, users, infra.bus)
    await api_keys.ensure_indexes()
    passwords = Passwords.from_settings(settings)
    audit = AuditRecorder(infra.bus, "auth")
    audit_store = audit_log.AuditLog(infra.db)
    await audit_store.ensure_indexes()
    orgs = OrgRepository(infra.db)
    memberships = MembershipRepository(infra.db)
    await orgs.ensure_indexes()
    await memberships.ensure_indexes()
    announcer = OrgAnnouncer(infra.bus, orgs, memberships)
    organizations = Organizations(orgs, memberships, users, announcer)
    members = Members(memberships, users, announcer)
    invitations = Invitations(infra.db, orgs, members, timedelta(days=settings.invitation_ttl_days))
    await invitations.ensure_indexes()
    accounts = Accounts(users, refresh, passwords, infra.bus, api_keys, organizations)
    if settings.admin_username and settings.admin_password:
        await accounts.ensure_admin(
            username=settings.admin_username,
            password=settings.admin_password.get_secret_value(),
            email=settings.admin_email,
        )
    await organizations.ensure_personal_orgs()  # users from before organizations (idempotent)

    async def own_jwks() -> dict[str, Any]:
        # Auth verifies its own tokens the way every other service does, minus the HTTP round trip.
        return keys.jwks()

    return AuthState(
        users=users,
        accounts=accounts,
        sessions=Sessions(
            users,
            refresh,
            passwords,
            AccessTokenIssuer(keys, settings.access_token_ttl_seconds),
            throttle,
            two_factor,
            audit,
            organizations.token_claim,
        ),
        two_factor=two_factor,
        # The key set is in this process: no reason to cache it long or to space out refetches.
        verifier=TokenVerifier(own_jwks, max_age=1.0, refetch_interval=0.0),
        keys=keys,
        proxies=TrustedProxies(settings.trusted_proxies),
        api_keys=api_keys,
        audit=audit,
        audit_log=audit_store,
        organizations=organizations,
        members=members,
        invitations=invitations,
        announcer=announcer,
    )


def create_app(settings: AuthSettings, infra: Infrastructure | None = None) -> FastAPI:
    """The auth app; it connects its own infrastructure unless one is given (embedded mode, tests)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        keys = LiveKeyRing(settings)  # before connecting: a bad key should fail fast
        live = infra if infra is not None else await connect(settings, with_blobs=False)
        try:
            app.state.infra = live
            state = await build_state(settings, live, keys)
            app.state.auth = state
            subscription = await audit_log.subscribe(live.bus, audit_log.AuditConsumer(state.audit_log))
            usage_subscription = await usage.subscribe(live.bus, usage.UsageConsumer(state.organizations.repository))
            reannouncer = Reannouncer(state.announcer, interval=settings.reannounce_interval_seconds)
            await reannouncer.start()
            try:
                yield
            finally:
                await reannouncer.stop()
                await usage_subscription.cancel()
                await subscription.cancel()
        finally:
            if infra is None:
                await live.close()

    app = FastAPI(
        title="Ferry auth",
        summary="Users, organizations, sign-in, access and refresh tokens, and the JWKS to verify access tokens with.",
        version="0.1.0",
        lifespan=lifespan,
    )

    async def readiness() -> dict[str, bool]:
        live: Infrastructure = app.state.infra
        return await live.readiness()

    install_error_handler(app)
    app.include_router(routes.router)
    app.include_router(totp_routes.router)
    app.include_router(apikey_routes.router)
    app.include_router(audit_routes.router)
    app.include_router(org_routes.router)
    app.include_router(invitation_routes.router)
    app.include_router(ops_router(readiness))
    instrument(app, "auth")
    return app
