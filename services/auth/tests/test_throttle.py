"""Failed sign-ins are throttled per account and per address, with the counts shared through MongoDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ferry_auth.errors import TooManyAttempts
from ferry_auth.throttle import LOGIN_FAILURES, Attempt, LoginThrottle

WRONG = "not the password at all"


async def _login(client, username: str, password: str):
    return await client.post("/auth/login", json={"username": username, "password": password})


def _assert_throttled(response) -> int:
    assert response.status_code == 429, response.text
    retry_after = int(response.headers["retry-after"])
    assert 0 < retry_after <= 900
    assert response.json() == {"detail": f"too many failed sign-in attempts; try again in {retry_after} seconds"}
    return retry_after


async def test_five_failures_lock_the_account_for_a_while(api) -> None:
    await api.register("alice")
    for _ in range(5):
        assert (await _login(api.client, "alice", WRONG)).status_code == 401
    # From now on even the right password is refused, by both sign-in endpoints.
    _assert_throttled(await _login(api.client, "alice", api.password))
    form = await api.client.post("/auth/token", data={"username": "alice", "password": api.password})
    _assert_throttled(form)
    # Other accounts are not affected.
    await api.register("bob")
    assert (await _login(api.client, "bob", api.password)).status_code == 200


async def test_counters_are_shared_between_replicas(api, settings, start) -> None:
    await api.register("carol")
    async with start(settings) as other_replica:
        for client in (api.client, other_replica, api.client, other_replica, api.client):
            assert (await _login(client, "carol", WRONG)).status_code == 401
        _assert_throttled(await _login(other_replica, "carol", api.password))
        _assert_throttled(await _login(api.client, "carol", api.password))


async def test_a_successful_sign_in_clears_the_account_counter(api) -> None:
    await api.register("dave")
    for _ in range(4):
        assert (await _login(api.client, "dave", WRONG)).status_code == 401
    await api.login("dave")
    for _ in range(4):
        assert (await _login(api.client, "dave", WRONG)).status_code == 401
    await api.login("dave")


async def test_username_and_email_count_against_the_same_account(api) -> None:
    await api.register("erin")
    for identifier in ("erin", "ERIN", "erin@example.com", "Erin@Example.com", "erin"):
        assert (await _login(api.client, identifier, WRONG)).status_code == 401
    _assert_throttled(await _login(api.client, "erin@example.com", api.password))


async def test_unknown_names_are_throttled_too(client) -> None:
    # Otherwise a 429 would tell which names are real accounts.
    for _ in range(5):
        assert (await _login(client, "ghost", WRONG)).status_code == 401
    _assert_throttled(await _login(client, "ghost", WRONG))


async def test_one_address_failing_on_many_accounts_is_throttled(settings, serve) -> None:
    async with serve(settings) as connect:
        attacker, someone_else = connect("203.0.113.7"), connect("198.51.100.20")
        body = {"username": "frank", "email": "frank@example.com", "password": "franks own password"}
        assert (await someone_else.post("/auth/register", json=body)).status_code == 201
        for i in range(20):  # FERRY_LOGIN_MAX_FAILURES_PER_ADDRESS
            assert (await _login(attacker, f"victim{i}", WRONG)).status_code == 401
        _assert_throttled(await _login(attacker, "frank", "franks own password"))
        assert (await _login(someone_else, "frank", "franks own password")).status_code == 200


async def test_limits_follow_the_settings(settings_with, serve) -> None:
    async with serve(settings_with(login_max_failures_per_account=2, login_failure_window_seconds=60)) as connect:
        client = connect("192.0.2.1")
        for _ in range(2):
            assert (await _login(client, "grace", WRONG)).status_code == 401
        assert _assert_throttled(await _login(client, "grace", WRONG)) <= 60


# -- the store -----------------------------------------------------------------------


@pytest.fixture
async def clock_and_throttle(mongo_db):
    now = [datetime(2030, 1, 1, tzinfo=UTC)]
    throttle = LoginThrottle(mongo_db, per_account=3, per_address=5, window=timedelta(minutes=15), clock=lambda: now[0])
    await throttle.ensure_indexes()
    return now, throttle


async def test_the_window_slides(clock_and_throttle) -> None:
    now, throttle = clock_and_throttle
    attempt = Attempt("user-1", "192.0.2.1")
    start = now[0]
    for minutes in (0, 5, 10):
        now[0] = start + timedelta(minutes=minutes)
        await throttle.check(attempt)
        await throttle.record_failure(attempt)
    now[0] = start + timedelta(minutes=11)
    with pytest.raises(TooManyAttempts) as refused:
        await throttle.check(attempt)
    assert refused.value.retry_after == 4 * 60  # when the failure at minute 0 leaves the window
    assert refused.value.headers == {"Retry-After": "240"}
    now[0] = start + timedelta(minutes=15, seconds=1)
    await throttle.check(attempt)  # two failures left in the window: one more try allowed
    await throttle.record_failure(attempt)
    with pytest.raises(TooManyAttempts) as refused:
        await throttle.check(attempt)
    assert refused.value.retry_after == 5 * 60 - 1  # now the failure at minute 5 must age out (at 20:00)


async def test_clearing_the_account_keeps_the_address_count(clock_and_throttle) -> None:
    _, throttle = clock_and_throttle
    for user in ("u1", "u1", "u2", "u2"):
        await throttle.record_failure(Attempt(user, "192.0.2.1"))
    await throttle.clear_account(Attempt("u1", "192.0.2.1"))
    await throttle.check(Attempt("u1", "192.0.2.1"))
    await throttle.record_failure(Attempt("u1", "192.0.2.1"))
    with pytest.raises(TooManyAttempts):  # five failures from the address, whoever they were for
        await throttle.check(Attempt("u3", "192.0.2.1"))
    await throttle.check(Attempt("u3", "192.0.2.2"))


async def test_stored_failures_name_nobody_and_expire(api, mongo_db) -> None:
    assert (await _login(api.client, "someone@example.com", WRONG)).status_code == 401
    docs = await mongo_db[LOGIN_FAILURES].find({}).to_list()
    assert len(docs) == 2  # one for the account, one for the address
    for doc in docs:
        assert len(doc["key"]) == 64
        assert "someone" not in str(doc) and "127.0.0.1" not in str(doc)
        assert doc["expires_at"] - doc["at"] == timedelta(minutes=15)
    indexes = await mongo_db[LOGIN_FAILURES].index_information()
    assert indexes["expires_at_1"]["expireAfterSeconds"] == 0


async def test_refused_attempts_are_not_counted(api, mongo_db) -> None:
    await api.register("heidi")
    for _ in range(8):
        await _login(api.client, "heidi", WRONG)
    # Five for the account and five for the address; the three refused attempts added nothing.
    assert await mongo_db[LOGIN_FAILURES].count_documents({}) == 10
