"""Which address a request is charged to: the peer, or what trusted proxies say in X-Forwarded-For."""

from __future__ import annotations

import pytest
import structlog.testing

from ferry_auth.client_address import TrustedProxies

LOOPBACK = TrustedProxies(["127.0.0.1/32", "::1/128"])
WRONG = "not the password at all"


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        # No proxy in between: the peer is the client, and its own header is ignored.
        ("203.0.113.5", None, "203.0.113.5"),
        ("203.0.113.5", "198.51.100.1", "203.0.113.5"),
        # Through the edge on loopback: the hop the edge added.
        ("127.0.0.1", "198.51.100.1", "198.51.100.1"),
        ("::1", " 198.51.100.1 ", "198.51.100.1"),
        # A client that sends its own header cannot choose its address: the edge appended the real one.
        ("127.0.0.1", "10.9.9.9, 198.51.100.1", "198.51.100.1"),
        ("127.0.0.1", "garbage, 198.51.100.1", "198.51.100.1"),
        # Only trusted hops are skipped; garbage stops the walk at the last address a proxy vouched for.
        ("127.0.0.1", "198.51.100.1, 127.0.0.1", "198.51.100.1"),
        ("127.0.0.1", "not-an-address", "127.0.0.1"),
        ("127.0.0.1", "", "127.0.0.1"),
        # IPv4 clients seen through an IPv6 socket count as their IPv4 address.
        ("::ffff:203.0.113.5", None, "203.0.113.5"),
        (None, "198.51.100.1", "unknown"),
    ],
)
def test_client_address(peer, forwarded_for, expected) -> None:
    assert LOOPBACK.client_address(peer, forwarded_for) == expected


def test_networks_of_proxies() -> None:
    proxies = TrustedProxies(["10.0.0.0/8", "fd00::/8"])
    assert proxies.client_address("10.1.2.3", "203.0.113.5, 10.4.5.6") == "203.0.113.5"
    assert proxies.client_address("fd00::1", "2001:db8::1") == "2001:db8::1"
    assert proxies.client_address("127.0.0.1", "203.0.113.5") == "127.0.0.1"  # loopback not listed here


def test_trusted_proxies_setting(settings_with, monkeypatch) -> None:
    monkeypatch.setenv("FERRY_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1")
    assert settings_with().trusted_proxies == ["10.0.0.0/8", "192.0.2.1"]
    with pytest.raises(ValueError, match="not an IP address or network: 'edge'"):
        settings_with(trusted_proxies="edge")


async def test_sign_in_throttling_uses_the_resolved_address(settings_with, serve) -> None:
    settings = settings_with(login_max_failures_per_address=3)
    async with serve(settings) as connect:
        edge, direct = connect("127.0.0.1"), connect("203.0.113.9")
        # Behind the edge, two clients are told apart by the hop the edge added.
        for i in range(3):
            headers = {"X-Forwarded-For": "198.51.100.1"}
            response = await edge.post("/auth/login", json={"username": f"a{i}", "password": WRONG}, headers=headers)
            assert response.status_code == 401
        blocked = {"X-Forwarded-For": "198.51.100.1"}
        assert (
            await edge.post("/auth/login", json={"username": "z", "password": WRONG}, headers=blocked)
        ).status_code == 429
        other = {"X-Forwarded-For": "198.51.100.2"}
        assert (
            await edge.post("/auth/login", json={"username": "z", "password": WRONG}, headers=other)
        ).status_code == 401
        # A direct client cannot escape its count by making up X-Forwarded-For headers.
        for i in range(3):
            spoofed = {"X-Forwarded-For": f"192.0.2.{i}"}
            response = await direct.post("/auth/login", json={"username": f"b{i}", "password": WRONG}, headers=spoofed)
            assert response.status_code == 401
        fresh = {"X-Forwarded-For": "192.0.2.200"}
        response = await direct.post("/auth/login", json={"username": "y", "password": WRONG}, headers=fresh)
        assert response.status_code == 429


def test_an_untrusted_edge_is_pointed_out_once() -> None:
    proxies = TrustedProxies(["127.0.0.1/32"])
    with structlog.testing.capture_logs() as logs:
        # Already resolved by the server in front (the peer is among the hops): nothing to point out.
        assert proxies.client_address("198.51.100.1", "198.51.100.1") == "198.51.100.1"
        assert logs == []
        # An edge on another address, not listed: every client would share its address.
        assert proxies.client_address("172.18.0.5", "198.51.100.1") == "172.18.0.5"
        assert proxies.client_address("172.18.0.5", "198.51.100.2") == "172.18.0.5"
    (warning,) = logs
    assert warning["log_level"] == "warning"
    assert "FERRY_TRUSTED_PROXIES" in warning["event"]
    assert warning["peer"] == "172.18.0.5"
