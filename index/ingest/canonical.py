"""One address per article: tracking parameters stripped, and the page's own canonical address used
when it names the same site, so that the same story reached through a feed, a share link or a
newsletter is one article (updated in place), not several."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

#: Query parameters that say how a reader arrived, never which page it is. Ours rather than courlan's
#: (installed with trafilatura): its `normalize_url` keeps guccounter, icid, ocid and smid, and its strict
#: mode drops every parameter not on a short list, `?story=4821` included, which would merge two
#: articles of a site that numbers them in the query (tests/test_stories.py has both cases).
_TRACKING = re.compile(
    r"^(utm_[a-z_]+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|yclid|igshid|twclid|mc_cid|mc_eid|_hsenc|_hsmi|"
    r"mkt_tok|ocid|cmpid|icid|smid|smtyp|at_medium|at_campaign|at_custom\d|ref_src|ref_url|s_cid|sr_share|"
    r"ito|itm_[a-z_]+|guccounter|guce_referrer|guce_referrer_sig)$",
    re.IGNORECASE,
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_url(url: str) -> str:
    """`url` without tracking parameters or fragment, its scheme and host lowercased, its default port
    dropped; a text that is not an http(s) URL is returned as it is."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return url
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host += f":{port}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)]
    return urlunsplit((scheme, host, parts.path or "/", urlencode(query, doseq=True), ""))


def _site(url: str) -> str:
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")


def page_address(fetched: str, declared: str) -> str:
    """The address an article is known by: the page's declared canonical address if it is on the site
    the page came from (a page cannot claim another site's article), else the address fetched."""
    chosen = declared if declared and _site(declared) and _site(declared) == _site(fetched) else fetched
    return canonical_url(chosen)
