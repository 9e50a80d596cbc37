from ferry_core.secrets import secret_hash


def test_secret_hash_is_the_lowercase_hex_sha256_every_service_looks_keys_up_by() -> None:
    # Stored API keys, refresh tokens and invitations are found by this digest: changing it orphans them all.
    assert secret_hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
