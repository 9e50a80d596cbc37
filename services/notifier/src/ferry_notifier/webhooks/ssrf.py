"""Which webhook URLs may be called, and a connection that goes only to the address that was checked.

An endpoint's URL is checked when it is registered or changed (``check_url``) and again
at every attempt (``resolve``), because what a name resolves to can change at any time.
The sender then connects through ``PinnedBackend``: the TCP connection goes to one of
the addresses ``resolve`` checked, while the Host header, the TLS server name and the
certificate check keep the URL's name. A second DNS lookup between the check and the
connection (DNS rebinding) therefore never happens.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

ALLOWED_SCHEMES = ("http", "https")
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeUrl(ValueError):
    """A URL the notifier will not call: another scheme, credentials in it, or an address that is not public."""


@dataclass(frozen=True)
class Target:
    """A URL whose host was resolved and whose every address was found acceptable."""

    url: str
    host: str
    """The host as it goes on the wire (IDNA-encoded; an IPv6 literal without brackets)."""
    port: int
    addresses: tuple[str, ...]


def is_public(address: IpAddress) -> bool:
    """Whether ``address`` is reachable on the public internet (an IPv4-mapped IPv6 address counts as its IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        # is_global also excludes what the checks above miss, such as 100.64.0.0/10 (carrier-grade NAT).
        or not address.is_global
    )


def parse(url: str) -> tuple[str, int]:
    """The host and port of an acceptable ``http``/``https`` URL without credentials; ``UnsafeUrl`` otherwise."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise UnsafeUrl(f"not a valid URL: {exc}") from exc
    if parsed.scheme not in ALLOWED_SCHEMES:
        raise UnsafeUrl("only http and https URLs can receive webhooks")
    if parsed.userinfo:
        raise UnsafeUrl("a webhook URL may not carry credentials")
    host = parsed.raw_host.decode("ascii")
    if not host:
        raise UnsafeUrl("a webhook URL needs a host")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return host, port


async def resolve(url: str, *, allow_private: bool) -> Target:
    """Resolve ``url``'s host and check every address it has; ``UnsafeUrl`` if one may not be called."""
    host, port = parse(url)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UnsafeUrl(f"{host} does not resolve") from exc
    addresses = _unique(str(info[4][0]) for info in infos)
    if not addresses:
        raise UnsafeUrl(f"{host} does not resolve")
    if not allow_private:
        for text in addresses:
            if not is_public(ipaddress.ip_address(text.split("%", 1)[0])):  # without an IPv6 zone (%eth0)
                named = host if host == text else f"{host} resolves to {text}, which"
                raise UnsafeUrl(f"{named} is not a public address")
    return Target(url=url, host=host, port=port, addresses=addresses)


async def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse (``UnsafeUrl``) a URL the notifier may not call; used when an endpoint is registered or changed."""
    await resolve(url, allow_private=allow_private)


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """A network backend that connects to ``target``'s checked addresses only, and to nothing else.

    httpcore asks it for a TCP stream to the URL's host and then starts TLS over that
    stream with the URL's name, so the server name and certificate check are unchanged.
    """

    def __init__(self, target: Target) -> None:
        self._target = target
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if host != self._target.host or port != self._target.port:
            # Only a redirect could ask for another origin, and redirects are not followed.
            raise httpcore.ConnectError(f"{host}:{port} was not checked")
        error: Exception | None = None
        for address in self._target.addresses:  # in the resolver's order, as a normal connect would
            try:
                return await self._backend.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None  # resolve() never returns a target without addresses
        raise error

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks never connect to a Unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)
