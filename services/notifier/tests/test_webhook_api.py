"""``/webhooks`` over a real uvicorn server and MongoDB-wire server: register, manage, rotate, test, deliveries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from standardwebhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError

from ferry_core.bus.memory import MemoryBus
from ferry_core.events import Envelope, utcnow
from ferry_notifier.webhooks.endpoints import MAX_ENDPOINTS_PER_ORG, EndpointsRepository, signing_secrets

from .webhook_receiver import Hit, Receiver, receiving

WAIT = 10.0
HOOK = "http://127.0.0.1:9/hook"  # a private address: these notifiers allow them (FERRY_WEBHOOK_ALLOW_PRIVATE)
PUBLIC = "https://93.184.215.14/hook"  # an address literal, so no DNS is needed to check it
TEAM = "team-1"


class Recorder:
    """Every envelope of some types the bus carries, as a subscriber of its own sees them."""

    def __init__(self) -> None:
        self.seen: list[Envelope] = []

    async def handle(self, envelope: Envelope) -> None:
        self.seen.append(envelope)

    async def wait_for(self, predicate: Any, timeout: float = WAIT) -> Envelope:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            for envelope in self.seen:
                if predicate(envelope):
                    return envelope
            await asyncio.sleep(0.02)
        raise AssertionError(f"no such envelope among {[e.type for e in self.seen]}")


@pytest_asyncio.fixture
async def bus() -> AsyncIterator[MemoryBus]:
    bus = MemoryBus()
    yield bus
    await bus.close()


@pytest_asyncio.fixture
async def recorder(bus: MemoryBus) -> AsyncIterator[Recorder]:
    recorder = Recorder()
    subscription = await bus.subscribe(
        "test.recorder", ["audit.recorded.v1", "webhook.delivery.requested.v1"], recorder.handle
    )
    yield recorder
    await subscription.cancel()


@pytest_asyncio.fixture
async def hooks(launch, bus) -> AsyncIterator[Any]:
    async with launch(bus, webhook_allow_private=True, webhook_secret_grace_seconds=3600) as running:
        yield running


def auth(notifier: Any, user_id: str, **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {notifier.token(user_id, **claims)}"}


async def create(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await client.post("/webhooks", json={"url": HOOK, "events": ["file.parsed"], **body}, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- register, read, list ---------------------------------------------------------------


async def test_register_shows_the_secret_once(hooks, recorder):
    alice = auth(hooks, "alice")
    async with httpx.AsyncClient(base_url=hooks.url) as client:
        created = await create(client, alice, events=["file.parsed", "file.failed", "file.parsed"], description="ops")
        got = await client.get(f"/webhooks/{created['webhook_id']}", headers=alice)
        listed = await client.get("/webhooks", headers=alice)
    assert created["secret"].startswith("whsec_")
    assert created["webhook_id"].startswith("wh_")
    assert (created["org_id"], created["owner_id"], created["url"]) == ("alice", "alice", HOOK)
    assert created["events"] == ["file.parsed", "file.failed"]  # each once, in the order given
    assert (created["enabled"], created["failing_since"], created["previous_secret_expires_at"]) == (True, None, None)
    assert got.status_code == 200
    assert got.json() == {k: v for k, v in created.items() if k != "secret"}
    assert '"secret"' not in got.text and created["secret"] not in got.text and created["secret"] not in listed.text
    assert listed.json() == {"items": [got.json()], "total": 1, "limit": 50, "offset": 0}
    stored = await hooks.db["webhook_endpoints"].find_one({"_id": created["webhook_id"]})
    assert signing_secrets(stored, utcnow()) == [created["secret"]]
    entry = await recorder.wait_for(lambda e: e.type == "audit.recorded.v1")
    assert entry.data["action"] == "webhook.created"
    assert entry.data["target"] == {"type": "webhook", "id": created["webhook_id"]}
    assert (entry.data["actor_id"], entry.data["org_id"]) == ("alice", "alice")
    assert entry.data["details"]["events"] == "file.parsed,file.failed"


async def test_star_stands_for_every_event(hooks):
    async with httpx.AsyncClient(base_url=hooks.url) as client:
        created = await create(client, auth(hooks, "alice"), events=["file.parsed", "*"])
    assert created["events"] == ["*"]


@pytest.mark.parametrize(
    "body",
    [
        {"url": HOOK, "events": ["file.progress"]},  # progress events are not posted
        {"url": HOOK, "events": []},
        {"url": HOOK},
        {"url": "   ", "events": ["file.parsed"]},
        {"url": "https://example.com/" + "a" * 2100, "events": ["file.parsed"]},
        {"url": HOOK, "events": ["file.parsed"], "description": "x" * 501},
        {"events": ["file.parsed"]},
    ],
)
async def test_invalid_bodies_are_422(hooks, body):
    async with httpx.AsyncClient(base_url=hooks.url) as client:
        response = await client.post("/webhooks", json=body, headers=auth(hooks, "alice"))
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://93.184.215.14/hook", "only http and https"),
        ("https://user:pw@93.184.215.14/hook", "credentials"),
        ("http://127.0.0.1:8080/hook", "not a public address"),
        ("http://10.0.0.5/hook", "not a public address"),
        ("http://[::ffff:169.254.169.254]/latest", "not a public address"),
    ],
)
async def test_unsafe_urls_are_refused_with_the_reason(launch, bus, url, reason):
    async with launch(bus) as strict, httpx.AsyncClient(base_url=strict.url) as client:
        response = await client.post("/webhooks", json={"url": url, "events": ["*"]}, headers=auth(strict, "alice"))
        fine = await client.post("/webhooks", json={"url": PUBLIC, "events": ["*"]}, headers=auth(strict, "alice"))
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], str) and reason in response.json()["detail"].lower()
    assert fine.status_code == 201, fine.text
    assert await strict.db["webhook_endpoints"].count_documents({"url": url}) == 0


async def test_an_organization_has_a_bounded_number_of_webhooks(hooks):
    alice = auth(hooks, "alice")
    async with httpx.AsyncClient(base_url=hooks.url) as client:
        for _ in range(MAX_ENDPOINTS_PER_ORG):
            await create(client, alice)
        refused = await client.post("/webhooks", json={"url": HOOK, "events": ["*"]}, headers=alice)
        elsewhere = await client.post("/webhooks", json={"url": HOOK, "events": ["*"]}, headers=auth(hooks, "bob"))
        page = await client.get("/webhooks", params={"limit": 5, "offset": 18}, headers=alice)
    assert refused.status_code == 409
    assert str(MAX_ENDPOINTS_PER_ORG) in refused.json()["detail"]
    assert elsewhere.status_code == 201  # the limit is per organization
    assert (page.json()["total"], len(page.json()["items"]), page.json()["offset"]) == (20, 2, 18)


async def test_registrations_racing_for_the_last_places_never_pass_the_limit(hooks):
    alice = auth(hooks, "alice")
    async with httpx.AsyncClient(base_url=hooks.url) as client:
        for _ in range(MAX_ENDPOINTS_PER_ORG - 2):
            await create(client, alice)
        racing = await asyncio.gather(
            *(client.post("/webhooks", json={"url": HOOK, "events": ["*"]}, headers=alice) for _ in range(6))
        )
        listed = await client.get("/webhooks", headers=alice)
    assert sorted(response.status_code for response in racing) == [201, 201, 409, 409, 409, 409]
    assert listed.json()["total"] == MAX_ENDPOINTS_PER_ORG


async def test_unauthenticated_is_401(hooks):
    async with httpx.AsyncClient(base_url=hooks.url) as client:
        missing = await client.get("/webhooks")
        forged = await client.post(
            "/webhooks", json={"url": HOOK, "events": ["*"]}, headers={"Authorization": "Bearer x"}
        )
    assert (missing.status_code, forged.status_code) == (401, 401)
    assert missing.headers["www-authenticate"] == "Bearer"


# -- who manages what ---------------------------------------------------------------------


async def test_another_users_webhook_is_404_everywhere(hooks):
    alice, bob = auth(hooks, "alice"), auth(hooks, "bob")
    async with httpx.AsyncClient(base_url=hooks.url) as client:
        created = await create(client, alice)
        path = f"/webhooks/{created['webhook_id']}"
        answers = [
            (await client.get(path, headers=bob)).status_code,
            (await client.patch(path, json={"description": "mine"}, headers=bob)).status_code,
            (await client.delete(path, headers=bob)).status_code,
            (await client.post(f"{path}/rotate-secret", headers=bob)).status_code,
            (await client.post(f"{path}/test", headers=bob)).status_code,
            (await client.get(f"{path}/deliveries", headers=bob)).status_code,
            (await client.get(f"{path}/deliveries/msg_x", headers=bob)).status_code,
            (await client.post(f"{path}/deliveries/msg_x/resend", headers=bob)).status_code,
        ]
        bobs_list = await client.get("/webhooks", headers=bob)
        naming_alices = await client.get("/webhooks", params={"org": "alice"}, headers=bob)
        still = await client.get(path, headers=alice)
        as_admin = await client.get(path, headers=auth(hooks, "root", role="admin"))
    assert answers == [404] * 8
    assert bobs_list.json()["total"] == 0
    assert naming_alices.status_code == 404
    assert still.json()["description"] is None
    assert as_admin.status_code == 200  # the platform admin acts as owner everywhere


async def test_team_admins_manage_members_may_not_register(hooks):
    admin = auth(hooks, "ada", orgs={TEAM: "admin"})
    owner = auth(hooks, "olga", orgs={TEAM: "owner"})
    member = auth(hooks, "mel", orgs={TEAM: "member"})
    outsider = auth(hooks, "otto", orgs={"team-2": "owner"})
    in_team = {"X-Ferry-Org": TEAM}
    async with httpx.AsyncClient(base_url=hooks.url) as client:
        created = await create(client, {**admin, **in_team})
        path = f"/webhooks/{created['webhook_id']}"
        by_member = await client.post("/webhooks", json={"url": HOOK, "events": ["*"]}, headers={**member, **in_team})
        member_list = await client.get("/webhooks", headers={**member, **in_team})
        member_get = await client.get(path, headers=member)
        owner_list = await client.get("/webhooks", headers={**owner, **in_team})
        owner_patch = await client.patch(path, json={"events": ["batch.completed"]}, headers=owner)
        outsider_get = await client.get(path, headers=outsider)
        outsider_list = await client.get("/webhooks", headers={**outsider, **in_team})
        personal = await client.get("/webhooks", headers=admin)
    assert created["org_id"] == TEAM and created["owner_id"] == "ada"
    assert by_member.status_code == 403
    assert member_list.status_code == 200 and member_list.json()["total"] == 0
    assert member_get.status_code == 404
    assert [item["webhook_id"] for item in owner_list.json()["items"]] == [created["webhook_id"]]
    assert owner_patch.status_code == 200 and owner_patch.json()["events"] == ["batch.completed"]
    assert outsider_get.status_code == 404 and outsider_list.status_code == 404
    assert personal.json()["total"] == 0  # the team's webhook is not in the admin's personal organization


async def test_a_registrant_demoted_to_member_still_manages_their_own(hooks):
    in_team = {"X-Ferry-Org": TEAM}
    async with httpx.AsyncClient(base_url=hooks.url) as client:
        created = await create(client, {**auth(hooks, "ada", orgs={TEAM: "admin"}), **in_team})
        demoted = auth(hooks, "ada", orgs={TEAM: "member"})
        removed = auth(hooks, "ada")
        listed = await client.get("/webhooks", headers={**demoted, **in_team})
        got = await client.get(f"/webhooks/{created['webhook_id']}", headers=demoted)
        gone = await client.get(f"/webhooks/{created['webhook_id']}", headers=removed)
    assert listed.json()["total"] == 1 and got.status_code == 200
    assert gone.status_code == 404  # no longer a member: nothing of the team's


# -- change, disable, enable, delete ----------------------------------------------------------


async def test_patch_changes_only_what_is_sent(hooks, recorder):
    alice = auth(hooks, "alice")
    async with httpx.AsyncClient(base_url=hooks.url) as client:
        created = await create(client, alice, description="ops")
        path = f"/webhooks/{created['webhook_id']}"
        changed = await client.patch(path, json={"url": "http://127.0.0.1:10/new", "events": ["*"]}, headers=alice)
        cleared = await client.patch(path, json={"description": None, "url": None}, headers=alice)
        bad = await client.patch(path, json={"events": ["nope"]}, headers=alice)
    assert changed.status_code == 200, changed.text
    assert (changed.json()["url"], changed.json()["events"], changed.json()["description"]) == (
        "http://127.0.0.1:10/new",
        ["*"],
        "ops",
    )
    assert moment(changed.json()["updated_at"]) >= moment(created["updated_at"])
    assert (cleared.json()["description"], cleared.json()["url"]) == (None, "http://127.0.0.1:10/new")
    assert bad.status_code == 422
    updated = await recorder.wait_for(lambda e: e.type == "audit.recorded.v1" and e.data["action"] == "webhook.updated")
    assert updated.data["details"]["changed"] == "events,url"


async def test_patching_to_an_unsafe_url_is_refused(launch, bus):
    async with launch(bus) as strict, httpx.AsyncClient(base_url=strict.url) as client:
        alice = auth(strict, "alice")
        created = (await client.post("/webhooks", json={"url": PUBLIC, "events": ["*"]}, headers=alice)).json()
        path = f"/webhooks/{created['webhook_id']}"
        refused = await client.patch(path, json={"url": "http://192.168.1.1/hook"}, headers=alice)
        after = await client.get(path, headers=alice)
    assert refused.status_code == 422 and "not a public address" in refused.json()["detail"]
    assert after.json()["url"] == PUBLIC


async def test_disable_then_enable_clears_the_failing_state(hooks):
    alice = auth(hooks, "alice")
    async with httpx.AsyncClient(base_url=hooks.url) as client:
        created = await create(client, alice)
        path = f"/webhooks/{created['webhook_id']}"
        # The sender's bookkeeping: a run of failures, then disabled for it.
        repo = EndpointsRepository(hooks.db)
        await repo.record_failure(created["webhook_id"], utcnow() - timedelta(days=4))
        await repo.disable(created["webhook_id"], "failing for 4 days")
        disabled = (await client.get(path, headers=alice)).json()
        test_refused = await client.post(f"{path}/test", headers=alice)
        enabled = await client.patch(path, json={"enabled": True}, headers=alice)
        paused = await client.patch(path, json={"enabled": False}, headers=alice)
    assert (disabled["enabled"], disabled["disabled_reason"]) == (False, "failing for 4 days")
    assert disabled["failing_since"] is not None and disabled["disabled_at"] is not None
    assert test_refused.status_code == 409
    assert enabled.json()["enabled"] is True
    assert (enabled.json()["failing_since"], enabled.json()["disabled_reason"], enabled.json()["disabled_at"]) == (
        None,
        None,
        None,
    )
    assert (paused.json()["enabled"], paused.json()["disabled_reason"]) == (False, "disabled by a user")


async def test_delete_removes_the_endpoint_and_its_deliveries(hooks, recorder):
    alice = auth(hooks, "alice")
    async with httpx.AsyncClient(base_url=hooks.url) as client:
        created = await create(client, alice)
        path = f"/webhooks/{created['webhook_id']}"
        tested = await client.post(f"{path}/test", headers=alice)
        deleted = await client.delete(path, headers=alice)
        again = await client.delete(path, headers=alice)
        after = await client.get(path, headers=alice)
    assert tested.status_code == 202
    assert (deleted.status_code, again.status_code, after.status_code) == (204, 404, 404)
    assert await hooks.db["webhook_deliveries"].count_documents({"endpoint_id": created["webhook_id"]}) == 0
    entry = await recorder.wait_for(lambda e: e.type == "audit.recorded.v1" and e.data["action"] == "webhook.deleted")
    assert entry.data["target"]["id"] == created["webhook_id"]


# -- rotation ----------------------------------------------------------------------------


async def test_rotation_signs_with_both_secrets_during_the_grace_then_only_the_new(hooks, recorder):
    alice = auth(hooks, "alice")
    async with httpx.AsyncClient(base_url=hooks.url) as client:
        created = await create(client, alice)
        path = f"/webhooks/{created['webhook_id']}"
        before = utcnow()
        rotated = await client.post(f"{path}/rotate-secret", headers=alice)
        shown = await client.get(path, headers=alice)
    assert rotated.status_code == 200, rotated.text
    new, old = rotated.json()["secret"], created["secret"]
    assert new.startswith("whsec_") and new != old
    expires = moment(rotated.json()["previous_expires_at"])
    assert before + timedelta(seconds=3599) <= expires <= utcnow() + timedelta(seconds=3601)
    assert moment(shown.json()["previous_secret_expires_at"]) == expires
    assert new not in shown.text and old not in shown.text
    stored = await hooks.db["webhook_endpoints"].find_one({"_id": created["webhook_id"]})
    assert signing_secrets(stored, utcnow()) == [new, old]
    assert signing_secrets(stored, expires + timedelta(seconds=1)) == [new]
    entry = await recorder.wait_for(
        lambda e: e.type == "audit.recorded.v1" and e.data["action"] == "webhook.secret_rotated"
    )
    assert new not in str(entry.data) and old not in str(entry.data)


async def test_rotation_without_grace_retires_the_old_secret_at_once(launch, bus):
    async with (
        launch(bus, webhook_allow_private=True, webhook_secret_grace_seconds=0) as running,
        httpx.AsyncClient(base_url=running.url) as client,
    ):
        alice = auth(running, "alice")
        created = await create(client, alice)
        rotated = (await client.post(f"/webhooks/{created['webhook_id']}/rotate-secret", headers=alice)).json()
        shown = (await client.get(f"/webhooks/{created['webhook_id']}", headers=alice)).json()
    stored = await running.db["webhook_endpoints"].find_one({"_id": created["webhook_id"]})
    assert signing_secrets(stored, utcnow()) == [rotated["secret"]]
    assert shown["previous_secret_expires_at"] is None


# -- test deliveries, the delivery log, resend ---------------------------------------------------


async def test_test_delivery_is_requested_and_listed(hooks, recorder):
    alice = auth(hooks, "alice")
    async with httpx.AsyncClient(base_url=hooks.url) as client:
        created = await create(client, alice)
        path = f"/webhooks/{created['webhook_id']}"
        tested = await client.post(f"{path}/test", headers=alice)
        delivery = tested.json()
        listed = await client.get(f"{path}/deliveries", headers=alice)
        one = await client.get(f"{path}/deliveries/{delivery['delivery_id']}", headers=alice)
        missing = await client.get(f"{path}/deliveries/msg_nothing", headers=alice)
        bad_status = await client.get(f"{path}/deliveries", params={"status": "lost"}, headers=alice)
    assert tested.status_code == 202, tested.text
    assert delivery["delivery_id"].startswith("msg_")
    assert (delivery["webhook_id"], delivery["event_type"]) == (created["webhook_id"], "webhook.test")
    assert delivery["payload"]["type"] == "webhook.test"
    assert listed.status_code == 200
    assert delivery["delivery_id"] in [item["delivery_id"] for item in listed.json()["items"]]
    assert one.status_code == 200 and one.json()["delivery_id"] == delivery["delivery_id"]
    assert (missing.status_code, bad_status.status_code) == (404, 422)
    request = await recorder.wait_for(lambda e: e.type == "webhook.delivery.requested.v1")
    assert request.data == {"delivery_id": delivery["delivery_id"], "endpoint_id": created["webhook_id"], "attempt": 1}


async def test_deliveries_filter_by_status_and_page(hooks):
    alice = auth(hooks, "alice")
    async with httpx.AsyncClient(base_url=hooks.url) as client:
        created = await create(client, alice)
        path = f"/webhooks/{created['webhook_id']}"
        made = [(await client.post(f"{path}/test", headers=alice)).json()["delivery_id"] for _ in range(3)]
        await hooks.db["webhook_deliveries"].update_one({"_id": made[0]}, {"$set": {"status": "failed"}})
        failed = await client.get(f"{path}/deliveries", params={"status": "failed"}, headers=alice)
        page = await client.get(f"{path}/deliveries", params={"limit": 2, "offset": 2}, headers=alice)
    assert [item["delivery_id"] for item in failed.json()["items"]] == [made[0]]
    assert (page.json()["total"], len(page.json()["items"]), page.json()["limit"]) == (3, 1, 2)


async def test_a_delivery_of_another_webhook_is_404_under_this_one(hooks):
    alice = auth(hooks, "alice")
    async with httpx.AsyncClient(base_url=hooks.url) as client:
        first, second = await create(client, alice), await create(client, alice)
        delivery = (await client.post(f"/webhooks/{first['webhook_id']}/test", headers=alice)).json()
        crossed = await client.get(
            f"/webhooks/{second['webhook_id']}/deliveries/{delivery['delivery_id']}", headers=alice
        )
        resent = await client.post(
            f"/webhooks/{second['webhook_id']}/deliveries/{delivery['delivery_id']}/resend", headers=alice
        )
    assert (crossed.status_code, resent.status_code) == (404, 404)


async def test_resend_makes_a_failed_delivery_pending_and_requests_the_next_attempt(hooks, recorder):
    alice = auth(hooks, "alice")
    async with httpx.AsyncClient(base_url=hooks.url) as client:
        created = await create(client, alice)
        path = f"/webhooks/{created['webhook_id']}"
        delivery = (await client.post(f"{path}/test", headers=alice)).json()
        # As the sender leaves a delivery that used up its attempts.
        attempt = {"attempt": 1, "at": utcnow(), "status_code": 500, "latency_ms": 12, "response": "no", "error": None}
        await hooks.db["webhook_deliveries"].update_one(
            {"_id": delivery["delivery_id"]}, {"$set": {"status": "failed", "attempts": [attempt]}}
        )
        failed = (await client.get(f"{path}/deliveries/{delivery['delivery_id']}", headers=alice)).json()
        resent = await client.post(f"{path}/deliveries/{delivery['delivery_id']}/resend", headers=alice)
    assert failed["status"] == "failed"
    assert failed["attempts"][0]["status_code"] == 500 and failed["attempts"][0]["response"] == "no"
    assert resent.status_code == 202, resent.text
    assert resent.json()["status"] == "pending" and resent.json()["delivery_id"] == delivery["delivery_id"]
    await recorder.wait_for(
        lambda e: (
            e.type == "webhook.delivery.requested.v1"
            and e.data["delivery_id"] == delivery["delivery_id"]
            and e.data["attempt"] == 2
        )
    )


# -- what a receiver sees: signed deliveries across a rotation --------------------------------


async def _posts(receiver: Receiver, count: int) -> list[Hit]:
    deadline = asyncio.get_running_loop().time() + WAIT
    while len(receiver.of("/hook")) < count:
        assert asyncio.get_running_loop().time() < deadline, f"{len(receiver.of('/hook'))} posts, want {count}"
        await asyncio.sleep(0.02)
    return receiver.of("/hook")


def _verifies(secret: str, hit: Hit) -> bool:
    try:
        StandardWebhook(secret).verify(hit.body, hit.headers)
    except WebhookVerificationError:
        return False
    return True


async def test_a_receiver_verifies_with_either_secret_during_the_grace_and_only_the_new_after(launch, bus):
    grace = 2
    async with (
        receiving() as receiver,
        launch(bus, webhook_allow_private=True, webhook_secret_grace_seconds=grace) as running,
        httpx.AsyncClient(base_url=running.url) as client,
    ):
        alice = auth(running, "alice")
        created = await create(client, alice, url=f"{receiver.url}/hook")
        path = f"/webhooks/{created['webhook_id']}"
        old = created["secret"]

        first = (await client.post(f"{path}/test", headers=alice)).json()
        (hit,) = await _posts(receiver, 1)
        assert hit.headers["webhook-id"] == first["delivery_id"]
        assert _verifies(old, hit)

        rotated = (await client.post(f"{path}/rotate-secret", headers=alice)).json()
        new = rotated["secret"]
        await client.post(f"{path}/test", headers=alice)
        during = (await _posts(receiver, 2))[1]
        assert len(during.headers["webhook-signature"].split(" ")) == 2
        assert _verifies(new, during) and _verifies(old, during)

        expires = moment(rotated["previous_expires_at"])
        # The grace runs out (about two seconds): a deadline to wait for, not a condition to poll.
        await asyncio.sleep(max(0.0, (expires - utcnow()).total_seconds()) + 0.05)
        await client.post(f"{path}/test", headers=alice)
        after = (await _posts(receiver, 3))[2]
        assert len(after.headers["webhook-signature"].split(" ")) == 1
        assert _verifies(new, after) and not _verifies(old, after)

        deadline = asyncio.get_running_loop().time() + WAIT
        while True:
            log = (await client.get(f"{path}/deliveries", headers=alice)).json()
            if [item["status"] for item in log["items"]] == ["succeeded"] * 3:
                break
            assert asyncio.get_running_loop().time() < deadline, log
            await asyncio.sleep(0.05)
        shown = (await client.get(f"{path}", headers=alice)).json()
    assert log["total"] == 3
    assert all(item["attempts"][0]["status_code"] == 200 for item in log["items"])
    assert shown["previous_secret_expires_at"] is None and shown["failing_since"] is None
