"""``ferry_notifier.webhooks.endpoints`` against a real MongoDB-wire server: matching, rotation, failing state."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ferry_core.events import utcnow
from ferry_notifier.webhooks.endpoints import EVENT_NAMES, MAX_SECRETS, EndpointsRepository, signing_secrets, wants
from ferry_notifier.webhooks.signing import new_secret


@pytest.fixture
async def repo(mongo_db):
    endpoints = EndpointsRepository(mongo_db)
    await endpoints.ensure_indexes()
    return endpoints


async def _endpoint(repo, org_id="org-1", events=("file.parsed",), **fields):
    base = {"owner_id": "alice", "url": "https://example.com/hook", "description": None, "secret": new_secret()}
    return await repo.create(org_id=org_id, events=list(events), **{**base, **fields})


def test_wants_names_and_star():
    assert wants({"events": ["file.parsed"]}, "file.parsed")
    assert not wants({"events": ["file.parsed"]}, "file.failed")
    assert all(wants({"events": ["*"]}, name) for name in EVENT_NAMES)
    assert not wants({}, "file.parsed")


async def test_created_endpoint_is_read_back(repo):
    doc = await _endpoint(repo, description="ops")
    assert doc["_id"].startswith("wh_")
    read = await repo.get(doc["_id"])
    assert read is not None
    assert (read["org_id"], read["owner_id"], read["events"], read["enabled"]) == (
        "org-1",
        "alice",
        ["file.parsed"],
        True,
    )
    assert read["failing_since"] is None and read["disabled_reason"] is None
    assert signing_secrets(read, utcnow()) == [doc["secrets"][0]["secret"]]
    assert await repo.get("wh_missing") is None


async def test_subscribed_finds_enabled_endpoints_of_the_org_wanting_the_event(repo):
    parsed = await _endpoint(repo, events=["file.parsed"])
    everything = await _endpoint(repo, events=["*"])
    await _endpoint(repo, events=["file.failed"])
    await _endpoint(repo, org_id="org-2", events=["file.parsed"])
    disabled = await _endpoint(repo, events=["file.parsed"])
    assert await repo.disable(disabled["_id"], "kept failing") is not None

    found = {doc["_id"] for doc in await repo.subscribed("org-1", "file.parsed")}
    assert found == {parsed["_id"], everything["_id"]}
    assert {doc["_id"] for doc in await repo.subscribed("org-1", "batch.completed")} == {everything["_id"]}
    assert await repo.subscribed("org-3", "file.parsed") == []


async def test_rotation_signs_with_both_during_grace_then_only_the_new(repo):
    doc = await _endpoint(repo)
    old = doc["secrets"][0]["secret"]
    new = new_secret()
    rotated = await repo.rotate(doc["_id"], new, timedelta(hours=1))
    assert rotated is not None
    now = utcnow()
    assert signing_secrets(rotated, now) == [new, old]
    assert rotated["secrets"][1]["expires_at"] > now
    assert signing_secrets(rotated, now + timedelta(hours=1, seconds=1)) == [new]
    assert await repo.rotate("wh_missing", new_secret(), timedelta(hours=1)) is None


async def test_rotation_without_grace_drops_the_old_secret_at_once(repo):
    doc = await _endpoint(repo)
    new = new_secret()
    rotated = await repo.rotate(doc["_id"], new, timedelta(0))
    assert signing_secrets(rotated, utcnow()) == [new]
    # An expired secret is not carried into the next rotation.
    again = await repo.rotate(doc["_id"], new_secret(), timedelta(hours=1))
    assert len(again["secrets"]) == 2


async def test_rotations_keep_at_most_a_few_secrets_and_never_extend_a_grace(repo):
    doc = await _endpoint(repo)
    first_rotation = await repo.rotate(doc["_id"], new_secret(), timedelta(minutes=5))
    second = await repo.rotate(doc["_id"], new_secret(), timedelta(hours=5))
    # The original's expiry (5 min) is not pushed out by the later, longer grace.
    assert second["secrets"][2]["expires_at"] == first_rotation["secrets"][1]["expires_at"]
    for _ in range(MAX_SECRETS + 2):
        latest = await repo.rotate(doc["_id"], new_secret(), timedelta(hours=1))
    assert len(latest["secrets"]) == MAX_SECRETS


async def test_failure_sets_failing_since_once_and_success_clears_it(repo):
    doc = await _endpoint(repo)
    first = utcnow()
    failing = await repo.record_failure(doc["_id"], first)
    assert failing is not None
    failing_since = failing["failing_since"]
    later = await repo.record_failure(doc["_id"], first + timedelta(minutes=5))
    assert later["failing_since"] == failing_since  # the run's start stays
    await repo.record_success(doc["_id"])
    assert (await repo.get(doc["_id"]))["failing_since"] is None
    assert await repo.record_failure("wh_missing", first) is None


async def test_disable_only_once_and_enabling_clears_the_failing_state(repo):
    doc = await _endpoint(repo)
    await repo.record_failure(doc["_id"], utcnow())
    disabled = await repo.disable(doc["_id"], "failing for 3 days")
    assert disabled is not None
    assert (disabled["enabled"], disabled["disabled_reason"]) == (False, "failing for 3 days")
    assert disabled["disabled_at"] is not None
    assert await repo.disable(doc["_id"], "again") is None
    enabled = await repo.update(doc["_id"], {"enabled": True})
    assert enabled is not None
    assert (enabled["enabled"], enabled["disabled_reason"], enabled["disabled_at"], enabled["failing_since"]) == (
        True,
        None,
        None,
        None,
    )


async def test_page_lists_newest_first_and_narrows_to_an_owner(repo):
    made = [await _endpoint(repo, owner_id=owner) for owner in ("alice", "bob", "alice")]
    await _endpoint(repo, org_id="org-2")
    first, total = await repo.page("org-1", None, limit=2, offset=0)
    rest, _ = await repo.page("org-1", None, limit=2, offset=2)
    assert total == 3 and (len(first), len(rest)) == (2, 1)
    listed = first + rest
    assert {doc["_id"] for doc in listed} == {doc["_id"] for doc in made}
    assert [doc["created_at"] for doc in listed] == sorted((doc["created_at"] for doc in listed), reverse=True)
    mine, mine_total = await repo.page("org-1", "alice", limit=10, offset=0)
    assert mine_total == 2 and {doc["_id"] for doc in mine} == {made[0]["_id"], made[2]["_id"]}
    assert await repo.count_of_org("org-1") == 3
    assert await repo.delete(made[0]["_id"]) is True
    assert await repo.delete(made[0]["_id"]) is False
