"""The user repository against a real MongoDB-wire server."""

from __future__ import annotations

import pytest

from ferry_auth.errors import EmailTaken, UsernameTaken
from ferry_auth.users import USERS, UserRepository, login_key


@pytest.fixture
async def users(mongo_db) -> UserRepository:
    repository = UserRepository(mongo_db)
    await repository.ensure_indexes()
    return repository


async def _create(users: UserRepository, username: str, email: str | None = None):
    return await users.create(username=username, email=email or f"{username}@example.com", password_hash="h")


def test_login_key() -> None:
    assert login_key("Alice") == ("username_key", "alice")
    assert login_key(" Alice@Example.com ") == ("email_key", "alice@example.com")


async def test_indexes_make_names_and_emails_unique_in_any_case(users, mongo_db) -> None:
    info = await mongo_db[USERS].index_information()
    assert info["username_key_1"]["unique"]
    assert info["email_key_1"]["unique"]
    await _create(users, "Alice", "Alice@example.com")
    with pytest.raises(UsernameTaken):
        await _create(users, "ALICE", "other@example.com")
    with pytest.raises(EmailTaken):
        await _create(users, "other", "alice@EXAMPLE.com")


async def test_find_by_login(users) -> None:
    alice = await _create(users, "Alice")
    assert (await users.find_by_login("alice")) == alice
    assert (await users.find_by_login("ALICE@example.com")) == alice
    assert await users.find_by_login("bob") is None


async def test_update_and_password_hash(users) -> None:
    alice = await _create(users, "alice")
    updated = await users.update(alice.id, role="admin")
    assert updated is not None
    assert (updated.role, updated.disabled) == ("admin", False)
    updated = await users.update(alice.id, disabled=True)
    assert updated is not None
    assert (updated.role, updated.disabled) == ("admin", True)
    await users.set_password_hash(alice.id, "h2")
    assert (await users.get(alice.id)).password_hash == "h2"
    assert await users.update("nobody", role="admin") is None


async def test_page_is_ordered_by_creation(users) -> None:
    created = [await _create(users, f"user{i}") for i in range(5)]
    # Oldest first; users created within the same millisecond are ordered by id, so pages stay stable.
    expected = sorted(created, key=lambda u: (u.created_at, u.id))
    page, total = await users.page(limit=2, offset=1)
    assert total == 5
    assert [u.id for u in page] == [expected[1].id, expected[2].id]


async def test_a_user_being_deleted_is_invisible(users) -> None:
    alice = await _create(users, "alice")
    await _create(users, "bob")
    assert (await users.mark_deleting(alice.id)) is not None
    assert await users.get(alice.id) is None
    assert await users.find_by_login("alice") is None
    assert await users.update(alice.id, role="admin") is None
    page, total = await users.page(limit=10, offset=0)
    assert ([u.username for u in page], total) == (["bob"], 1)
    assert (await users.mark_deleting(alice.id)) is not None  # a retried deletion still finds it
    await users.delete(alice.id)
    assert await users.mark_deleting(alice.id) is None
