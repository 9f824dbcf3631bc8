"""Fetch an article by URL without letting the URL reach the host's private network (SSRF).

Every hop is checked from scratch: http(s) only, the host resolved once, every address public,
and the connection made to exactly the address that was checked.
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import os
import re
import socket
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import quote, urljoin, urlsplit

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[IPAddress]]

ARTICLE_TYPES = frozenset({"text/html", "application/xhtml+xml", "text/plain", "text/markdown", "text/x-markdown"})
_ACCEPT = "text/html, application/xhtml+xml, text/markdown, text/plain;q=0.9"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_TRUE = frozenset({"1", "true", "yes"})
_CHUNK = 64 * 1024

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
class Fetched:
    """An article's bytes as served, with the URL they finally came from."""

    url: str
    content: bytes
    content_type: str
    charset: str | None


@dataclass(frozen=True)
class _Target:
    """One URL checked on syntax and split into what a request to it needs."""

    tls: bool
    host: str
    port: int
    host_header: str
    path: str
    literal: IPAddress | None


def check_url(url: str, policy: FetchPolicy) -> None:
    """Refuse `url` on what it says alone (scheme, host, user info, literal addresses), without any network."""
    _parse(url, policy)


def fetch(url: str, policy: FetchPolicy = FetchPolicy()) -> Fetched:
    """Download `url` as an article under `policy`, following redirects; blocking, so run it in a thread."""
    deadline = time.monotonic() + policy.timeout
    try:
        for _ in range(policy.max_redirects + 1):
            result = _fetch_once(url, policy, deadline)
            if isinstance(result, Fetched):
                return result
            url = urljoin(url, result)
    except TimeoutError:
        raise FetchError(f"timed out after {policy.timeout:g} s") from None
    except ssl.SSLCertVerificationError as exc:
        raise FetchError(f"unreachable: TLS certificate not accepted ({exc.verify_message})") from None
    except ssl.SSLError as exc:
        raise FetchError(f"unreachable: TLS failed ({exc.reason or exc})") from None
    except http.client.RemoteDisconnected:
        raise FetchError("unreachable: the server closed the connection without answering") from None
    except http.client.IncompleteRead:
        raise FetchError("incomplete response: the connection closed before the end") from None
    except http.client.HTTPException as exc:
        raise FetchError(f"bad response: {str(exc)[:100] or type(exc).__name__}") from None
    except OSError as exc:
        raise FetchError(f"unreachable: {(exc.strerror or str(exc) or type(exc).__name__).lower()}") from None
    raise FetchError(f"too many redirects ({policy.max_redirects})")


def _fetch_once(url: str, policy: FetchPolicy, deadline: float) -> Fetched | str:
    """Make one request; return the article, or the Location a redirect points to."""
    target = _parse(url, policy)
    connection = _PinnedConnection(target, _resolve(target, policy), deadline)
    try:
        connection.putrequest("GET", target.path, skip_host=True, skip_accept_encoding=True)
        for name, value in (("Host", target.host_header), ("User-Agent", policy.user_agent),
                            ("Accept", _ACCEPT), ("Accept-Encoding", "identity"), ("Connection", "close")):
            connection.putheader(name, value)
        connection.endheaders()
        with connection.getresponse() as response:
            if response.status in _REDIRECTS:
                location = response.getheader("Location")
                if not location:
                    raise FetchError(f"HTTP {response.status} redirect without a Location")
                return location
            if not 200 <= response.status < 300:
                raise FetchError(_status_text(response.status))
            content_type, charset = _article_type(response)
            return Fetched(url, _read_body(response, policy.max_bytes), content_type, charset)
    finally:
        connection.close()


def _parse(url: str, policy: FetchPolicy) -> _Target:
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
        _check_addresses(host, [literal], policy, verb="means")
    default_port = 443 if parts.scheme == "https" else 80
    host_header = f"[{host}]" if literal is not None and literal.version == 6 else host
    if port is not None and port != default_port:
        host_header += f":{port}"
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return _Target(parts.scheme == "https", host, port or default_port, host_header, quote(path, safe=_PATH_SAFE),
                   literal)


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
    if len(ascii_host) > 253 or not _HOSTNAME.match(ascii_host):
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


def _resolve(target: _Target, policy: FetchPolicy) -> list[IPAddress]:
    """Resolve the host once and return its addresses, refusing them all if any is not public."""
    if target.literal is not None:
        return [target.literal]  # already checked by _parse
    resolver = policy.resolver or _system_resolver
    try:
        addresses = list(dict.fromkeys(resolver(target.host, target.port)))
    except OSError:
        raise FetchError(f"unreachable: cannot resolve {target.host}") from None
    if not addresses:
        raise FetchError(f"unreachable: cannot resolve {target.host}")
    _check_addresses(target.host, addresses, policy, verb="resolves to")
    return addresses


def _system_resolver(host: str, port: int) -> list[IPAddress]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0]) for info in infos]


def _check_addresses(host: str, addresses: Sequence[IPAddress], policy: FetchPolicy, verb: str) -> None:
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


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to addresses checked beforehand, so DNS is never asked a second time."""

    def __init__(self, target: _Target, addresses: list[IPAddress], deadline: float) -> None:
        super().__init__(target.host, target.port)
        self._tls = target.tls
        self._addresses = addresses
        self._deadline = deadline

    def connect(self) -> None:
        sock = self._open()
        if self._tls:
            try:
                sock.settimeout(_remaining(self._deadline))
                # Verified against the URL's host name, not the address connected to.
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
            except BaseException:
                sock.close()
                raise
        self.sock = _DeadlineSocket(sock, self._deadline)

    def _open(self) -> socket.socket:
        error: OSError | None = None
        for address in self._addresses:
            try:
                return socket.create_connection((str(address), self.port), _remaining(self._deadline))
            except TimeoutError:
                raise  # that attempt was given all the time left
            except OSError as exc:
                error = exc
        assert error is not None  # _resolve never returns an empty list
        raise error


class _DeadlineSocket:
    """A socket for http.client whose every send and receive must end by the fetch's deadline.

    Per-operation socket timeouts alone would let a server that drips a byte at a time go on forever.
    """

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def arm(self) -> None:
        self._sock.settimeout(_remaining(self._deadline))

    def sendall(self, data: bytes) -> None:
        self.arm()
        self._sock.sendall(data)

    def makefile(self, mode: str) -> io.BufferedReader:
        # Unbuffered makefile keeps the socket's reference count, so closing the connection early
        # (as http.client does for "Connection: close") leaves the socket open for the response.
        return io.BufferedReader(_DeadlineReader(self._sock.makefile(mode, buffering=0), self))

    def close(self) -> None:
        self._sock.close()


class _DeadlineReader(io.RawIOBase):
    """Raw reads from a socket, each first given only the time left before the deadline."""

    def __init__(self, raw: io.RawIOBase, owner: _DeadlineSocket) -> None:
        super().__init__()
        self._raw = raw
        self._owner = owner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int | None:
        self._owner.arm()
        return self._raw.readinto(buffer)

    def close(self) -> None:
        self._raw.close()
        super().close()


def _status_text(status: int) -> str:
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def _article_type(response: http.client.HTTPResponse) -> tuple[str, str | None]:
    """Return the response's media type and charset, refusing what cannot be an article."""
    encoding = response.getheader("Content-Encoding", "identity").strip().lower()
    if encoding != "identity":
        # We asked for identity; compressed bytes would reach the parser as garbage.
        raise FetchError(f"not an article: content encoding {encoding[:40]}")
    raw = response.headers.get("Content-Type")
    if raw is None:
        raise FetchError("not an article: no content type")
    content_type = raw.split(";", 1)[0].strip().lower()
    if content_type not in ARTICLE_TYPES:
        raise FetchError(f"not an article: content type {content_type[:60] or 'empty'}")
    return content_type, response.headers.get_content_charset()


def _read_body(response: http.client.HTTPResponse, max_bytes: int) -> bytes:
    """Read the body, stopping as soon as more than `max_bytes` have arrived."""
    too_large = FetchError(f"too large: more than {max_bytes:,} bytes")
    if response.length is not None and response.length > max_bytes:
        raise too_large
    body = bytearray()
    while chunk := response.read1(min(_CHUNK, max_bytes + 1 - len(body))):
        body += chunk
        if len(body) > max_bytes:
            raise too_large
    if response.length:  # read1 reports a body cut short by the server as a quiet end
        raise http.client.IncompleteRead(bytes(body), response.length)
    return bytes(body)
