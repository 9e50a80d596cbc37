"""The organization projection, and how a request's organization and role are resolved (real MongoDB-wire server)."""

from __future__ import annotations

import asyncio
import time
from typing import Any as Gateway  # the conftest fixture object (conftest is not importable)

import pytest
import pytest_asyncio
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.events import Envelope, OrgMemberUpdated, OrgQuotas, OrgUpdated
from ferry_core.infra import Document
from ferry_core.orgs import OrgRole
from ferry_core.secrets import secret_hash
from ferry_core.tokens import Principal
from ferry_ingest.apikeys import ApiKeyStore
from ferry_ingest.files import FilesRepository
from ferry_ingest.orgs import MEMBER_PROJECTION, ORG_PROJECTION, OrgProjection, OrgStore
from ferry_ingest.orgscope import OrgNotFound, resolve, role_in
from ferry_testkit.tokens import TokenFactory

from .test_routes import CSV, auth, eventually, upload


@pytest_asyncio.fixture
async def store(mongo_db: AsyncDatabase[Document]) -> OrgStore:
    orgs = OrgStore(mongo_db)
    await orgs.ensure_indexes()
    return orgs


def org(revision: int, *, name: str = "Acme", deleted: bool = False, max_files: int | None = None) -> OrgUpdated:
    return OrgUpdated(
        org_id="acme",
        name=name,
        personal=False,
        created_by="olga",
        quotas=OrgQuotas(max_files=max_files),
        deleted=deleted,
        revision=revision,
    )


def member(user_id: str, role: OrgRole | None, revision: int, org_id: str = "acme") -> OrgMemberUpdated:
    return OrgMemberUpdated(org_id=org_id, user_id=user_id, role=role, revision=revision)


def principal(user_id: str, orgs: dict[str, OrgRole] | None = None, role: str = "user") -> Principal:
    return Principal(user_id=user_id, username=user_id, role=role, token_id="t", expires_at=0, orgs=orgs or {})


async def no_files(_: str) -> int:
    return 0


async def test_the_highest_revision_wins_whatever_the_order(store: OrgStore, mongo_db: AsyncDatabase[Document]) -> None:
    projection = OrgProjection(store, no_files)
    for event in (org(2, name="Acme Ltd", max_files=10), org(1), org(2, name="Acme Ltd", max_files=10)):
        await projection.handle(Envelope.wrap(event, source="test"))
    stored = await mongo_db[ORG_PROJECTION].find_one({"_id": "acme"})
    assert stored is not None
    assert {k: stored[k] for k in ("name", "personal", "created_by", "deleted", "revision")} == {
        "name": "Acme Ltd",
        "personal": False,
        "created_by": "olga",
        "deleted": False,
        "revision": 2,
    }
    assert stored["quotas"] == {"max_bytes": None, "max_files": 10, "uploads_per_minute": None}

    for event in (member("mia", OrgRole.MEMBER, 1), member("mia", None, 3), member("mia", OrgRole.ADMIN, 2)):
        await projection.handle(Envelope.wrap(event, source="test"))
    doc = await mongo_db[MEMBER_PROJECTION].find_one({"_id": "acme:mia"})
    assert doc is not None
    assert (doc["org_id"], doc["user_id"], doc["role"], doc["revision"]) == ("acme", "mia", None, 3)
    assert (await store.membership("acme", "mia")).known and (await store.membership("acme", "mia")).role is None
    await projection.handle(Envelope.wrap(member("mia", OrgRole.VIEWER, 4), source="test"))  # invited again
    assert (await store.membership("acme", "mia")).role is OrgRole.VIEWER
    assert not (await store.membership("acme", "nobody")).known


async def test_a_deleted_organization_is_a_tombstone_and_loses_its_files(store: OrgStore) -> None:
    deleted_orgs: list[str] = []

    async def delete_files(org_id: str) -> int:
        deleted_orgs.append(org_id)
        return 0

    projection = OrgProjection(store, delete_files)
    await projection.handle(Envelope.wrap(org(1), source="test"))
    assert not await store.is_deleted("acme")
    await projection.handle(Envelope.wrap(org(3, deleted=True), source="test"))
    await projection.handle(Envelope.wrap(org(4, name="Back"), source="test"))  # nothing brings it back
    await projection.handle(Envelope.wrap(org(3, deleted=True), source="test"))  # redelivered: deletes again
    assert await store.is_deleted("acme")
    assert deleted_orgs == ["acme", "acme"]


async def test_the_role_comes_from_the_projection_then_the_token(store: OrgStore) -> None:
    projection = OrgProjection(store, no_files)
    token_member = principal("tom", {"acme": OrgRole.MEMBER})
    # Not heard of yet: the token answers.
    assert await role_in(store, token_member, "acme") is OrgRole.MEMBER
    # The projection knows better: a demotion, then a removal, apply at once.
    await projection.handle(Envelope.wrap(member("tom", OrgRole.VIEWER, 1), source="test"))
    assert await role_in(store, token_member, "acme") is OrgRole.VIEWER
    await projection.handle(Envelope.wrap(member("tom", None, 2), source="test"))
    assert await role_in(store, token_member, "acme") is None
    with pytest.raises(OrgNotFound):
        await resolve(store, token_member, "acme")

    # Without a header the personal organization, owned; an outsider naming one is not found.
    scope = await resolve(store, principal("sam"), None)
    assert (scope.org_id, scope.role, scope.named, scope.listed_org) == ("sam", OrgRole.OWNER, False, "sam")
    for unknown in ("acme", "tom", " ", "x" * 500):
        with pytest.raises(OrgNotFound):
            await resolve(store, principal("sam"), unknown)

    # A deleted organization has no members, whatever a token says.
    await projection.handle(Envelope.wrap(org(5, deleted=True), source="test"))
    with pytest.raises(OrgNotFound):
        await resolve(store, principal("ann", {"acme": OrgRole.OWNER}), "acme")

    # The platform admin is owner everywhere, and lists everything until naming an organization.
    root = principal("root", role="admin")
    anywhere = await resolve(store, root, None)
    assert anywhere.role is OrgRole.OWNER and anywhere.listed_org is None
    named = await resolve(store, root, "beta")
    assert named.role is OrgRole.OWNER and named.listed_org == "beta"


async def test_an_api_key_resolves_through_the_projection_only(
    store: OrgStore, mongo_db: AsyncDatabase[Document]
) -> None:
    await mongo_db["api_key_projection"].insert_one(
        {"_id": "k1", "key_hash": secret_hash("fk_key"), "owner_id": "kay", "role": "user"}
    )
    keyed = await ApiKeyStore(mongo_db).principal_for("fk_key")
    assert keyed is not None and dict(keyed.orgs) == {}
    assert (await resolve(store, keyed, None)).role is OrgRole.OWNER  # the personal organization, always
    with pytest.raises(OrgNotFound):
        await resolve(store, keyed, "acme")
    await OrgProjection(store, no_files).handle(Envelope.wrap(member("kay", OrgRole.ADMIN, 1), source="test"))
    assert (await resolve(store, keyed, "acme")).role is OrgRole.ADMIN


async def test_records_from_before_organizations_join_the_personal_one(repo: FilesRepository) -> None:
    await repo.collection.insert_many(
        [
            {"_id": "old1", "owner_id": "alice", "filename": "a.csv"},
            {"_id": "old2", "owner_id": "bob", "filename": "b.csv", "org_id": None},
            {"_id": "new1", "owner_id": "carol", "filename": "c.csv", "org_id": "acme"},
        ]
    )
    assert await repo.adopt_personal_orgs() == 2
    assert await repo.adopt_personal_orgs() == 0  # idempotent: runs at every start
    orgs = {doc["_id"]: doc["org_id"] async for doc in repo.collection.find({}, {"org_id": 1})}
    assert orgs == {"old1": "alice", "old2": "bob", "new1": "acme"}


async def test_deleting_an_organization_deletes_its_files_through_the_bus(
    gateway: Gateway, tokens: TokenFactory
) -> None:
    token = tokens.issue("olga", orgs={"acme": "owner"})
    olga = {"Authorization": f"Bearer {token}", "X-Ferry-Org": "acme"}
    doomed = str((await upload(gateway, olga))["file_id"])
    kept = str((await upload(gateway, auth(tokens, "olga")))["file_id"])  # her personal organization's
    project = await gateway.client.post("/projects", json={"name": "Q3"}, headers=olga)
    batch = await gateway.client.post("/batches", json={"name": "monday"}, headers=olga)
    assert (project.status_code, batch.status_code) == (201, 201)
    bus = gateway.infra.bus
    await bus.publish(Envelope.wrap(org(1), source="ferry-auth"))
    await bus.publish(Envelope.wrap(org(2, deleted=True), source="ferry-auth", org_id="acme"))

    def deleted_event() -> bool:
        return any(e.type == "file.deleted.v1" and e.subject == doomed for e in gateway.published)

    await eventually(deleted_event)
    event = next(e for e in gateway.published if e.type == "file.deleted.v1" and e.subject == doomed)
    assert event.org_id == "acme"
    assert (await gateway.client.get(f"/files/{doomed}", headers=olga)).status_code == 404
    assert (await gateway.client.get("/files", headers=olga)).status_code == 404  # the organization is gone
    assert (await gateway.client.get(f"/files/{kept}/download", headers=auth(tokens, "olga"))).content == CSV
    db = gateway.infra.db
    deadline = time.monotonic() + 5
    while await db["projects"].count_documents({"org_id": "acme"}) + await db["batches"].count_documents(
        {"org_id": "acme"}
    ):
        assert time.monotonic() < deadline, "the deleted organization's projects and batches are still there"
        await asyncio.sleep(0.02)
