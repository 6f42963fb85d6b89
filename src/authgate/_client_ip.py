"""The client address a request counts against (rate limits, audit lines) and its rate-limit
bucket. Written here rather than taken from a proxy-headers middleware because the rule is
security-relevant: only `trusted_proxies` may speak for the client, and only right to left."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from ._errors import Configuration

__all__ = ["client_ip", "ip_key", "parse_networks"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_ip(scope: Mapping[str, Any], trusted_proxies: Sequence[str]) -> str | None:
    """The address to count a request against.

    The socket peer, unless the peer is a trusted proxy: then the right-most `X-Forwarded-For`
    entry that is not itself a trusted proxy. Entries left of it were written by the client and
    are never believed. A malformed entry stops the walk at the last address that parsed.
    """
    client = scope.get("client")
    peer: str | None = client[0] if client and isinstance(client[0], str) else None
    if not peer or not trusted_proxies:
        return peer
    networks = parse_networks(tuple(trusted_proxies))
    current = _parse_ip(peer)
    if current is None or not _is_trusted(current, networks):
        return peer
    forwarded = [
        value.decode("latin-1") for name, value in scope.get("headers", ()) if name.lower() == b"x-forwarded-for"
    ]
    for entry in reversed(",".join(forwarded).split(",")):
        hop = _parse_ip(entry.strip())
        if hop is None:
            break
        current = hop
        if not _is_trusted(hop, networks):
            break
    return str(current)


def ip_key(ip: str | None) -> str:
    """The rate limit bucket of an address: IPv4 as is, IPv6 by its /64 (one host usually owns a
    whole /64), IPv4-mapped IPv6 as the IPv4, anything else "unknown"."""
    address = _parse_ip(ip) if ip else None
    if address is None:
        return "unknown"
    if isinstance(address, ipaddress.IPv4Address):
        return str(address)
    return str(ipaddress.IPv6Network((int(address), 64), strict=False))


def _parse_ip(value: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.scope_id:
            address = ipaddress.IPv6Address(int(address))
    return address


def _is_trusted(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    return any(address in network for network in networks)


@functools.lru_cache(maxsize=64)
def parse_networks(values: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise Configuration(f"trusted_proxies entry {value!r} is not an IP address or CIDR") from None
    return tuple(networks)
