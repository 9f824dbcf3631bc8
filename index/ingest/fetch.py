"""Fetch an article (or a feed) by URL on aiohttp, under the URL safety rules (index/ingest/url_safety.py).

Every hop is checked from scratch: the URL on its own, then each address its host resolves to, in
the resolver the connection uses, so the address checked is the address connected to (a DNS answer
that changes between a check and a connect cannot reach the private network). Redirects are followed
one by one, each checked again; one deadline covers the whole fetch, redirects included; reading
stops past the byte cap. One `Fetcher` (one aiohttp session) serves many fetches at once, a few
connections per host at a time.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urljoin

from .url_safety import (
    FetchError,
    FetchPolicy,
    IPAddress,
    IPNetwork,
    Resolver,
    Target,
    check_addresses,
    check_url,
    parse_url,
)

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "ARTICLE_TYPES",
    "FEED_TYPES",
    "FetchError",
    "FetchPolicy",
    "Fetched",
    "Fetcher",
    "IPAddress",
    "IPNetwork",
    "Resolver",
    "check_url",
    "fetch",
]

ARTICLE_TYPES = frozenset(
    {"text/html", "application/xhtml+xml", "text/plain", "text/markdown", "text/x-markdown", "application/pdf"}
)
FEED_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/rdf+xml",
        "application/xml",
        "text/xml",
        "application/feed+json",
    }
)
_ACCEPT = {
    ARTICLE_TYPES: "text/html, application/xhtml+xml, text/markdown, text/plain;q=0.9, application/pdf;q=0.8",
    FEED_TYPES: "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9",
}
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Fetched:
    """What a URL served, with the URL it finally came from and what a conditional request needs next time."""

    url: str
    content: bytes
    content_type: str
    charset: str | None
    etag: str = ""
    last_modified: str = ""
    #: The server said nothing changed since the `etag` / `last_modified` sent (HTTP 304); no content.
    not_modified: bool = False


class Fetcher:
    """Fetches under one policy with one aiohttp session; use it from one event loop, then `close` it."""

    def __init__(self, policy: FetchPolicy = FetchPolicy()) -> None:
        self.policy = policy
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _open(self) -> aiohttp.ClientSession:
        import aiohttp

        if self._session is None:
            connector = aiohttp.TCPConnector(
                resolver=cast(Any, _CheckingResolver(self.policy)),
                use_dns_cache=False,  # every hop is resolved and checked anew
                limit=64,
                limit_per_host=self.policy.per_host,
                force_close=True,
                ssl=ssl.create_default_context(),
            )  # built here so that SSL_CERT_FILE is read now (tests set it)
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                trust_env=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=None),
            )  # the deadline is ours, over all hops
        return self._session

    async def fetch(
        self, url: str, accept: frozenset[str] = ARTICLE_TYPES, etag: str = "", last_modified: str = ""
    ) -> Fetched:
        """Download `url`, following redirects, if it serves one of the `accept` types; FetchError says why not.

        Args:
            etag, last_modified: what an earlier fetch of it returned: the request is then conditional,
                and an unchanged resource comes back as `not_modified`.
        """
        import aiohttp

        policy = self.policy
        headers = {
            "User-Agent": policy.user_agent,
            "Accept": _ACCEPT.get(accept, "*/*"),
            "Accept-Encoding": "identity",
            "Connection": "close",
        }
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            async with asyncio.timeout(policy.timeout):
                for _ in range(policy.max_redirects + 1):
                    result = await self._fetch_once(url, accept, headers)
                    if isinstance(result, Fetched):
                        return result
                    url = urljoin(url, result)
        except TimeoutError:
            raise FetchError(f"timed out after {policy.timeout:g} s") from None
        except aiohttp.ClientConnectorCertificateError as exc:
            reason = getattr(exc.certificate_error, "verify_message", "") or exc.certificate_error
            raise FetchError(f"unreachable: TLS certificate not accepted ({reason})") from None
        except aiohttp.ClientConnectorSSLError as exc:
            raise FetchError(f"unreachable: TLS failed ({exc.os_error})") from None
        except aiohttp.ClientConnectorError as exc:
            raise FetchError(f"unreachable: {_os_reason(exc.os_error)}") from None
        except aiohttp.ServerDisconnectedError:
            raise FetchError("unreachable: the server closed the connection without answering") from None
        except aiohttp.ClientPayloadError:
            raise FetchError("incomplete response: the connection closed before the end") from None
        except (aiohttp.ClientResponseError, aiohttp.InvalidURL) as exc:
            raise FetchError(f"bad response: {str(exc)[:100] or type(exc).__name__}") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise FetchError(f"unreachable: {_os_reason(exc)}") from None
        raise FetchError(f"too many redirects ({policy.max_redirects})")

    async def _fetch_once(self, url: str, accept: frozenset[str], headers: Mapping[str, str]) -> Fetched | str:
        """Make one request; return what it served, or the Location a redirect points to."""
        import yarl

        target = parse_url(url, self.policy)
        request_url = yarl.URL(_request_url(target), encoded=True)
        async with self._open().get(
            request_url, headers={**headers, "Host": target.host_header}, allow_redirects=False
        ) as response:
            if response.status in _REDIRECTS:
                location = response.headers.get("Location")
                if not location:
                    raise FetchError(f"HTTP {response.status} redirect without a Location")
                return location
            if response.status == 304 and ("If-None-Match" in headers or "If-Modified-Since" in headers):
                return Fetched(
                    url,
                    b"",
                    "",
                    None,
                    headers.get("If-None-Match", ""),
                    headers.get("If-Modified-Since", ""),
                    not_modified=True,
                )
            if not 200 <= response.status < 300:
                raise FetchError(_status_text(response.status))
            content_type, charset = _served_type(response, accept)
            return Fetched(
                url,
                await _read_body(response, self.policy.max_bytes),
                content_type,
                charset,
                response.headers.get("ETag", ""),
                response.headers.get("Last-Modified", ""),
            )


def fetch(url: str, policy: FetchPolicy = FetchPolicy(), accept: frozenset[str] = ARTICLE_TYPES) -> Fetched:
    """`Fetcher.fetch` for code without an event loop (the command line, worker threads)."""

    async def once() -> Fetched:
        async with Fetcher(policy) as fetcher:
            return await fetcher.fetch(url, accept)

    return asyncio.run(once())


def _request_url(target: Target) -> str:
    # The host as checked (IDNA, an IPv6 literal in brackets) and the path as escaped by parse_url.
    host = f"[{target.host}]" if target.literal is not None and target.literal.version == 6 else target.host
    return f"{'https' if target.tls else 'http'}://{host}:{target.port}{target.path}"


class _CheckingResolver:
    """aiohttp's resolver, refusing a host if any address it resolves to may not be reached: the
    connection is made only to addresses that passed."""

    def __init__(self, policy: FetchPolicy) -> None:
        self.policy = policy

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        try:
            if self.policy.resolver is not None:
                addresses = list(await loop.run_in_executor(None, self.policy.resolver, host, port))
            else:
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
                addresses = [_address(str(info[4][0])) for info in infos]
        except (OSError, UnicodeError):  # UnicodeError: a name the resolver's IDNA codec refuses
            raise FetchError(f"unreachable: cannot resolve {host}") from None
        addresses = list(dict.fromkeys(addresses))
        if not addresses:
            raise FetchError(f"unreachable: cannot resolve {host}")
        check_addresses(host, addresses, self.policy, verb="resolves to")
        return [
            {
                "hostname": host,
                "host": str(a),
                "port": port,
                "proto": socket.IPPROTO_TCP,
                "flags": 0,
                "family": socket.AF_INET6 if a.version == 6 else socket.AF_INET,
            }
            for a in addresses
        ]

    async def close(self) -> None:
        pass


def _address(text: str) -> IPAddress:
    import ipaddress

    return ipaddress.ip_address(text.split("%", 1)[0])


def _os_reason(exc: BaseException) -> str:
    errno = getattr(exc, "errno", None)
    if errno:
        return os.strerror(errno).lower()
    return (str(exc) or type(exc).__name__).lower()[:100]


def _status_text(status: int) -> str:
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def _served_type(response: aiohttp.ClientResponse, accept: frozenset[str]) -> tuple[str, str | None]:
    """The response's media type and charset, refusing what is not one of `accept`."""
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding != "identity":
        # We asked for identity; compressed bytes would reach the parser as garbage.
        raise FetchError(f"not {_what(accept)}: content encoding {encoding[:40]}")
    if "Content-Type" not in response.headers:
        raise FetchError(f"not {_what(accept)}: no content type")
    content_type = response.content_type.lower()
    if content_type not in accept:
        raise FetchError(f"not {_what(accept)}: content type {content_type[:60] or 'empty'}")
    return content_type, (response.charset or "").lower() or None


def _what(accept: frozenset[str]) -> str:
    return "a feed" if accept is FEED_TYPES else "an article"


async def _read_body(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """Read the body, stopping as soon as more than `max_bytes` have arrived."""
    too_large = FetchError(f"too large: more than {max_bytes:,} bytes")
    if response.content_length is not None and response.content_length > max_bytes:
        raise too_large
    body = bytearray()
    async for chunk in response.content.iter_chunked(_CHUNK):
        body += chunk
        if len(body) > max_bytes:
            raise too_large
    return bytes(body)
