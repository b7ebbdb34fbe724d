"""Who the client is behind a proxy: ``X-Forwarded-For`` and ``X-Forwarded-Proto``, believed only
when the direct peer is one of the trusted proxies (``--trusted-proxies``).

Tornado's ``HTTPServer(xheaders=True)`` believes these headers from anyone, so any client could
write any address into the log; here they count only from a trusted peer, and the client is the
right-most address of X-Forwarded-For that is not itself a trusted proxy (each proxy appends the
address it saw, so everything left of the first untrusted hop is the client's own claim).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable

from tornado import httputil

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(text: str) -> tuple[Network, ...]:
    """``10.0.0.1, 10.1.0.0/16, ::1``: addresses or networks, comma-separated; ValueError says
    which one is wrong."""
    networks = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(
                f"{part!r} is not an IP address or network; write e.g. 10.0.0.5,192.168.0.0/16,::1"
            ) from None
    return tuple(networks)


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class Forwarded:
    """Resolves a request's client address and scheme for the access log and the metrics."""

    def __init__(self, trusted: Iterable[Network]) -> None:
        self.trusted = tuple(trusted)
        self.is_trusted = functools.lru_cache(maxsize=1024)(self._is_trusted)

    def _is_trusted(self, text: str) -> bool:
        address = _address(text)
        return address is not None and any(address in network for network in self.trusted)

    def client(self, request: httputil.HTTPServerRequest) -> tuple[str, str]:
        """(client address, scheme) of ``request``: the peer's own unless the peer is trusted."""
        peer = request.remote_ip or "-"
        if not self.trusted or not self.is_trusted(peer):
            return peer, request.protocol
        client = peer
        forwarded_for = request.headers.get_list("X-Forwarded-For")
        hops = [hop for line in forwarded_for for hop in line.split(",")]
        for hop in reversed(hops):
            address = _address(hop)
            if address is None:
                break  # garbage: nothing further left can be believed; keep the last good hop
            client = str(address)
            if not self.is_trusted(client):
                break
        scheme = request.protocol
        proto = request.headers.get("X-Forwarded-Proto")
        if proto:
            claimed = proto.split(",")[-1].strip().lower()
            if claimed in ("http", "https"):
                scheme = claimed
        return client, scheme
