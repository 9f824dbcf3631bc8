"""A news site with an RSS feed on 127.0.0.1 for the feed tests: ETag and Last-Modified honoured,
item pages, one item without a page, and a feed that always fails."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def item_page(n: int) -> bytes:
    return (
        f"<html><head><title>Bridge report {n}</title></head><body><article><h1>Bridge report {n}</h1>"
        f"<p>Engineers inspected bridge number {n} over the river on Monday and found {n + 2} cracked "
        f"girders, the council said.</p></article></body></html>"
    ).encode()


class FeedSite:
    """`items` (numbers) are in the feed, newest first; item `missing` has no page (404)."""

    def __init__(self, items: int = 20) -> None:
        self.items = list(range(items))
        self.missing: set[int] = set()
        #: Whether the items have a date (item n's: n days after the first's).
        self.dated = True
        #: The feed itself answers HTTP 500 while this is set.
        self.broken = False
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()
        self.base = ""

    @property
    def version(self) -> str:
        return f'"v{len(self.items)}"'

    def feed(self) -> bytes:
        entries = "".join(
            f"<item><title>Bridge report {n}</title><link>{self.base}/item/{n}</link><guid>{self.base}/item/{n}</guid>"
            + (f"<pubDate>{formatdate(1_700_000_000 + n * 86_400, usegmt=True)}</pubDate>" if self.dated else "")
            + f"<author>desk@port.test (River Desk)</author>"
            f"<description>&lt;p&gt;Engineers inspected bridge number {n} over the river and found {n + 2} cracked "
            f"girders, the council said on Monday.&lt;/p&gt;</description></item>"
            for n in reversed(self.items)
        )
        return (
            f"<?xml version='1.0'?><rss version='2.0'><channel><title>Port News</title><link>{self.base}/</link>"
            f"<description>News</description>{entries}</channel></rss>"
        ).encode()


@contextmanager
def serving_feeds(site: FeedSite) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            with site.lock:
                site.requests.append((self.path, dict(self.headers.items())))
            if self.path == "/feed.xml" and site.broken:
                self.reply(b"oops", "text/html", status=500)
            elif self.path == "/feed.xml":
                if self.headers.get("If-None-Match") == site.version:
                    self.send_response(304)
                    self.send_header("ETag", site.version)
                    self.end_headers()
                    return
                self.reply(
                    site.feed(),
                    "application/rss+xml",
                    [("ETag", site.version), ("Last-Modified", formatdate(usegmt=True))],
                )
            elif self.path == "/broken.xml":
                self.reply(b"oops", "text/html", status=500)
            elif self.path.startswith("/item/") and int(self.path[6:]) not in site.missing:
                self.reply(item_page(int(self.path[6:])), "text/html; charset=utf-8")
            else:
                self.reply(b"not here", "text/plain", status=404)

        def reply(self, body: bytes, kind: str, headers: list[tuple[str, str]] = (), status: int = 200) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    site.base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield site.base
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
