"""Answers and article lists as Discord embeds: escaped, never pinging, always within Discord's limits."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from urllib.parse import quote as url_quote

import discord

from index import Answer, Quote, StoredArticle

# Discord's limits (https://discord.com/developers/docs/resources/message#create-message).
EMBED_TITLE_LIMIT = 256
EMBED_DESCRIPTION_LIMIT = 4096
EMBED_FOOTER_LIMIT = 2048
EMBED_FIELD_VALUE_LIMIT = 1024
MESSAGE_EMBED_CHARS_LIMIT = 6000
MESSAGE_EMBEDS_LIMIT = 10

#: Every message the bot sends: article text or a question containing @everyone must not ping.
NO_MENTIONS = discord.AllowedMentions.none()
ELLIPSIS = "…"
#: The reply to a question or command that failed; the traceback goes to the log.
FAILED_REPLY = "Sorry, something went wrong while answering. The error has been logged."
ANSWER_COLOUR = discord.Colour.blurple()
NOT_FOUND_COLOUR = discord.Colour.light_grey()
SOURCES_PER_PAGE = 10

_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s)")
_SPACE = re.compile(r"\s")
_BRACKET = re.compile(r"(?<!\\)([\[\]])")


#: How an answer's text begins when it says what was searched (a follow-up, rewritten).
SEARCHING = "Searching for: "


def shorten(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters at a sentence end, else between words, plus an ellipsis."""
    if len(text) <= limit:
        return text
    room = text[: max(limit - len(ELLIPSIS) - 1, 0)]
    ends = [m.end() for m in _SENTENCE_END.finditer(room)]
    if ends and ends[-1] >= len(room) // 2:
        cut = room[: ends[-1]]
    else:
        spaces = [m.start() for m in _SPACE.finditer(text, 0, len(room) + 1)]
        # A single word longer than the limit can only be cut inside; nothing else is (a first word that
        # fits the limit but not with the ellipsis leaves the ellipsis alone).
        whole_word = not _SPACE.search(text, 0, limit)
        cut = room[: spaces[-1]] if spaces else room if whole_word else ""
    return f"{cut.rstrip()} {ELLIPSIS}" if cut.strip() else ELLIPSIS


def escape(text: str) -> str:
    """Escape markdown (and masked links) so article text shows as written, on one line."""
    text = discord.utils.escape_markdown(" ".join(text.split()))
    return "\\" + text if text.startswith("#") else text


def web_url(url: str) -> str | None:
    """`url` as Discord may link to it, None if it may not (a file path, a feed's odd scheme). Characters a URL
    may not hold (a space, a quote, a non-ASCII letter) are percent-encoded: Discord refuses a whole message
    whose embed url is not well formed, and a masked link would end at a space."""
    if not url.startswith(("https://", "http://")):
        return None
    return url_quote(url, safe=":/?#[]@!$&'*+,;=%~")


def link(title: str, url: str) -> str:
    """A bold title, linked to `url` when it is an http(s) address."""
    label = _BRACKET.sub(r"\\\1", escape(title))
    address = web_url(url)
    return f"**[{label}]({address})**" if address else f"**{label}**"


def channel_in(channel_id: int, guild: discord.Guild | None) -> str:
    """A channel named for a direct message, which shows no server of its own: "<#id> of **Server**"."""
    return f"<#{channel_id}>" + (f" of **{escape(guild.name)}**" if guild else "")


def plural(count: int, word: str, words: str = "") -> str:
    """`count` and `word`, or its plural (`words`; default `word` + "s")."""
    return f"{count:,} {word if count == 1 else words or word + 's'}"


def byline(outlet: str, published: str, *extra: str) -> str:
    return " · ".join(p for p in (outlet, published, *extra) if p)


def _titled(title: str, url: str, description: str) -> discord.Embed:
    """An embed about one article: its title, linked when it has a web address."""
    return discord.Embed(
        title=shorten(title, EMBED_TITLE_LIMIT) or "Untitled",
        url=web_url(url),
        description=description,
        colour=ANSWER_COLOUR,
    )


def _set_byline(embed: discord.Embed, outlet: str, published: str, also: Iterable[str]) -> None:
    """The footer: outlet · date · also in (the outlets of near-copies of the same story), when any is known."""
    names = list(dict.fromkeys(a for a in also if a))
    footer = byline(outlet, published, f"also in {', '.join(names)}" if names else "")
    if footer:
        embed.set_footer(text=shorten(footer, EMBED_FOOTER_LIMIT))


def _quote_block(quote: Quote, limit: int) -> str:
    return f"> {escape(shorten(quote.text, limit))}\n*paragraph {quote.paragraph}*"


def first_quote_shown(embed: discord.Embed) -> str:
    """The first quote an answer's embed shows (as `_quote_block` writes it), its escapes undone; "" if none."""
    line = next((line for line in (embed.description or "").splitlines() if line.startswith("> ")), "")
    return re.sub(r"\\(.)", r"\1", line[2:]).removesuffix(ELLIPSIS).strip()


def searched_shown(content: str) -> str:
    """What an answer's text says was searched (`answer_text`'s first line); "" if it says nothing."""
    first = content.split("\n", 1)[0]
    return first.removeprefix(SEARCHING) if first.startswith(SEARCHING) else ""


def _article_embed(quotes: Sequence[Quote], mark_undated: bool = False) -> discord.Embed:
    first = quotes[0]
    limit = EMBED_DESCRIPTION_LIMIT // len(quotes)
    while True:  # escaping can lengthen text, so shrink until the description fits
        description = "\n\n".join(_quote_block(q, limit) for q in quotes)
        if (
            len(description) <= EMBED_DESCRIPTION_LIMIT
            and len(description) + len(first.title) < MESSAGE_EMBED_CHARS_LIMIT - 300
        ):
            break
        limit = limit * 3 // 4
    embed = _titled(first.title, first.url, description)
    published = first.published or ("undated" if mark_undated else "")
    _set_byline(embed, first.outlet, published, (name for q in quotes for name in q.also))
    return embed


def group_by_article(quotes: Iterable[Quote]) -> list[list[Quote]]:
    """Consecutive quotes of the same article together, in answer order."""
    groups: list[list[Quote]] = []
    for quote in quotes:
        if groups and groups[-1][0].article_id == quote.article_id:
            groups[-1].append(quote)
        else:
            groups.append([quote])
    return groups


def pack(embeds: Sequence[discord.Embed]) -> list[list[discord.Embed]]:
    """Split embeds into messages of at most 10 embeds and 6,000 characters each (`len(embed)`
    counts the characters as Discord does)."""
    messages: list[list[discord.Embed]] = []
    size = 0
    for embed in embeds:
        if not messages or len(messages[-1]) == MESSAGE_EMBEDS_LIMIT or size + len(embed) > MESSAGE_EMBED_CHARS_LIMIT:
            messages.append([])
            size = 0
        messages[-1].append(embed)
        size += len(embed)
    return messages


def render_not_found(answer: Answer) -> discord.Embed:
    lines = ["I couldn't find anything in the articles that answers that."]
    if answer.sources:
        lines += ["", "**Nearest sources**"]
        for source in answer.sources:
            where = byline(source.outlet, source.published)
            lines.append(f"• {link(shorten(source.title, 200), source.url)}" + (f" — {where}" if where else ""))
    return discord.Embed(title="Nothing found", description="\n".join(lines), colour=NOT_FOUND_COLOUR)


def render_answer(answer: Answer) -> list[list[discord.Embed]]:
    """The answer as messages of embeds: one embed per article with its verbatim quotes."""
    if not answer.answered or not answer.quotes:
        return [[render_not_found(answer)]]
    return pack([_article_embed(group, bool(answer.since)) for group in group_by_article(answer.quotes)])


def answer_text(answer: Answer) -> str | None:
    """What is said above an answer's embeds: what was searched for a follow-up, and a note on dates."""
    lines = [f"{SEARCHING}{shorten(answer.searched, 300)}" if answer.searched else "", answer.note]
    return "\n".join(line for line in lines if line) or None


def lede(article: StoredArticle, chars: int) -> str:
    """The article's first paragraph as a block quote, cut at a sentence end to about `chars`."""
    return f"> {escape(shorten(article.text.split(chr(10))[0], chars))}"


def render_announcement(article: StoredArticle, also: Sequence[str] = (), lede_chars: int = 700) -> discord.Embed:
    """A new article as announced: its title linked, outlet and date, its lede (first paragraph) quoted
    word for word; `also`: the outlets (or titles) of near-copies of the same story that came after."""
    embed = _titled(article.title, article.url, lede(article, lede_chars))
    _set_byline(embed, article.outlet, article.published, also)
    return embed


def render_sources_page(articles: Sequence[StoredArticle], page: int) -> discord.Embed:
    """One page (0-based) of the article list, newest first."""
    pages = page_count(len(articles))
    page = min(max(page, 0), pages - 1)
    chunk = articles[page * SOURCES_PER_PAGE : (page + 1) * SOURCES_PER_PAGE]
    linked = set(range(len(chunk)))
    while True:
        description = "\n\n".join(
            f"{link(shorten(a.title, 200), a.url if n in linked else '')}\n"
            f"{byline(a.outlet, a.published, plural(a.chunks, 'passage'))}\n{_provenance(a)}"
            for n, a in enumerate(chunk)
        )
        if len(description) <= EMBED_DESCRIPTION_LIMIT or not linked:
            break
        # Long addresses (percent-encoded, or with tracking) would pass Discord's limit: the longest lose
        # their link first (/source shows any article's).
        linked.remove(max(linked, key=lambda n: len(chunk[n].url)))
    embed = discord.Embed(
        title=f"Articles I can quote ({len(articles)})",
        description=shorten(description, EMBED_DESCRIPTION_LIMIT) if chunk else "No articles yet.",
        colour=ANSWER_COLOUR,
    )
    embed.set_footer(text=f"Page {page + 1} of {pages}")
    return embed


def _provenance(article: StoredArticle) -> str:
    """Who added an article to the server's collection, and when; or that every server has it."""
    if not article.collection:
        return "shared with every server"
    who = f" by <@{article.added_by}>" if article.added_by.isdigit() else ""
    return f"added{who} on {article.added_at[:10]}"


def page_count(items: int) -> int:
    return max(1, -(-items // SOURCES_PER_PAGE))


def render_article(article: StoredArticle, opening_chars: int = 600) -> discord.Embed:
    """One article's details: link, outlet, author, date, length and its first lines."""
    embed = _titled(article.title, article.url, lede(article, opening_chars))
    for name, value in (("Outlet", article.outlet), ("Author", article.author), ("Date", article.published)):
        if value:
            embed.add_field(name=name, value=shorten(escape(value), EMBED_FIELD_VALUE_LIMIT))
    words = len(article.text.split())
    embed.add_field(name="Length", value=f"{plural(words, 'word')}, {plural(article.chunks, 'passage')}")
    if article.url:  # shown as text, which Discord turns into a link up to the first space
        address = web_url(article.url) or article.url
        embed.add_field(name="Link", value=shorten(address, EMBED_FIELD_VALUE_LIMIT), inline=False)
    embed.set_footer(text=f"id {article.id}")
    return embed
