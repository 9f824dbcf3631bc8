"""Which URLs may be fetched: the rules that keep a URL from reaching the host's private network (SSRF).

A URL is checked on what it says (scheme, host, user info, a host written as an address in any of
the forms inet_aton reads) before any network use, and every address a host resolves to is checked
before a connection is made to it (index/ingest/fetch.py's resolver). Private networks are allowed only
by the policy (`ARTICLEBOT_ALLOW_PRIVATE_URLS`); link-local (cloud metadata), multicast and
unspecified addresses never are.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: Turns a host and port into addresses (blocking; run off the event loop).
Resolver = Callable[[str, int], Sequence[IPAddress]]
_TRUE = frozenset({"1", "true", "yes"})

_PRIVATE = tuple(map(ipaddress.ip_network, ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")))
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_V4_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Not globally reachable, yet Python 3.11's is_global says they are.
_V6_NOT_GLOBAL = tuple(map(ipaddress.ip_network, ("64:ff9b:1::/48", "fec0::/10", "5f00::/16", "3fff::/20")))
# Even an intranet deployment has no articles on these; 169.254.169.254 is the cloud metadata service.
_NEVER_ALLOWED = frozenset({"unspecified", "link-local", "multicast"})

_HOSTNAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?\Z")
_NUMERIC_LABEL = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)\Z")
_UNSAFE_CHARS = re.compile(r"[\x00-\x20\x7f]")
# RFC 3986 characters that may stay as they are in a path and query; everything else is escaped.
_PATH_SAFE = "!$&'()*+,;=:@/?%"


class FetchError(ValueError):
    """A URL could not be fetched as an article; the message says why in one line."""


@dataclass(frozen=True)
class FetchPolicy:
    """What `fetch` may reach and how much it may spend doing so."""

    #: Also reach loopback and private networks (intranets); link-local, multicast and 0.0.0.0 stay refused.
    allow_private: bool = False
    max_bytes: int = 5_000_000
    #: Seconds for the whole fetch: every hop's connect, headers and body together.
    timeout: float = 10.0
    max_redirects: int = 5
    #: Connections open to one host at a time (feeds and watched channels fetch many pages of one site).
    per_host: int = 2
    user_agent: str = "articlebot/0.1 (+https://github.com/articlebot)"
    #: Networks treated as public; only for tests that serve a "public" site on a loopback address.
    extra_public: tuple[IPNetwork, ...] = ()
    #: Turns a host and port into addresses; None means the system resolver (getaddrinfo).
    resolver: Resolver | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> FetchPolicy:
        """Read ARTICLEBOT_ALLOW_PRIVATE_URLS from `env` (default: the process environment)."""
        env = os.environ if env is None else env
        return cls(allow_private=env.get("ARTICLEBOT_ALLOW_PRIVATE_URLS", "").strip().lower() in _TRUE)


@dataclass(frozen=True)
class Target:
    """One URL checked on syntax and split into what a request to it needs."""

    tls: bool
    host: str
    port: int
    host_header: str
    path: str
    literal: IPAddress | None


def check_url(url: str, policy: FetchPolicy) -> None:
    """Refuse `url` on what it says alone (scheme, host, user info, literal addresses), without any network."""
    parse_url(url, policy)


def parse_url(url: str, policy: FetchPolicy) -> Target:
    """Check `url` without touching the network (a literal address against `policy` too) and split it."""
    if _UNSAFE_CHARS.search(url):
        raise FetchError("refused: the URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise FetchError("refused: not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise FetchError("refused: only http:// and https:// URLs can be fetched")
    if "@" in parts.netloc:
        raise FetchError("refused: URLs with a user name or password are not allowed")
    if not parts.hostname:
        raise FetchError("refused: the URL has no host")
    if port == 0:
        raise FetchError("refused: port 0 is not a valid port")
    host, literal = _host(parts.hostname)
    if literal is not None:
        check_addresses(host, [literal], policy, verb="means")
    default_port = 443 if parts.scheme == "https" else 80
    host_header = f"[{host}]" if literal is not None and literal.version == 6 else host
    if port is not None and port != default_port:
        host_header += f":{port}"
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(
        parts.scheme == "https", host, port or default_port, host_header, quote(path, safe=_PATH_SAFE), literal
    )


def _host(hostname: str) -> tuple[str, IPAddress | None]:
    """Return the host in ASCII and, when it is written as an address, that address."""
    if ":" in hostname:
        # A zone ("%eth0") only ever goes with a link-local address, which is never an article host.
        try:
            if "%" not in hostname:
                return hostname, ipaddress.IPv6Address(hostname)
        except ValueError:
            pass
        raise FetchError(f"refused: invalid host {hostname!r}")
    try:
        # IDNA also folds look-alikes such as full-width digits, so the numeric check below sees them.
        ascii_host = hostname if hostname.isascii() else hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise FetchError(f"refused: invalid host {hostname!r}") from None
    if (
        len(ascii_host) > 253
        or not _HOSTNAME.match(ascii_host)
        or any(len(label) > 63 for label in ascii_host.split("."))
    ):
        raise FetchError(f"refused: invalid host {hostname!r}")
    return ascii_host, _numeric_ipv4(ascii_host)


def _numeric_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Read a host whose last label is a number as IPv4 the way inet_aton does (127.1, 0x7f000001, 0177.0.0.1)."""
    labels = host.removesuffix(".").split(".")
    if not _NUMERIC_LABEL.match(labels[-1]):
        return None
    # Like browsers, a numeric host that is not a valid address is refused rather than looked up in DNS.
    invalid = FetchError(f"refused: invalid host {host!r}")
    numbers: list[int] = []
    for label in labels:
        if label.startswith("0x"):
            base, digits = 16, label[2:] or "0"
        elif len(label) > 1 and label.startswith("0"):
            base, digits = 8, label[1:]
        else:
            base, digits = 10, label
        try:
            numbers.append(int(digits, base))
        except ValueError:
            raise invalid from None
    *leading, last = numbers
    if len(numbers) > 4 or any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        raise invalid
    value = last
    for position, number in enumerate(leading):
        value += number << (8 * (3 - position))
    return ipaddress.IPv4Address(value)


def check_addresses(host: str, addresses: Sequence[IPAddress], policy: FetchPolicy, verb: str) -> None:
    """Refuse unless every address may be reached under `policy`; `verb` links host and address in the message."""
    for address in addresses:
        if any(address in network for network in policy.extra_public):
            continue
        kind = _kind(address)
        if kind is None or (policy.allow_private and kind not in _NEVER_ALLOWED):
            continue
        kind = f"{'an' if kind[0] in 'aeiouAEIOU' else 'a'} {kind}"
        if str(address) == host:
            raise FetchError(f"refused: {address} is {kind} address")
        raise FetchError(f"refused: {host} {verb} {address}, {kind} address")


def _kind(address: IPAddress) -> str | None:
    """Name the kind of non-public address this is, or return None for a public one."""
    if isinstance(address, ipaddress.IPv6Address):
        # Addresses that carry an IPv4 address reach that address, so they are judged by it.
        if address.ipv4_mapped is not None:
            return _kind(address.ipv4_mapped) or "IPv4-mapped"
        if address in _V4_COMPATIBLE and not (address.is_unspecified or address.is_loopback):
            return "IPv4-compatible"
        if address.teredo is not None:
            return "Teredo"
        if address.sixtofour is not None:
            return _kind(address.sixtofour)
        if address in _NAT64:
            return _kind(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if any(address in network for network in _V6_NOT_GLOBAL):
            return "reserved"
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    # is_global misses multicast, so it is checked on its own.
    if address.is_multicast:
        return "multicast"
    if any(address in network for network in _PRIVATE):
        return "private"
    if address in _CGNAT:
        return "carrier-grade NAT"
    return None if address.is_global else "reserved"
