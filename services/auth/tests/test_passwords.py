"""argon2id hashing, verification, and the upgrade of outdated hashes at login."""

from __future__ import annotations

from argon2 import PasswordHasher

from ferry_auth.passwords import Passwords


def _passwords(time_cost: int = 1) -> Passwords:
    return Passwords(PasswordHasher(time_cost=time_cost, memory_cost=8, parallelism=1))


async def test_hash_and_verify() -> None:
    passwords = _passwords()
    stored = await passwords.hash("a long enough password")
    assert stored.startswith("$argon2id$")
    assert (await passwords.verify(stored, "a long enough password")).ok
    assert not (await passwords.verify(stored, "a long enough passworD")).ok
    assert not (await passwords.verify("not a hash", "anything")).ok
    await passwords.verify_dummy("anything")  # never raises, whatever the password


async def test_outdated_hash_gets_a_new_one_only_when_the_password_matches() -> None:
    stored = await _passwords(time_cost=1).hash("a long enough password")
    stronger = _passwords(time_cost=2)
    result = await stronger.verify(stored, "a long enough password")
    assert result.ok
    assert result.new_hash is not None
    assert "t=2" in result.new_hash
    assert (await stronger.verify(result.new_hash, "a long enough password")).new_hash is None
    assert (await stronger.verify(stored, "wrong password!!")).new_hash is None


async def test_login_rehashes_with_the_current_parameters(api, settings_with, start, mongo_db) -> None:
    user = await api.register("erin")
    before = (await mongo_db["users"].find_one({"_id": user["id"]}))["password_hash"]
    assert "t=1" in before
    async with start(settings_with(argon2_time_cost=2)) as client:
        response = await client.post("/auth/login", json={"username": "erin", "password": api.password})
        assert response.status_code == 200
    after = (await mongo_db["users"].find_one({"_id": user["id"]}))["password_hash"]
    assert "t=2" in after
    assert (
        await api.client.post("/auth/login", json={"username": "erin", "password": api.password})
    ).status_code == 200
