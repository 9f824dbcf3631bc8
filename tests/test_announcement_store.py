"""Announcements kept with the server data, in SQLite and in PostgreSQL: one post per story and server,
a near-copy turned into an edit of that post, a post that could not be sent given back, and a channel
the bot cannot post in reported once."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.server_data import ServerData

pytestmark = pytest.mark.both_stores

PORT, HILL = 1_100_000_000_000_000_001, 1_100_000_000_000_000_002
NEWS, OTHER = 800_000_000_000_000_001, 800_000_000_000_000_002
EDITOR = 900_000_000_000_000_001


def test_a_story_is_posted_once_per_server_and_its_near_copies_edit_the_post(tmp_path: Path, database_url: str) -> None:
    with ServerData(tmp_path, database_url) as data:
        stories = data.announcements
        first = stories.claim(PORT, "story-1", "article-1", NEWS)
        assert first.action == "post"
        assert stories.claim(PORT, "story-1", "article-2", NEWS).action == "known", "its post is not sent yet"
        stories.posted(PORT, "story-1", 555)
        copy = stories.claim(PORT, "story-1", "article-2", NEWS)
        assert (copy.action, copy.message_id, copy.channel_id, copy.article_ids) == (
            "edit",
            555,
            NEWS,
            ("article-1", "article-2"),
        )
        assert stories.claim(PORT, "story-1", "article-2", OTHER).action == "known", "each article once"
        assert stories.claim(HILL, "story-1", "article-9", NEWS).action == "post", "another server's own post"
        assert stories.count(PORT) == 1 and stories.count(HILL) == 0


def test_a_post_that_could_not_be_sent_is_given_back(tmp_path: Path, database_url: str) -> None:
    with ServerData(tmp_path, database_url) as data:
        stories = data.announcements
        assert stories.claim(PORT, "story-1", "article-1", NEWS).action == "post"
        stories.release(PORT, "story-1")
        assert stories.claim(PORT, "story-1", "article-1", NEWS).action == "post", "announced with the next try"
        stories.posted(PORT, "story-1", 555)
        stories.release(PORT, "story-1")  # a sent post is never given back
        assert stories.claim(PORT, "story-1", "article-2", NEWS).action == "edit"


def test_a_channel_the_bot_cannot_post_in_is_reported_once(tmp_path: Path, database_url: str) -> None:
    with ServerData(tmp_path, database_url) as data:
        stories = data.announcements
        stories.set_channel(PORT, NEWS, EDITOR)
        assert stories.broke(PORT, NEWS, "I may not post there")
        assert not stories.broke(PORT, NEWS, "I may not post there"), "reported once"
        where = stories.channel(PORT)
        assert where is not None and where.broken == "I may not post there" and where.set_by == EDITOR
        stories.set_channel(PORT, OTHER, EDITOR)  # set again: announcing resumes
        where = stories.channel(PORT)
        assert where is not None and (where.channel_id, where.broken) == (OTHER, "")
        assert stories.channel(HILL) is None
        assert stories.stop(PORT) and stories.channel(PORT) is None and not stories.stop(PORT)
