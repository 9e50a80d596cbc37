"""``ferry_notifier.webhooks.ssrf``: which URLs are refused, and a connection that goes to the checked address only."""

from __future__ import annotations

import pytest

from ferry_notifier.webhooks.posting import Limits, post, post_to
from ferry_notifier.webhooks.ssrf import Target, UnsafeUrl, check_url, resolve

from .webhook_receiver import receiving

REFUSED = [
    "http://127.0.0.1/",
    "http://localhost:8080/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.1.2.3/",
    "http://192.168.0.1/",
    "http://100.64.0.1/",  # carrier-grade NAT: not private, not public either
    "http://0.0.0.0/",
    "http://224.0.0.1/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped IPv6
    "http://[fe80::1]/",
    "http://2130706433/",  # 127.0.0.1 written as one number
]


@pytest.mark.parametrize("url", REFUSED)
async def test_addresses_that_are_not_public_are_refused(url: str) -> None:
    with pytest.raises(UnsafeUrl, match="not a public address"):
        await check_url(url, allow_private=False)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://93.184.216.34/", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("http://user:secret@93.184.216.34/", "credentials"),
        ("http://name.invalid/", "does not resolve"),
        ("not a url", "only http and https"),
    ],
)
async def test_other_schemes_credentials_and_unknown_names_are_refused(url: str, why: str) -> None:
    with pytest.raises(UnsafeUrl, match=why):
        await check_url(url, allow_private=True)


async def test_public_addresses_pass_and_private_ones_pass_when_allowed() -> None:
    target = await resolve("https://93.184.216.34/in", allow_private=False)
    assert (target.host, target.port, target.addresses) == ("93.184.216.34", 443, ("93.184.216.34",))
    assert (await resolve("http://localhost:9/", allow_private=True)).addresses[0] in ("127.0.0.1", "::1")


async def test_the_connection_goes_to_the_checked_address_with_the_urls_name() -> None:
    """What DNS says later cannot matter: the sender connects to the address that was checked."""
    async with receiving() as receiver:
        port = int(receiver.url.rsplit(":", 1)[1])
        # A name that resolves nowhere, pinned to the receiver's address as resolve() would have checked it.
        pinned = Target(
            url=f"http://hooks.example.invalid:{port}/hook",
            host="hooks.example.invalid",
            port=port,
            addresses=("127.0.0.1",),
        )
        outcome = await post_to(pinned, b"{}", {"content-type": "application/json"}, LIMITS)
        assert outcome.status_code == 200, outcome
        (hit,) = receiver.hits
        assert hit.headers["Host"] == f"hooks.example.invalid:{port}"


LIMITS = Limits(connect_timeout=2, read_timeout=2, response_limit=100, allow_private=True)


async def test_post_refuses_before_connecting() -> None:
    async with receiving() as receiver:
        refused = await post(f"{receiver.url}/hook", b"{}", {}, Limits(2, 2, 100, allow_private=False))
        assert refused.status_code is None and refused.error is not None and refused.error.startswith("refused: ")
        assert receiver.hits == []
