"""HTTP handlers for a user's API keys: create (the key is shown once), list, revoke."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field, StringConstraints

from ferry_auth.apikeys import MAX_KEYS_PER_USER, ApiKey
from ferry_auth.deps import ClientAddress, CurrentUser, State
from ferry_auth.schemas import ErrorResponses
from ferry_core.audit import AuditAction, AuditTarget

router = APIRouter(prefix="/auth/api-keys", tags=["api-keys"])

_errors = ErrorResponses(
    {
        400: "The body could not be read (not UTF-8 JSON)",
        401: "Missing, invalid or expired access token",
        403: "Account disabled",
        404: "No such API key among the caller's",
        409: f"The caller already holds {MAX_KEYS_PER_USER} API keys",
    }
)


class ApiKeyCreate(BaseModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str = Field(description="The key's first characters, to tell keys apart; never the whole key.")
    created_at: datetime

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyOut:
        return cls(id=key.id, name=key.name, prefix=key.prefix, created_at=key.created_at)


class ApiKeyWithSecret(ApiKeyOut):
    key: str = Field(description="The key itself, shown this once; send it as the X-API-Key header.")


class ApiKeyList(BaseModel):
    items: list[ApiKeyOut]


@router.post("", status_code=status.HTTP_201_CREATED, responses=_errors(400, 401, 403, 409))
async def create_api_key(
    body: ApiKeyCreate, user: CurrentUser, state: State, address: ClientAddress, response: Response
) -> ApiKeyWithSecret:
    """Create a key that acts as the caller on the files API; the reply is the only time it is shown."""
    created = await state.api_keys.create(user, body.name)
    await state.audit.record(
        AuditAction.APIKEY_CREATED,
        actor_id=user.id,
        actor_name=user.username,
        target=AuditTarget(type="api_key", id=created.key.id),
        client_address=address,
        details={"name": created.key.name, "prefix": created.key.prefix},
    )
    response.headers["Cache-Control"] = "no-store"  # the body holds a secret
    return ApiKeyWithSecret(**ApiKeyOut.of(created.key).model_dump(), key=created.secret)


@router.get("", responses=_errors(401, 403))
async def list_api_keys(user: CurrentUser, state: State) -> ApiKeyList:
    """The caller's keys, oldest first, without the keys themselves."""
    return ApiKeyList(items=[ApiKeyOut.of(key) for key in await state.api_keys.owned_by(user.id)])


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_errors(401, 403, 404))
async def revoke_api_key(key_id: str, user: CurrentUser, state: State, address: ClientAddress) -> None:
    """Revoke one of the caller's keys; the files API refuses it within moments."""
    await state.api_keys.revoke(user.id, key_id)
    await state.audit.record(
        AuditAction.APIKEY_REVOKED,
        actor_id=user.id,
        actor_name=user.username,
        target=AuditTarget(type="api_key", id=key_id),
        client_address=address,
    )
