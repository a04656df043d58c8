"""ICE host candidates limited to configured addresses.

aioice offers every address of every interface and leaves 127.0.0.1 out. The console offers
only the configured ones, plus 127.0.0.1 (a browser on the server itself, and the tests).
aioice looks its module function `get_host_addresses` up at each gathering, so replacing it
applies to every peer connection of this process.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable, Sequence

import aioice.ice
import ifaddr

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


def host_addresses(configured: Iterable[str], available: Iterable[str]) -> list[str]:
    """127.0.0.1 and the configured addresses present on this host, in order, no duplicates."""
    present = {ipaddress.ip_address(address) for address in available}
    chosen: list[str] = [LOOPBACK]
    for text in configured:
        address = ipaddress.ip_address(text)
        if address not in present:
            log.warning("live view: ICE address %s is not an address of this host; skipped", text)
            continue
        if str(address) not in chosen:
            chosen.append(str(address))
    return chosen


def local_addresses() -> list[str]:
    """Every IPv4 and IPv6 address of this host's interfaces."""
    found: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            found.append(ip.ip if isinstance(ip.ip, str) else ip.ip[0])
    return found


def restrict_ice(configured: Sequence[str]) -> list[str]:
    """Make aioice gather host candidates on these addresses only; returns them."""
    chosen = host_addresses(configured, [*local_addresses(), LOOPBACK])

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [
            address
            for address in chosen
            if (use_ipv4 and ipaddress.ip_address(address).version == 4)
            or (use_ipv6 and ipaddress.ip_address(address).version == 6)
        ]

    aioice.ice.get_host_addresses = get_host_addresses
    log.info("live view: ICE host candidates on %s", ", ".join(chosen))
    return chosen
