"""The life of an account: registration, the first admin, an admin's changes, and deletion.

Deleting a user announces ``user.deleted.v1`` so ingest removes that user's files.
Every user has a personal organization from registration on; deleting the user
removes their memberships and deletes it (each announced). A user who is the last
owner of a shared organization is not deleted (409): the platform admin, owner in
every organization, first makes another member an owner or deletes the organization.
Disabling or deleting a user revokes their API keys; a new role reaches their keys too.
The record is hidden first, announced, then removed; if the announcement fails
the hidden record stays, and repeating the DELETE announces again (consumers are
idempotent), so no deletion goes unannounced.
"""

from __future__ import annotations

import structlog

from ferry_auth.apikeys import ApiKeys
from ferry_auth.errors import Conflict, NotFound, UsernameTaken
from ferry_auth.organizations import Organizations
from ferry_auth.passwords import Passwords
from ferry_auth.refresh import RefreshTokenStore
from ferry_auth.schemas import check_email, check_password, check_username
from ferry_auth.users import Role, User, UserRepository
from ferry_core.bus import Bus
from ferry_core.events import UserDeleted
from ferry_core.publishing import publish_event

log = structlog.get_logger(__name__)


class AdminBootstrapError(RuntimeError):
    """``FERRY_ADMIN_*`` settings that cannot make an admin account."""


class Accounts:
    """Account changes that span users, refresh tokens and the bus."""

    def __init__(
        self,
        users: UserRepository,
        refresh: RefreshTokenStore,
        passwords: Passwords,
        bus: Bus,
        api_keys: ApiKeys,
        organizations: Organizations,
    ) -> None:
        self._users = users
        self._refresh = refresh
        self._passwords = passwords
        self._bus = bus
        self._api_keys = api_keys
        self._organizations = organizations

    async def register(self, *, username: str, email: str, password: str, full_name: str | None = None) -> User:
        user = await self._users.create(
            username=username, email=email, password_hash=await self._passwords.hash(password), full_name=full_name
        )
        await self._organizations.ensure_personal(user.id, user.username)
        return user

    async def ensure_admin(self, *, username: str, password: str, email: str | None = None) -> User:
        """Create the configured admin, or make an existing user of that name an enabled admin.

        The password is used only when creating: an existing account keeps its own.
        """
        try:
            check_username(username)
            check_password(password)
            email = check_email(email or f"{username.lower()}@ferry.local")
        except ValueError as exc:
            raise AdminBootstrapError(f"FERRY_ADMIN_*: {exc}") from None
        existing = await self._users.find_by_login(username)
        if existing is None:
            try:
                created = await self._users.create(
                    username=username, email=email, password_hash=await self._passwords.hash(password), role="admin"
                )
            except UsernameTaken:
                existing = await self._users.find_by_login(username)  # another replica created it meanwhile
            except Conflict as exc:
                raise AdminBootstrapError(f"cannot create admin {username!r}: {exc.detail}") from None
            else:
                await self._organizations.ensure_personal(created.id, created.username)
                log.info("created the configured admin", username=username, user_id=created.id)
                return created
        if existing is None:
            raise AdminBootstrapError(f"admin {username!r} vanished while being created")
        if existing.is_admin and not existing.disabled:
            return existing
        promoted = await self._users.update(existing.id, role="admin", disabled=False)
        await self._api_keys.sync_role(existing.id, "admin")
        log.info("promoted the configured admin", username=username, user_id=existing.id)
        return promoted or existing

    async def update(self, actor: User, user_id: str, *, role: Role | None, disabled: bool | None) -> User:
        """Change a user's role or disabled state; admins cannot lock themselves out."""
        if user_id == actor.id and (role == "user" or disabled):
            raise Conflict("admins cannot demote or disable themselves")
        user = await self._users.update(user_id, role=role, disabled=disabled)
        if user is None:
            raise NotFound()
        if user.disabled:
            await self._refresh.revoke_user(user.id)
            await self._api_keys.revoke_all(user.id)
        elif role is not None:
            await self._api_keys.sync_role(user.id, user.role)
        return user

    async def delete(self, actor: User, user_id: str) -> None:
        """Remove a user and their sign-ins, and announce it with ``user.deleted.v1``."""
        if user_id == actor.id:
            raise Conflict("admins cannot delete themselves")
        if sole_owned := await self._organizations.sole_owned(user_id):
            raise Conflict(
                "the user is the last owner of organization(s) "
                + ", ".join(sole_owned)
                + "; make another member an owner or delete the organization first"
            )
        if await self._users.mark_deleting(user_id) is None:
            raise NotFound()
        await self._refresh.delete_user(user_id)
        await self._api_keys.revoke_all(user_id)
        await self._organizations.remove_user(user_id)
        await publish_event(self._bus, UserDeleted(user_id=user_id), service="auth", subject=user_id)
        await self._users.delete(user_id)
        log.info("deleted user", user_id=user_id, by=actor.id)
