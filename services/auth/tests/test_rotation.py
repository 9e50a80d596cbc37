"""Rotating the kept development key: old tokens keep verifying until they expire, new ones use the new key."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
import time
from datetime import timedelta

import jwt
import pytest

from ferry_auth.keyring import load_keyring
from ferry_auth.keys import load_signing_key
from ferry_auth.rotation import CLOCK_SKEW, KeyRotationError, rotate_signing_key
from ferry_core.events import utcnow
from ferry_core.tokens import TokenVerifier


def _kids(jwks: dict) -> list[str]:
    return [key["kid"] for key in jwks["keys"]]


async def test_tokens_signed_before_a_rotation_verify_after_it(api, settings) -> None:
    async def fetch() -> dict:
        response = await api.client.get("/.well-known/jwks.json")
        response.raise_for_status()
        return dict(response.json())

    fetches: list[dict] = []

    async def counted_fetch() -> dict:
        fetches.append(await fetch())
        return fetches[-1]

    verifier = TokenVerifier(counted_fetch)  # as the gateway builds it: default cache and refetch spacing
    await api.register("alice")
    before = (await api.login("alice"))["access_token"]
    old_kid = jwt.get_unverified_header(before)["kid"]
    assert (await verifier.verify(before)).username == "alice"

    rotation = rotate_signing_key(settings)
    assert rotation.previous_kid == old_kid != rotation.new_kid

    # The running auth notices the new key file within a second.
    deadline = time.monotonic() + 5
    while _kids(await fetch()) != [rotation.new_kid, old_kid]:
        assert time.monotonic() < deadline, "the JWKS never listed both keys"
        await asyncio.sleep(0.05)

    after = (await api.login("alice"))["access_token"]
    assert jwt.get_unverified_header(after)["kid"] == rotation.new_kid
    # The verifier had only the old key cached: the unknown kid makes it fetch again, and both verify.
    assert (await verifier.verify(after)).username == "alice"
    assert (await verifier.verify(before)).username == "alice"
    assert len(fetches) == 2
    # Auth itself takes both as well.
    for token in (before, after):
        assert (await api.client.get("/users/me", headers=api.bearer(token))).status_code == 200


def test_the_previous_key_drops_out_after_the_token_lifetime(settings) -> None:
    old = load_signing_key(settings)
    rotation = rotate_signing_key(settings)
    now = utcnow()
    ttl = timedelta(seconds=settings.access_token_ttl_seconds)
    assert rotation.previous_published_until - now <= ttl + CLOCK_SKEW
    assert rotation.previous_published_until - now > ttl

    ring = load_keyring(settings)
    assert ring.signing.kid == rotation.new_kid
    assert _kids(ring.jwks(now)) == [rotation.new_kid, old.kid]
    assert _kids(ring.jwks(now + ttl)) == [rotation.new_kid, old.kid]  # every token it signed may still be live
    assert _kids(ring.jwks(now + ttl + CLOCK_SKEW + timedelta(seconds=1))) == [rotation.new_kid]


def test_rotations_chain_and_forget_expired_keys(settings) -> None:
    first = load_signing_key(settings).kid
    long_ago = utcnow() - timedelta(days=1)
    second = rotate_signing_key(settings, now=long_ago).new_kid
    third = rotate_signing_key(settings).new_kid
    assert _kids(load_keyring(settings).jwks(utcnow())) == [third, second]
    # The key retired a day ago is gone from the file too, not merely hidden.
    kept = json.loads(settings.retired_keys_path.read_text())["keys"]
    assert [entry["kid"] for entry in kept] == [second]
    assert first not in settings.retired_keys_path.read_text()


def test_rotation_files(settings) -> None:
    rotate_signing_key(settings)
    assert stat.S_IMODE(settings.generated_key_path.stat().st_mode) == 0o600
    retired = settings.retired_keys_path.read_text()
    assert "PRIVATE" not in retired and '"d"' not in retired  # public halves only
    assert sorted(p.name for p in settings.generated_key_path.parent.iterdir()) == [
        ".rotation.lock",
        "retired-keys.json",
        "signing-key.pem",
    ]


def test_configured_keys_are_not_rotated_here(settings_with, tmp_path) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(load_signing_key(settings_with()).to_pem())
    with pytest.raises(KeyRotationError, match="FERRY_RETIRED_SIGNING_KEY_FILES"):
        rotate_signing_key(settings_with(signing_key_file=path))


def _ferry_auth(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**{k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}, **env}
    return subprocess.run(
        [sys.executable, "-m", "ferry_auth", *args], env=environment, capture_output=True, text=True, timeout=60
    )


def test_the_rotate_key_command(settings) -> None:
    old = load_signing_key(settings).kid
    result = _ferry_auth("rotate-key", FERRY_DATA_DIR=str(settings.data_dir))
    assert result.returncode == 0, result.stderr
    new = load_signing_key(settings).kid
    assert new != old
    assert f"new signing key {new}; previous key {old} stays published until" in result.stdout

    refused = _ferry_auth("rotate-key", FERRY_DATA_DIR=str(settings.data_dir), FERRY_SIGNING_KEY_FILE="/k.pem")
    assert refused.returncode == 1
    assert "FERRY_RETIRED_SIGNING_KEY_FILES" in refused.stderr
