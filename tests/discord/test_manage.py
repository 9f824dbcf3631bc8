"""/add and /remove over the fake Discord: managers only, per-server collections, clear refusals."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest

from index import Scope
from index.ingest.fetch import FetchPolicy
from tests.support.discord.fake_discord import Permission
from tests.support.discord.servers import Servers, final_text
from tests.support.pdfs import make_pdf
from tests.support.web import QuietHandler, serving

PAGE = b"""<html><head><title>Harbour strike ends</title><meta property="og:site_name" content="Port News">
<meta property="article:published_time" content="2024-06-01"></head><body><article><h1>Harbour strike ends</h1>
<p>Dock workers ended their nine-day strike on Friday after winning a pay rise of 5 percent, the union said.</p>
<p>Ships that waited outside the harbour began to unload on Saturday morning.</p></article></body></html>"""
EMPTY_PAGE = b"<html><head><title>Home</title></head><body><nav><a href='/'>Home</a></nav></body></html>"
NOTE = "Library reopens\n\nThe city library reopened on Monday with a new reading room for children and longer hours."


@pytest.fixture
def site() -> Iterator[str]:
    """A web server on 127.0.0.1: an article at /harbour (and after a pause at /slow), a page without
    one at /home, one that never answers at /hang and one that drips a byte at a time at /drip."""
    release = threading.Event()

    class Handler(QuietHandler):
        pages = {"/harbour": PAGE, "/home": EMPTY_PAGE, "/slow": PAGE}

        def do_GET(self) -> None:
            if self.path == "/hang":
                release.wait(30)
            elif self.path == "/drip":
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                try:
                    while not release.wait(0.2):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                except OSError:
                    pass  # the bot gave up and closed the connection, as it should
            else:
                if self.path == "/slow":
                    release.wait(2.5)
                self.serve_page()

    with serving(Handler) as url:
        yield url
        release.set()


@pytest.mark.asyncio
async def test_an_article_added_by_url_is_seen_only_in_its_server(servers: Servers, site: str, caplog) -> None:
    caplog.set_level(logging.INFO, logger="articlebot.audit")
    add = await servers.command("add", servers.a, servers.editor, url=f"{site}/harbour")
    text = await final_text(add)
    assert text == "Added **Harbour strike ends** (Port News · 2024-06-01): 2 passages."
    edits = [e.get("content") for e in add.original.edits]
    assert any(e and e.startswith("Fetching") for e in edits), "progress is shown by editing the reply"
    assert f"by {servers.editor.id} in server {servers.a.id}" in caplog.text

    asked_a = await servers.command("ask", servers.a, servers.reader, question="How long did the dock strike last?")
    reply_a = await asked_a.wait_for_followup(timeout=30)
    assert reply_a.embeds[0]["title"] == "Harbour strike ends"
    asked_b = await servers.command("ask", servers.b, servers.reader, question="How long did the dock strike last?")
    reply_b = await asked_b.wait_for_followup(timeout=30)
    assert all(e.get("title") != "Harbour strike ends" for e in reply_b.embeds)

    listed_a = await (await servers.command("sources", servers.a, servers.reader)).wait_for_original()
    assert "Harbour strike ends" in listed_a.embeds[0]["description"]
    assert f"added by <@{servers.editor.id}>" in listed_a.embeds[0]["description"]
    assert "shared with every server" in listed_a.embeds[0]["description"]
    listed_b = await (await servers.command("sources", servers.b, servers.reader)).wait_for_original()
    assert "Harbour strike ends" not in listed_b.embeds[0]["description"]


@pytest.mark.asyncio
async def test_only_managers_can_add(servers: Servers, site: str) -> None:
    with pytest.raises(PermissionError):  # Discord hides the command from them
        await servers.command("add", servers.a, servers.reader, url=f"{site}/harbour")
    assert servers.fake.command("add")["default_member_permissions"] == str(int(Permission.MANAGE_GUILD))


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/home", "no article text found"),
        ("/missing", "HTTP 404"),
    ],
)
async def test_bad_urls_are_refused_with_the_reason(servers: Servers, site: str, path: str, reason: str) -> None:
    text = await final_text(await servers.command("add", servers.a, servers.editor, url=f"{site}{path}"))
    assert text.startswith("Couldn't add that:") and reason in text
    assert len(servers.bot.service.index.articles(Scope.of_server(servers.a.id))) == 1  # just the seed


@pytest.mark.asyncio
async def test_private_addresses_are_refused_by_default(servers: Servers) -> None:
    servers.bot.service.fetch_policy = FetchPolicy()
    text = await final_text(
        await servers.command("add", servers.a, servers.editor, url="http://169.254.169.254/latest/meta-data/")
    )
    assert (
        text
        == "Couldn't add that: http://169.254.169.254/latest/meta-data/: refused: 169.254.169.254 is a link-local address"
    )


@pytest.mark.asyncio
async def test_an_uploaded_file_is_added_and_bad_files_are_refused(servers: Servers) -> None:
    added = await final_text(
        await servers.command("add", servers.a, servers.editor, file=("library.txt", NOTE.encode()))
    )
    assert added == "Added **Library reopens**: 1 passage."
    pdf = make_pdf(
        [
            [
                "Ferry returns",
                "The island ferry returned to service on Friday after a month of repairs to",
                "its engines.",
            ]
        ]
    )
    added = await final_text(await servers.command("add", servers.a, servers.editor, file=("ferry.pdf", pdf)))
    assert added == "Added **Ferry returns**: 1 passage."
    for name, data, reason in [
        ("photo.txt", b"\x89PNG\r\n\x1a\n\x00\x00", "binary"),
        ("notes.txt", "Café\n\nÇa va très bien, merci beaucoup.".encode("latin-1"), "not UTF-8"),
        ("empty.md", b"", "no article text"),
        ("report.docx", b"PK\x03\x04", "unsupported file type"),
        ("scan.pdf", make_pdf([[]]), "no text to read"),
    ]:
        text = await final_text(await servers.command("add", servers.a, servers.editor, file=(name, data)))
        assert text.startswith("Couldn't add that:") and reason in text, text
    assert {a.title for a in servers.bot.service.index.articles(Scope.of_server(servers.a.id)) if a.collection} == {
        "Library reopens",
        "Ferry returns",
    }


@pytest.mark.asyncio
async def test_remove_asks_for_confirmation(servers: Servers) -> None:
    await final_text(await servers.command("add", servers.a, servers.editor, file=("library.txt", NOTE.encode())))
    complete = await servers.fake.send_autocomplete(
        "remove", user=servers.editor, channel=servers.a_general, focused="article", value="libr"
    )
    await complete.wait_for_response()
    [choice] = complete.choices
    assert choice["name"] == "Library reopens"

    asked = await servers.command("remove", servers.a, servers.editor, article=choice["value"])
    prompt = await asked.wait_for_original()
    assert prompt.ephemeral and "Remove **Library reopens**" in prompt.content
    cancel = next(c for row in prompt.components for c in row["components"] if c["label"] == "Cancel")
    await (await servers.fake.send_component(prompt, cancel["custom_id"], user=servers.editor)).wait_for_response()
    await servers.fake.wait_for(lambda: prompt.content == "Nothing removed.", 5, "the cancel")
    assert servers.bot.service.index.article(choice["value"]) is not None

    asked = await servers.command("remove", servers.a, servers.editor, article=choice["value"])
    prompt = await asked.wait_for_original()
    confirm = next(c for row in prompt.components for c in row["components"] if c["label"] == "Remove")
    await (await servers.fake.send_component(prompt, confirm["custom_id"], user=servers.editor)).wait_for_response()
    await servers.fake.wait_for(lambda: prompt.content.startswith("Removed"), 5, "the removal")
    assert servers.bot.service.index.article(choice["value"]) is None

    [seed] = servers.bot.service.index.articles(Scope(""))
    shared = await (await servers.command("remove", servers.a, servers.editor, article=seed.id)).wait_for_original()
    assert shared.ephemeral and "Shared articles" in shared.content


@pytest.mark.asyncio
async def test_questions_are_answered_while_an_article_is_being_added(servers: Servers, site: str) -> None:
    adding = await servers.command("add", servers.a, servers.editor, url=f"{site}/slow")
    await adding.wait_for_response()
    asked = await servers.command("ask", servers.a, servers.reader, question="How did China react?")
    reply = await asked.wait_for_followup(timeout=30)
    assert reply.embeds[0]["title"].startswith("North Korea's Kim Jong Un")
    assert adding.original is not None and adding.original.content.startswith("Fetching"), "the add was still going"
    assert (await final_text(adding)).startswith("Added **Harbour strike ends**")


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/hang", "/drip"])
async def test_a_url_that_never_finishes_times_out_and_the_bot_stays_responsive(
    servers: Servers, site: str, path: str
) -> None:
    servers.bot.service.fetch_policy = FetchPolicy(allow_private=True, timeout=1.5)
    adding = await servers.command("add", servers.a, servers.editor, url=f"{site}{path}")
    asked = await servers.command("ask", servers.a, servers.reader, question="How did China react?")
    assert (await asked.wait_for_followup(timeout=30)).embeds
    text = await final_text(adding)
    assert text.startswith("Couldn't add that:") and "timed out after 1.5 s" in text
    assert len(servers.bot.service.index.articles(Scope.of_server(servers.a.id))) == 1


@pytest.mark.asyncio
async def test_a_file_over_the_size_cap_is_refused_unread(servers: Servers, monkeypatch) -> None:
    monkeypatch.setattr("index.ingest.parse.MAX_ARTICLE_BYTES", 1000)
    add = await servers.command("add", servers.a, servers.editor, file=("long.txt", b"Long story\n\n" + b"word " * 400))
    text = await final_text(add)
    assert text == "Couldn't add that: long.txt: too large (2,012 bytes; the limit is 1,000)"
    assert not any((e.get("content") or "").startswith("Reading") for e in add.original.edits)


@pytest.mark.asyncio
async def test_an_add_past_its_time_budget_is_abandoned_and_stores_nothing(servers: Servers) -> None:
    servers.bot.settings = replace(servers.bot.settings, add_timeout=0.2)
    story = "Harbour report\n\n" + "\n\n".join(
        f"On day {day} of the strike the dock workers met the port authority again, and talks went on late." * 3
        for day in range(1, 120)
    )
    text = await final_text(
        await servers.command("add", servers.a, servers.editor, file=("report.txt", story.encode()))
    )
    assert text == "Couldn't add that: adding the article took longer than 0.2 s and was abandoned; nothing was added"
    asked = await servers.command("ask", servers.a, servers.reader, question="How did China react?")
    assert (await asked.wait_for_followup(timeout=30)).embeds, "the bot keeps answering"
    await servers.bot.service.settle()  # the abandoned work has stopped: it stored nothing
    assert [a.title for a in servers.bot.service.index.articles(Scope.of_server(servers.a.id)) if a.collection] == []


@pytest.mark.asyncio
async def test_a_shortened_upload_says_so(servers: Servers, monkeypatch) -> None:
    monkeypatch.setattr("index.ingest.budget.MAX_ARTICLE_CHARS", 150)
    story = NOTE + "\n\nReaders queued from early morning to see the new rooms.\n\nThe mayor cut a ribbon at ten."
    text = await final_text(
        await servers.command("add", servers.a, servers.editor, file=("library.txt", story.encode()))
    )
    assert text == (
        f"Added **Library reopens**: 2 passages.\nNote: shortened: only the first 150 of its "
        f"{len(story) - len('Library reopens') - 1} characters are indexed."
    )


def test_managers_are_manage_server_holders_or_the_named_role() -> None:
    from types import SimpleNamespace

    from bot.permissions import may_manage

    def member(manage: bool, *roles: tuple[str, int]) -> SimpleNamespace:
        return SimpleNamespace(
            guild_permissions=SimpleNamespace(manage_guild=manage),
            roles=[SimpleNamespace(name=n, id=i) for n, i in roles],
        )

    assert may_manage(member(True), "")
    assert not may_manage(member(False, ("Librarian", 5)), "")
    assert may_manage(member(False, ("Librarian", 5)), "Librarian")
    assert may_manage(member(False, ("Librarian", 5)), "5")
    assert not may_manage(member(False, ("Reader", 6)), "Librarian")


@pytest.mark.asyncio
async def test_the_owner_shares_an_article_with_every_server_and_takes_it_back(servers: Servers, caplog) -> None:
    caplog.set_level(logging.INFO, logger="articlebot.audit")
    owner = servers.fake.owner  # the application's owner; the fake makes them the owner of both servers too
    added = await final_text(
        await servers.command("add", servers.a, owner, file=("library.txt", NOTE.encode()), everywhere=True)
    )
    assert added == "Added **Library reopens**: 1 passage. Shared with every server."
    assert f"by {owner.id} in server {servers.a.id} for every server: added" in caplog.text

    question = "When did the library reopen?"
    asked_b = await servers.command("ask", servers.b, servers.reader, question=question)
    assert (await asked_b.wait_for_followup(timeout=30)).embeds[0]["title"] == "Library reopens", (
        "a reader in another server gets the shared article quoted"
    )

    complete = await servers.fake.send_autocomplete(
        "remove", user=servers.editor, channel=servers.a_general, focused="article", value="libr"
    )
    await complete.wait_for_response()
    assert complete.choices == [], "a server's manager is not offered the shared article"
    complete = await servers.fake.send_autocomplete(
        "remove", user=owner, channel=servers.b_general, focused="article", value="libr"
    )
    await complete.wait_for_response()
    [choice] = complete.choices
    assert choice["name"] == "Library reopens (every server)"

    refused = await (
        await servers.command("remove", servers.a, servers.editor, article=choice["value"])
    ).wait_for_original()
    assert refused.ephemeral and refused.content == "Shared articles can't be removed from one server."

    asked = await servers.command("remove", servers.b, owner, article=choice["value"])
    prompt = await asked.wait_for_original()
    assert prompt.ephemeral and prompt.content == "Remove **Library reopens** from every server?"
    confirm = next(c for row in prompt.components for c in row["components"] if c["label"] == "Remove")
    await (await servers.fake.send_component(prompt, confirm["custom_id"], user=owner)).wait_for_response()
    await servers.fake.wait_for(lambda: prompt.content.startswith("Removed"), 5, "the removal")
    assert prompt.content == "Removed **Library reopens** from every server."
    assert f"by {owner.id} in server {servers.b.id} from every server" in caplog.text

    for guild in (servers.a, servers.b):
        asked = await servers.command("ask", guild, servers.reader, question=question)
        reply = await asked.wait_for_followup(timeout=30)
        assert all(e.get("title") != "Library reopens" for e in reply.embeds), "gone from every server"


@pytest.mark.asyncio
async def test_only_the_owner_may_share_with_every_server(servers: Servers) -> None:
    fetched: list[str] = []

    class Recording(QuietHandler):
        pages = {"/harbour": PAGE}

        def do_GET(self) -> None:
            fetched.append(self.path)
            self.serve_page()

    with serving(Recording) as url:
        for options in ({"url": f"{url}/harbour"}, {"file": ("library.txt", NOTE.encode())}):
            refused = await (
                await servers.command("add", servers.a, servers.editor, everywhere=True, **options)
            ).wait_for_original()
            assert refused.ephemeral and refused.content == (
                "Only the bot's owner can share an article with every server. "
                "Leave `everywhere` off to add it to this server."
            )
    assert fetched == [], "refused before anything is fetched"
    assert servers.bot.service.index.articles(Scope("")) == servers.bot.service.index.articles(Scope.everything()), (
        "nothing was added anywhere"
    )
    asked = await servers.command("ask", servers.b, servers.reader, question="How long did the dock strike last?")
    assert all(e.get("title") != "Harbour strike ends" for e in (await asked.wait_for_followup(timeout=30)).embeds)
