"""fetch() on aiohttp: public http(s) addresses only, connections pinned to the checked address, bounded size and time.

Every server here listens on 127.0.0.x, and an autouse guard fails any test whose code tries to
connect anywhere else, so a hostile URL can never produce a packet off this machine.
"""

from __future__ import annotations

import contextlib
import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socketserver import TCPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from index.ingest.fetch import Fetched, FetchError, FetchPolicy, IPAddress, check_url, fetch

ARTICLE = (
    "<html><head><title>Harbour fire</title></head><body>"
    "<p>Smoke rose over the harbour at dawn, witnesses said. — Straße</p></body></html>"
).encode()
#: 127.0.0.2 plays a public news site; 127.0.0.1 plays the host's private network.
PUBLIC_LOOPBACK = (ipaddress.ip_network("127.0.0.2/32"),)
PUBLIC = FetchPolicy(extra_public=PUBLIC_LOOPBACK)


# ---------------------------------------------------------------------------------------------
# Guards and fakes


@pytest.fixture(autouse=True)
def connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Record every outgoing connection; one to a non-loopback address fails before a packet leaves."""
    attempts: list[tuple[str, int]] = []
    real_connect = socket.socket.connect

    def guarded(sock: socket.socket, address: tuple[str, int]) -> None:
        attempts.append((address[0], address[1]))
        if not ipaddress.ip_address(address[0]).is_loopback:
            raise AssertionError(f"the code under test tried to connect to {address}")
        real_connect(sock, address)

    def refused(sock: socket.socket, address: tuple[str, int]) -> int:
        raise AssertionError(f"unexpected connect_ex to {address}")

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket.socket, "connect_ex", refused)
    return attempts


class FakeDNS:
    """A resolver that answers from `first` the first time a name is asked and from `then` after that."""

    def __init__(self, first: dict[str, list[str]], then: dict[str, list[str]] | None = None) -> None:
        self.first = first
        self.then = first if then is None else then
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[IPAddress]:
        table = self.then if any(name == host for name, _ in self.calls) else self.first
        self.calls.append((host, port))
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [ipaddress.ip_address(address) for address in table[host]]


# ---------------------------------------------------------------------------------------------
# A small site to fetch from, one per loopback address


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


class Site(ThreadingHTTPServer):
    """A test site on one loopback address; its endless responses end once `stop` is set."""

    # Handler threads are joined on close, so a test cannot leave a server thread behind.
    daemon_threads = False

    def __init__(self, host: str, tls: ssl.SSLContext | None = None) -> None:
        self.seen: list[Seen] = []
        self.sni: list[str | None] = []
        self.stop = threading.Event()
        self.tls = tls
        super().__init__((host, 0), Handler)
        if tls is not None:
            tls.sni_callback = lambda _sock, name, _ctx: self.sni.append(name)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would look the address up in reverse DNS; nothing here needs a name.
        TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[0], self.server_address[1]

    def get_request(self) -> tuple[socket.socket, object]:
        sock, address = super().get_request()
        if self.tls is not None:
            # The handshake then happens in the handler thread, where a failure stays local.
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients hanging up mid-response is what several tests are about; keep the output quiet."""

    def url(self, path: str = "/", host: str | None = None) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host or self.server_address[0]}:{self.server_port}{path}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5  # a connection nobody closes frees its thread instead of hanging teardown
    server: Site

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        self.server.seen.append(Seen(self.path, dict(self.headers.items())))
        self.close_connection = True
        route = ROUTES.get(url.path, Handler.status)
        # The client hanging up mid-response is what the size and time limits should make it do.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            route(self, query)

    def reply(
        self, status: int, body: bytes = b"", headers: Sequence[tuple[str, str]] = (), length: bool = True
    ) -> None:
        """Send a response; `length=False` leaves framing to `headers` (declared length, chunked, or close)."""
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def article(self, query: dict[str, str]) -> None:
        self.reply(200, ARTICLE, [("Content-Type", "text/html; charset=utf-8")])

    def echo(self, query: dict[str, str]) -> None:
        self.reply(200, self.headers["Host"].encode(), [("Content-Type", "text/plain")])

    def typed(self, query: dict[str, str]) -> None:
        headers = [("Content-Type", query["type"])] if "type" in query else []
        self.reply(200, b"# A title\n\nSome words of an article.", headers)

    def gzipped(self, query: dict[str, str]) -> None:
        self.reply(200, b"\x1f\x8b\x08\x00", [("Content-Type", "text/html"), ("Content-Encoding", "gzip")])

    def sized(self, query: dict[str, str]) -> None:
        self.reply(200, b"a" * int(query["n"]), [("Content-Type", "text/plain")])

    def status(self, query: dict[str, str]) -> None:
        self.reply(int(query.get("code", "404")), b"<p>nope</p>", [("Content-Type", "text/html")])

    def redirect(self, query: dict[str, str]) -> None:
        location = [("Location", query["to"])] if "to" in query else []
        self.reply(int(query.get("code", "302")), b"", location)

    def loop(self, query: dict[str, str]) -> None:
        self.reply(302, b"", [("Location", "/loop")])

    def huge_length(self, query: dict[str, str]) -> None:
        # Announces a terabyte and sends nothing: a client that tried to read it would hang.
        self.reply(200, b"", [("Content-Type", "text/html"), ("Content-Length", str(10**12))], length=False)
        self.server.stop.wait()

    def short(self, query: dict[str, str]) -> None:
        self.reply(200, b"0123456789", [("Content-Type", "text/html"), ("Content-Length", "1000")], length=False)

    def endless(self, query: dict[str, str]) -> None:
        """Stream forever: chunked, until-close, or behind a Content-Length that is far too small."""
        mode = query["mode"]
        headers = {
            "chunked": ("Transfer-Encoding", "chunked"),
            "close": ("Connection", "close"),
            "lying": ("Content-Length", "20"),
        }[mode]
        self.reply(200, b"", [("Content-Type", "text/html"), headers], length=False)
        block = b"<p>spam</p>" * 1500
        frame = b"%x\r\n%s\r\n" % (len(block), block) if mode == "chunked" else block
        while not self.server.stop.is_set():
            self.wfile.write(frame)

    def drip(self, query: dict[str, str]) -> None:
        self.reply(200, b"", [("Content-Type", "text/html"), ("Connection", "close")], length=False)
        while not self.server.stop.wait(0.2):
            self.wfile.write(b"x")

    def drip_headers(self, query: dict[str, str]) -> None:
        self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        while not self.server.stop.wait(0.2):
            self.wfile.write(b"x")

    def silent(self, query: dict[str, str]) -> None:
        self.server.stop.wait()


ROUTES: dict[str, Callable[[Handler, dict[str, str]], None]] = {
    "/article": Handler.article,
    "/echo": Handler.echo,
    "/typed": Handler.typed,
    "/gzip": Handler.gzipped,
    "/sized": Handler.sized,
    "/status": Handler.status,
    "/redirect": Handler.redirect,
    "/loop": Handler.loop,
    "/huge-length": Handler.huge_length,
    "/short": Handler.short,
    "/endless": Handler.endless,
    "/drip": Handler.drip,
    "/drip-headers": Handler.drip_headers,
    "/silent": Handler.silent,
}


def serve(host: str, tls: ssl.SSLContext | None = None) -> Iterator[Site]:
    site = Site(host, tls)
    thread = threading.Thread(target=site.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield site
    finally:
        site.stop.set()
        site.shutdown()
        site.server_close()
        thread.join(5)


@pytest.fixture
def local() -> Iterator[Site]:
    """A site on 127.0.0.1: the host's own private network."""
    yield from serve("127.0.0.1")


@pytest.fixture
def public() -> Iterator[Site]:
    """A site on 127.0.0.2, which the PUBLIC policy treats as a public address."""
    yield from serve("127.0.0.2")


def refused(url: str, policy: FetchPolicy, match: str) -> str:
    with pytest.raises(FetchError, match=match) as caught:
        fetch(url, policy)
    return str(caught.value)


def fetch_within(seconds: float, url: str, policy: FetchPolicy) -> Fetched | FetchError:
    """Fetch in a thread and fail the test if it takes longer than `seconds`, instead of hanging it."""
    outcome: list[Fetched | FetchError] = []

    def run() -> None:
        try:
            outcome.append(fetch(url, policy))
        except FetchError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"fetch still running after {seconds} s"
    return outcome[0]


# ---------------------------------------------------------------------------------------------
# Hostile URLs: refused before any connection


HOSTILE_DNS = {
    "intranet.example": ["10.1.2.3"],
    "mixed.example": ["93.184.216.34", "10.0.0.8"],
    "metadata.example": ["fd00:ec2::254"],
}

HOSTILE = [
    ("http://127.0.0.1/", "127.0.0.1 is a loopback address"),
    ("http://localhost/", "localhost resolves to .*loopback"),
    ("http://[::1]/", r"::1 is a loopback address"),
    ("http://0.0.0.0/", "0.0.0.0 is an unspecified address"),
    ("http://[::]/", ":: is an unspecified address"),
    ("http://10.0.0.5/", "refused: 10.0.0.5 is a private address"),
    ("http://172.16.3.4/", "172.16.3.4 is a private address"),
    ("http://192.168.1.1/", "192.168.1.1 is a private address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
    ("http://100.64.0.1/", "100.64.0.1 is a carrier-grade NAT address"),
    ("http://224.0.0.1/", "224.0.0.1 is a multicast address"),
    ("http://240.0.0.1/", "240.0.0.1 is a reserved address"),
    ("http://255.255.255.255/", "reserved address"),
    ("http://0.1.2.3/", "0.1.2.3 is a reserved address"),
    ("http://198.18.0.1/", "reserved address"),
    ("http://192.0.2.1/", "reserved address"),
    ("http://2130706433/", "2130706433 means 127.0.0.1, a loopback"),
    ("http://017700000001/", "means 127.0.0.1, a loopback"),
    ("http://0x7f000001/", "means 127.0.0.1, a loopback"),
    ("http://0x7f.0.0.1/", "means 127.0.0.1, a loopback"),
    ("http://0177.0.0.1/", "means 127.0.0.1, a loopback"),
    ("http://127.1/", "127.1 means 127.0.0.1, a loopback"),
    ("http://0x0a.0.0.1:8080/", "means 10.0.0.1, a private"),
    ("http://127.0.0.1./", "means 127.0.0.1, a loopback"),
    ("http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/", "127.0.0.1 is a loopback"),  # full-width digits
    ("http://[::ffff:127.0.0.1]/", "loopback address"),
    ("http://[0:0:0:0:0:ffff:7f00:1]/", "loopback address"),
    ("http://[::ffff:8.8.8.8]/", "IPv4-mapped address"),
    ("http://[::7f00:1]/", "IPv4-compatible address"),
    ("http://[fe80::1]/", "link-local address"),
    ("http://[fc00::1]/", "private address"),
    ("http://[ff02::1]/", "multicast address"),
    ("http://[64:ff9b::a00:1]/", "private address"),
    ("http://[64:ff9b::7f00:1]/", "loopback address"),
    ("http://[2002:7f00:1::]/", "loopback address"),
    ("http://[2002:a00:1::]/", "private address"),
    ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "Teredo address"),
    ("http://[fe80::1%25eth0]/", "invalid host"),
    ("http://1.2.3.4.5/", "invalid host"),
    ("https://" + "a" * 64 + ".example/x", "invalid host"),  # a DNS label is at most 63 characters
    ("http://08.0.0.1/", "invalid host"),
    ("file:///etc/passwd", "only http:// and https://"),
    ("ftp://example.com/", "only http:// and https://"),
    ("gopher://x/", "only http:// and https://"),
    ("javascript:alert(1)", "only http:// and https://"),
    ("", "only http:// and https://"),
    ("not a url", "spaces or control characters"),
    ("http:///nohost", "has no host"),
    ("http://user:pw@example.com/", "user name or password"),
    ("http://example.com@127.0.0.1/", "user name or password"),
    ("http://example.com\\@127.0.0.1/", "user name or password"),
    ("http://example.com:99999/", "not a valid URL"),
    ("http://example.com:0/", "port 0"),
    ("http://exa mple.com/", "spaces or control characters"),
    ("http://example.com/\r\nX-Injected: 1", "spaces or control characters"),
    ("http://intranet.example/", "intranet.example resolves to 10.1.2.3, a private address"),
    ("http://mixed.example/", "mixed.example resolves to 10.0.0.8, a private address"),
    ("http://metadata.example/", "metadata.example resolves to fd00:ec2::254, a private address"),
]


@pytest.mark.parametrize(("url", "message"), HOSTILE, ids=[url or "empty" for url, _ in HOSTILE])
def test_hostile_urls_are_refused_before_connecting(url: str, message: str, connections: list[tuple[str, int]]) -> None:
    host = urlsplit(url).hostname
    dns = FakeDNS(HOSTILE_DNS)
    policy = FetchPolicy(resolver=dns) if host in HOSTILE_DNS else FetchPolicy()
    started = time.monotonic()
    error = refused(url, policy, message)
    assert error.startswith("refused: ")
    assert "\n" not in error
    assert connections == []
    assert time.monotonic() - started < 1
    if host in HOSTILE_DNS:
        assert dns.calls == [(host, 80)]


NUMERIC_HOSTS = [url for url, message in HOSTILE if "means" in message or url.startswith("http://[")]


@pytest.mark.parametrize("url", NUMERIC_HOSTS)
def test_numeric_hosts_are_read_as_addresses_not_looked_up(url: str, connections: list[tuple[str, int]]) -> None:
    # A resolver that would call every name public must not even be asked about an address.
    liar = FakeDNS({urlsplit(url).hostname or "": ["93.184.216.34"]})
    with pytest.raises(FetchError, match=r"^refused: "):
        fetch(url, FetchPolicy(resolver=liar))
    assert liar.calls == []
    assert connections == []


@pytest.mark.parametrize(("url", "message"), [row for row in HOSTILE if "resolves to" not in row[1]])
def test_check_url_refuses_on_syntax_and_literal_addresses_alone(url: str, message: str) -> None:
    with pytest.raises(FetchError, match=message):
        check_url(url, FetchPolicy())


@pytest.mark.parametrize(
    "url",
    [
        "https://news.example/2024/05/harbour-fire?page=2",
        "http://intranet.example/",
        "http://93.184.216.34:8080/a",
        "https://[2606:4700::1111]/",
        "https://ex\u00e4mple.test/",
        "HTTPS://News.Example:8443",
    ],
)
def test_check_url_accepts_public_urls_without_resolving(url: str) -> None:
    def no_dns(host: str, port: int) -> list[IPAddress]:
        raise AssertionError("check_url must not resolve")

    check_url(url, FetchPolicy(resolver=no_dns))


def test_allow_private_still_refuses_metadata_multicast_and_unspecified(connections: list[tuple[str, int]]) -> None:
    relaxed = FetchPolicy(allow_private=True)
    for url in (
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "http://224.0.0.1/",
        "http://0.0.0.0/",
        "http://[::]/",
    ):
        with pytest.raises(FetchError, match=r"^refused: "):
            fetch(url, relaxed)
    assert connections == []


def test_unresolvable_host() -> None:
    policy = FetchPolicy(resolver=FakeDNS({}))
    refused("http://nowhere.example/", policy, r"^unreachable: cannot resolve nowhere\.example$")


def test_names_are_sent_to_the_resolver_in_idna_form(public: Site) -> None:
    dns = FakeDNS({"xn--exmple-cua.test": ["127.0.0.2"]})
    got = fetch(public.url("/echo", host="ex\u00e4mple.test"), FetchPolicy(extra_public=PUBLIC_LOOPBACK, resolver=dns))
    assert dns.calls == [("xn--exmple-cua.test", public.server_port)]
    assert got.content == f"xn--exmple-cua.test:{public.server_port}".encode()


# ---------------------------------------------------------------------------------------------
# Fetching an article


def test_private_server_is_fetched_only_when_private_urls_are_allowed(
    local: Site, connections: list[tuple[str, int]]
) -> None:
    url = local.url("/article")
    refused(url, FetchPolicy(), "^refused: 127.0.0.1 is a loopback address$")
    assert local.seen == [] and connections == []

    got = fetch(url, FetchPolicy(allow_private=True))
    assert got.url == url
    assert got.content == ARTICLE
    assert (got.content_type, got.charset) == ("text/html", "utf-8")
    [request] = local.seen
    assert request.path == "/article"
    assert request.headers["Host"] == f"127.0.0.1:{local.server_port}"
    assert request.headers["Accept-Encoding"] == "identity"
    assert request.headers["User-Agent"] == FetchPolicy().user_agent
    assert request.headers["Connection"] == "close"


def test_request_target_is_escaped(public: Site) -> None:
    fetch(public.url("/article?q=caf\u00e9&x=a%20b"), PUBLIC)
    assert public.seen[0].path == "/article?q=caf%C3%A9&x=a%20b"


@pytest.mark.parametrize(
    ("declared", "content_type", "charset"),
    [
        ("text/html", "text/html", None),
        ('TEXT/HTML; Charset="ISO-8859-1"', "text/html", "iso-8859-1"),
        ("application/xhtml+xml; charset=utf-8", "application/xhtml+xml", "utf-8"),
        ("text/plain", "text/plain", None),
        ("text/markdown; charset=utf-8", "text/markdown", "utf-8"),
        ("text/x-markdown", "text/x-markdown", None),
        ("application/pdf", "application/pdf", None),
    ],
)
def test_article_content_types_are_accepted(
    public: Site, declared: str, content_type: str, charset: str | None
) -> None:
    got = fetch(public.url("/typed?" + urlencode({"type": declared})), PUBLIC)
    assert (got.content_type, got.charset) == (content_type, charset)
    assert got.content.startswith(b"# A title")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/typed?type=image/png", "^not an article: content type image/png$"),
        ("/typed?type=application/octet-stream", "^not an article: content type application/octet-stream$"),
        ("/typed?type=application/json; charset=utf-8", "^not an article: content type application/json$"),
        ("/typed", "^not an article: no content type$"),
        ("/gzip", "^not an article: content encoding gzip$"),
    ],
)
def test_other_content_is_refused(public: Site, path: str, message: str) -> None:
    refused(public.url(path.replace(" ", "+")), PUBLIC, message)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (404, "^HTTP 404 Not Found$"),
        (500, "^HTTP 500 Internal Server Error$"),
        (451, "^HTTP 451 "),
        (599, "^HTTP 599$"),
    ],
)
def test_error_statuses_are_refused(public: Site, code: int, message: str) -> None:
    refused(public.url(f"/status?code={code}"), PUBLIC, message)


def test_closed_port_is_unreachable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.2", 0))
        port = probe.getsockname()[1]
    refused(f"http://127.0.0.2:{port}/", PUBLIC, "^unreachable: connection refused$")


def test_body_cut_short_is_refused(public: Site) -> None:
    refused(public.url("/short"), PUBLIC, "^incomplete response")


def test_fetch_error_is_a_value_error() -> None:
    assert issubclass(FetchError, ValueError)


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        ("1", True),
        ("true", True),
        ("YES", True),
        (" yes ", True),
        ("0", False),
        ("", False),
        ("no", False),
        (None, False),
    ],
)
def test_policy_from_env(value: str | None, allowed: bool) -> None:
    env = {} if value is None else {"ARTICLEBOT_ALLOW_PRIVATE_URLS": value}
    assert FetchPolicy.from_env(env) == FetchPolicy(allow_private=allowed)


# ---------------------------------------------------------------------------------------------
# Redirects: every hop checked again


def test_redirect_to_private_server_is_refused(public: Site, local: Site, connections: list[tuple[str, int]]) -> None:
    url = public.url(f"/redirect?to={local.url('/article')}")
    refused(url, PUBLIC, "^refused: 127.0.0.1 is a loopback address$")
    assert local.seen == []
    assert connections == [("127.0.0.2", public.server_port)]


def test_redirect_to_metadata_service_is_refused_without_connecting(
    public: Site, connections: list[tuple[str, int]]
) -> None:
    url = public.url("/redirect?to=http://169.254.169.254/latest/meta-data/&code=301")
    refused(url, PUBLIC, "^refused: 169.254.169.254 is a link-local address$")
    assert connections == [("127.0.0.2", public.server_port)]


def test_redirect_to_another_scheme_is_refused(public: Site) -> None:
    refused(public.url("/redirect?to=file:///etc/passwd"), PUBLIC, "only http:// and https://")


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("location", ["/article", "article", "ABSOLUTE"])
def test_redirects_on_the_same_site_are_followed(public: Site, code: int, location: str) -> None:
    target = public.url("/article") if location == "ABSOLUTE" else location
    got = fetch(public.url(f"/redirect?code={code}&to={target}"), PUBLIC)
    assert got.url == public.url("/article")
    assert got.content == ARTICLE
    assert [seen.path.split("?")[0] for seen in public.seen] == ["/redirect", "/article"]


def test_redirect_loop_is_cut_off(public: Site) -> None:
    refused(public.url("/loop"), PUBLIC, r"^too many redirects \(5\)$")
    assert len(public.seen) == 6  # the first request and five redirects


def test_redirects_can_be_turned_off(public: Site) -> None:
    refused(
        public.url("/redirect?to=/article"),
        FetchPolicy(extra_public=PUBLIC_LOOPBACK, max_redirects=0),
        r"^too many redirects \(0\)$",
    )


def test_redirect_without_location_is_refused(public: Site) -> None:
    refused(public.url("/redirect?code=302"), PUBLIC, "^HTTP 302 redirect without a Location$")


def test_redirect_to_a_name_that_resolves_privately_is_refused(
    public: Site, connections: list[tuple[str, int]]
) -> None:
    dns = FakeDNS({"news.example": ["127.0.0.2"], "intranet.example": ["10.0.0.7"]})
    policy = FetchPolicy(extra_public=PUBLIC_LOOPBACK, resolver=dns)
    port = public.server_port
    url = public.url(f"/redirect?to=http://intranet.example:{port}/admin", host="news.example")
    refused(url, policy, "^refused: intranet.example resolves to 10.0.0.7, a private address$")
    assert dns.calls == [("news.example", port), ("intranet.example", port)]
    assert connections == [("127.0.0.2", port)]
    assert public.seen[0].headers["Host"] == f"news.example:{port}"


# ---------------------------------------------------------------------------------------------
# DNS rebinding: the connection goes to the address that was checked


def test_connection_goes_to_the_checked_address_not_a_second_lookup(
    public: Site, connections: list[tuple[str, int]]
) -> None:
    # A rebinding resolver: public the first time, the host's loopback every time after.
    dns = FakeDNS({"news.example": ["127.0.0.2"]}, then={"news.example": ["127.0.0.1"]})
    got = fetch(public.url("/echo", host="news.example"), FetchPolicy(extra_public=PUBLIC_LOOPBACK, resolver=dns))
    port = public.server_port
    assert dns.calls == [("news.example", port)]
    assert connections == [("127.0.0.2", port)]
    assert got.content == f"news.example:{port}".encode()
    assert got.url == f"http://news.example:{port}/echo"


def test_each_hop_is_resolved_and_checked_again(public: Site, connections: list[tuple[str, int]]) -> None:
    dns = FakeDNS({"news.example": ["127.0.0.2"]}, then={"news.example": ["127.0.0.1"]})
    url = public.url("/redirect?to=/article", host="news.example")
    refused(
        url,
        FetchPolicy(extra_public=PUBLIC_LOOPBACK, resolver=dns),
        "^refused: news.example resolves to 127.0.0.1, a loopback address$",
    )
    assert len(dns.calls) == 2
    assert connections == [("127.0.0.2", public.server_port)]


def test_later_checked_addresses_are_tried_when_the_first_refuses(
    public: Site, connections: list[tuple[str, int]]
) -> None:
    dns = FakeDNS({"news.example": ["127.0.0.3", "127.0.0.2"]})
    policy = FetchPolicy(extra_public=(ipaddress.ip_network("127.0.0.2/31"),), resolver=dns)
    assert fetch(public.url("/article", host="news.example"), policy).content == ARTICLE
    assert connections == [("127.0.0.3", public.server_port), ("127.0.0.2", public.server_port)]


# ---------------------------------------------------------------------------------------------
# HTTPS: pinned address, certificate checked against the URL's host name


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for news.example, made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=news.example",
            "-addext",
            "subjectAltName=DNS:news.example",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def secure(certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """An HTTPS site on 127.0.0.2 whose certificate the default context trusts (via SSL_CERT_FILE)."""
    cert, key = certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    yield from serve("127.0.0.2", context)


def test_https_connects_to_the_checked_address_and_verifies_the_name(
    secure: Site, connections: list[tuple[str, int]]
) -> None:
    dns = FakeDNS({"news.example": ["127.0.0.2"]}, then={"news.example": ["127.0.0.1"]})
    got = fetch(secure.url("/echo", host="news.example"), FetchPolicy(extra_public=PUBLIC_LOOPBACK, resolver=dns))
    port = secure.server_port
    assert got.content == f"news.example:{port}".encode()
    assert secure.sni == ["news.example"]
    assert connections == [("127.0.0.2", port)]


def test_https_certificate_for_another_name_is_refused(secure: Site) -> None:
    dns = FakeDNS({"other.example": ["127.0.0.2"]})
    refused(
        secure.url("/article", host="other.example"),
        FetchPolicy(extra_public=PUBLIC_LOOPBACK, resolver=dns),
        "^unreachable: TLS certificate not accepted",
    )
    assert secure.seen == []


# ---------------------------------------------------------------------------------------------
# Size and time limits


def test_body_of_exactly_max_bytes_is_fine_one_more_is_not(public: Site) -> None:
    policy = FetchPolicy(extra_public=PUBLIC_LOOPBACK, max_bytes=1000)
    assert len(fetch(public.url("/sized?n=1000"), policy).content) == 1000
    refused(public.url("/sized?n=1001"), policy, "^too large: more than 1,000 bytes$")


def test_declared_length_over_the_limit_is_refused_before_reading(public: Site) -> None:
    started = time.monotonic()
    refused(public.url("/huge-length"), PUBLIC, "^too large: more than 5,000,000 bytes$")
    assert time.monotonic() - started < 1  # the body never comes, so reading it would have hung


@pytest.mark.parametrize("mode", ["chunked", "close"])
def test_endless_body_is_cut_off_at_max_bytes(public: Site, mode: str) -> None:
    # The timeout is long, so ending well before it means the read stopped at the size limit.
    policy = FetchPolicy(extra_public=PUBLIC_LOOPBACK, max_bytes=200_000, timeout=30)
    outcome = fetch_within(2, public.url(f"/endless?mode={mode}"), policy)
    assert str(outcome) == "too large: more than 200,000 bytes"


def test_a_body_longer_than_its_content_length_ends_at_the_declared_length(public: Site) -> None:
    # The declared 20 bytes are read and nothing after them: depending on when the rest arrives,
    # aiohttp returns those 20 bytes or refuses what follows them as not a response; never more.
    policy = FetchPolicy(extra_public=PUBLIC_LOOPBACK, max_bytes=200_000, timeout=30)
    outcome = fetch_within(2, public.url("/endless?mode=lying"), policy)
    if isinstance(outcome, Fetched):
        assert outcome.content == (b"<p>spam</p>" * 2)[:20]
    else:
        assert str(outcome).startswith("bad response: ")


@pytest.mark.parametrize(
    "path",
    [
        "/silent",  # accepts, reads the request, never answers
        "/drip-headers",  # a header line that never ends, a byte every 0.2 s
        "/drip",  # headers, then a body byte every 0.2 s forever
        "/redirect?to=/redirect%3Fto%3D/drip",  # two quick redirects spend part of the same deadline
    ],
)
def test_slow_servers_are_cut_off_at_the_total_deadline(public: Site, path: str) -> None:
    policy = FetchPolicy(extra_public=PUBLIC_LOOPBACK, timeout=1.5)
    started = time.monotonic()
    outcome = fetch_within(2.5, public.url(path), policy)
    assert str(outcome) == "timed out after 1.5 s"
    assert time.monotonic() - started >= 1.4
