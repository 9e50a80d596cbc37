"""The address a request comes from, believing ``X-Forwarded-For`` only as far as trusted proxies vouch for it.

Proxies append the address they received a request from, so the header is read
right to left: each hop that is a trusted proxy passed the request on, and the
first hop that is not is the client. Anything further left was written by the
client itself and could be anything, so it is never used (taking the leftmost hop
would let a client pick a new address for every request).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

import structlog

log = structlog.get_logger(__name__)

_IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
UNKNOWN = "unknown"


def _ip(value: str) -> _IpAddress | None:
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    # An IPv4 client reached over an IPv6 socket shows up as ::ffff:a.b.c.d; count it as a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    """The proxies whose ``X-Forwarded-For`` is believed, and the resolution of a request's client address."""

    def __init__(self, networks: Iterable[str]) -> None:
        self._networks = [ipaddress.ip_network(network, strict=False) for network in networks]
        self._warned = False

    def trusts(self, address: _IpAddress) -> bool:
        return any(address.version == network.version and address in network for network in self._networks)

    def client_address(self, peer: str | None, forwarded_for: str | None) -> str:
        """The client's address, from the socket peer and the ``X-Forwarded-For`` header (if any)."""
        address = _ip(peer) if peer else None
        if address is None:
            return peer or UNKNOWN
        if not forwarded_for:
            return str(address)
        hops = forwarded_for.split(",")
        if not self.trusts(address):
            # A server in front that already resolved the header (uvicorn's proxy_headers) leaves the
            # peer among the hops; an edge that is not listed as trusted does not.
            if str(address) not in {str(_ip(hop)) for hop in hops}:
                self._warn_once(str(address))
            return str(address)
        for hop in reversed(hops):
            hop_address = _ip(hop)
            if hop_address is None:
                break  # garbage can only come from the client; the last proxy's peer is the best we know
            address = hop_address
            if not self.trusts(address):
                break
        return str(address)

    def _warn_once(self, peer: str) -> None:
        if not self._warned:
            self._warned = True
            log.warning(
                "X-Forwarded-For from a peer that is not a trusted proxy is ignored; "
                "if this is the edge proxy, add it to FERRY_TRUSTED_PROXIES",
                peer=peer,
            )
