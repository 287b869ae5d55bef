"""Where a webhook may go: the host is resolved at send time, every address it resolves to must be public, and
the connection goes to the address that was checked, so a DNS answer that changes between the check and the
connection (rebinding) cannot reach loopback, a private network or a cloud metadata address.

``PinnedTransport`` (an ``httpx`` transport) resolves ``request.url.host``, refuses the request
(``AddressRefused``) unless every address is global, and sends it to the first address with the original
``Host`` header and TLS server name (``sni_hostname``: the certificate is still checked against the host name).
``WEBHOOKS_ALLOW_LOOPBACK`` lets loopback through (tests, development); private, link-local, reserved,
multicast and unspecified addresses are always refused. The scheme is checked again here too (``https`` only
unless ``WEBHOOKS_ALLOW_HTTP``), so an endpoint saved while http was allowed is refused once it is not.
"""

import ipaddress
import socket

import httpx
from django.conf import settings


class AddressRefused(Exception):
    """The URL's host resolves to an address webhooks may not reach."""


def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (a function of its own so tests can replace the resolver)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def address_refusal(address: str, *, allow_loopback: bool) -> str | None:
    """Why ``address`` may not be reached, or ``None`` when it may."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return None if allow_loopback else "loopback"
    for name in ("is_unspecified", "is_link_local", "is_multicast", "is_private", "is_reserved"):
        if getattr(ip, name):
            return name[3:].replace("_", "-")
    if not ip.is_global:
        return "not global"
    return None


def checked_address(host: str, port: int) -> str:
    """The address to connect to for ``host``: every address it resolves to must be allowed."""
    allow_loopback = settings.WEBHOOKS_ALLOW_LOOPBACK
    try:
        addresses = resolve(host, port)
    except (socket.gaierror, UnicodeError) as exc:
        raise AddressRefused(f"{host} does not resolve ({exc}).") from exc
    if not addresses:
        raise AddressRefused(f"{host} does not resolve.")
    for address in addresses:
        refusal = address_refusal(address, allow_loopback=allow_loopback)
        if refusal:
            raise AddressRefused(f"{host} resolves to {address} ({refusal}); webhooks go to public addresses only.")
    return addresses[0]


class PinnedTransport(httpx.HTTPTransport):
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != "https" and not settings.WEBHOOKS_ALLOW_HTTP:
            raise AddressRefused(f"{request.url.scheme}:// URLs are refused; webhooks go to https:// only.")
        host = request.url.host
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        address = checked_address(host, port)
        # httpx already set the Host header from the URL; only the connection's target changes.
        request.url = request.url.copy_with(host=address)
        if request.url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": host}
        return super().handle_request(request)
