"""Followed questions kept with the server data, in SQLite and in PostgreSQL: a member's cap, one
server never seeing another's, surviving a restart, and each notice claimed exactly once even by
several processes at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from bot.follows import MAX_PER_MEMBER, Follows, TooManyFollows
from bot.server_data import ServerData
from index import ArticleVersion
from tests.support.threads import at_once

pytestmark = pytest.mark.both_stores

GUILD, OTHER_GUILD = 1_234_567_890_123_456_789, 987_654_321_098_765_432
ALICE, BOB = 111_111_111_111_111_111, 222_222_222_222_222_222
CHANNEL = 333_333_333_333_333_333


@contextmanager
def follows_in(folder: Path, database_url: str) -> Iterator[Follows]:
    """The follows of the server data in `folder` (or the database), as a bot process opens them."""
    with ServerData(folder, database_url) as data:
        yield data.follows


def test_follows_survive_a_restart_and_stay_in_their_server(tmp_path: Path, database_url: str) -> None:
    with follows_in(tmp_path, database_url) as before:
        fed = before.follow(GUILD, CHANNEL, ALICE, "Has the Fed cut rates?", keep_open=False)
    with follows_in(tmp_path, database_url) as again:
        assert [f.question for f in again.following(GUILD, ALICE)] == ["Has the Fed cut rates?"]
        assert again.following(OTHER_GUILD, ALICE) == [] and again.open_follows(OTHER_GUILD) == []
        assert not again.unfollow(OTHER_GUILD, ALICE, fed.id), "another server cannot end it"
        assert not again.unfollow(GUILD, BOB, fed.id), "nor another member"
        assert again.unfollow(GUILD, ALICE, fed.id)
        assert again.following(GUILD, ALICE) == [] and again.counts(GUILD) == (0, 0)


def test_following_the_same_question_again_keeps_one_follow(tmp_path: Path, database_url: str) -> None:
    with follows_in(tmp_path, database_url) as follows:
        first = follows.follow(GUILD, CHANNEL, ALICE, "Has the Fed cut rates?", keep_open=False)
        second = follows.follow(GUILD, CHANNEL + 1, ALICE, "Has the Fed cut rates?", keep_open=True)
        assert second.id == first.id and second.channel_id == CHANNEL + 1 and second.keep_open
        assert len(follows.following(GUILD, ALICE)) == 1


def test_a_member_may_follow_only_so_many_questions_in_a_server(tmp_path: Path, database_url: str) -> None:
    with follows_in(tmp_path, database_url) as follows:
        for n in range(MAX_PER_MEMBER):
            follows.follow(GUILD, CHANNEL, ALICE, f"Question {n}?", keep_open=True)
        with pytest.raises(TooManyFollows, match="/unfollow"):
            follows.follow(GUILD, CHANNEL, ALICE, "One more?", keep_open=True)
        follows.follow(GUILD, CHANNEL, BOB, "One more?", keep_open=True)  # another member's own cap
        follows.follow(OTHER_GUILD, CHANNEL, ALICE, "One more?", keep_open=True)  # another server's


def test_a_notice_is_claimed_once_per_story_and_a_closing_follow_closes(tmp_path: Path, database_url: str) -> None:
    with follows_in(tmp_path, database_url) as follows:
        once = follows.follow(GUILD, CHANNEL, ALICE, "Has the Fed cut rates?", keep_open=False)
        kept = follows.follow(GUILD, CHANNEL, BOB, "Has the Fed cut rates?", keep_open=True)
        assert follows.claim(once.id, "story-1", "article-1")
        assert not follows.claim(once.id, "story-2", "article-2"), "closed after its first answer"
        assert follows.claim(kept.id, "story-1", "article-1")
        assert not follows.claim(kept.id, "story-1", "article-3"), "one notice per story"
        assert follows.claim(kept.id, "story-2", "article-2"), "a new story notifies again"
        assert [f.id for f in follows.open_follows(GUILD)] == [kept.id]
        assert follows.counts(GUILD) == (1, 3)


def test_processes_claiming_one_notice_at_once_send_it_once(tmp_path: Path, database_url: str) -> None:
    if not database_url:
        pytest.skip("one process owns an SQLite folder")
    with ExitStack() as stack:
        first = stack.enter_context(follows_in(tmp_path, database_url))
        follow = first.follow(GUILD, CHANNEL, ALICE, "Has the Fed cut rates?", keep_open=False)
        processes = [stack.enter_context(follows_in(tmp_path / str(n), database_url)) for n in range(4)]
        claims = at_once(4, lambda n: processes[n].claim(follow.id, f"story-{n % 2}", "article"))
        assert sum(claims) == 1, "two stories at once: a follow that closes after one answer is notified once"


def test_a_story_noticed_before_does_not_close_a_follow_silently(tmp_path: Path, database_url: str) -> None:
    with follows_in(tmp_path, database_url) as follows:
        kept = follows.follow(GUILD, CHANNEL, ALICE, "Has the Fed cut rates?", keep_open=True)
        assert follows.claim(kept.id, "story-1", "article-1")
        follows.follow(GUILD, CHANNEL, ALICE, "Has the Fed cut rates?", keep_open=False)  # now: close after one
        assert not follows.claim(kept.id, "story-1", "article-9"), "that story was noticed already"
        assert [f.id for f in follows.following(GUILD, ALICE)] == [kept.id], "and the follow is still open"
        assert follows.claim(kept.id, "story-2", "article-2")
        assert follows.following(GUILD, ALICE) == []


def test_a_notice_that_could_not_be_sent_is_given_back(tmp_path: Path, database_url: str) -> None:
    with follows_in(tmp_path, database_url) as follows:
        once = follows.follow(GUILD, CHANNEL, ALICE, "Has the Fed cut rates?", keep_open=False)
        assert follows.claim(once.id, "story-1", "article-1") and follows.following(GUILD, ALICE) == []
        follows.release(once.id, "story-1")  # Discord failed: the follow is open again, the story unclaimed
        assert [f.id for f in follows.following(GUILD, ALICE)] == [once.id]
        assert follows.claim(once.id, "story-1", "article-1")
        assert follows.counts(GUILD) == (0, 1)

        # A follow noticed before, then followed again to close after one answer: a failed notice reopens it.
        again = follows.follow(GUILD, CHANNEL, BOB, "Is the strike over?", keep_open=True)
        assert follows.claim(again.id, "story-1", "article-1")
        follows.follow(GUILD, CHANNEL, BOB, "Is the strike over?", keep_open=False)
        assert follows.claim(again.id, "story-2", "article-2") and follows.following(GUILD, BOB) == []
        follows.release(again.id, "story-2")
        assert [f.id for f in follows.following(GUILD, BOB)] == [again.id]

        kept = follows.follow(GUILD, CHANNEL, BOB, "Has the Fed cut rates?", keep_open=True)
        follows.end(kept.id)  # its channel is gone
        assert not follows.claim(kept.id, "story-2", "article-2")
        assert [f.id for f in follows.following(GUILD, BOB)] == [again.id]


def test_a_servers_version_changes_with_its_open_follows_and_only_then(tmp_path: Path, database_url: str) -> None:
    with follows_in(tmp_path, database_url) as follows, follows_in(tmp_path / "other", database_url) as other:
        process = other if database_url else follows  # on PostgreSQL, as another process sees it
        seen = [follows.version(GUILD)]

        def changed() -> bool:
            seen.append(process.version(GUILD))
            return seen[-1] != seen[-2]

        once = follows.follow(GUILD, CHANNEL, ALICE, "Has the Fed cut rates?", keep_open=False)
        assert changed()
        kept = follows.follow(GUILD, CHANNEL, BOB, "Is the strike over?", keep_open=True)
        assert changed()
        follows.follow(OTHER_GUILD, CHANNEL, BOB, "Is the strike over?", keep_open=True)
        assert not changed(), "another server's follows"
        assert follows.claim(kept.id, "story-1", "article-1") and not changed(), "a follow kept open stays open"
        assert follows.claim(once.id, "story-1", "article-1") and changed(), "closed by its notice"
        follows.release(once.id, "story-1")
        assert changed(), "open again"
        assert follows.unfollow(GUILD, ALICE, once.id) and changed()
        follows.end(kept.id)
        assert changed()


def test_a_start_finds_the_articles_stored_since_the_follows_last_checked(tmp_path: Path, database_url: str) -> None:
    fed, strike = ArticleVersion("fed", "", "h1", "Fed holds"), ArticleVersion("strike", "77", "h2", "Dock strike")
    with follows_in(tmp_path, database_url) as follows:
        assert follows.unchecked([fed, strike]) == [], "the first start takes what is stored as checked"
    with follows_in(tmp_path, database_url) as follows:
        museum = ArticleVersion("museum", "", "h3", "Museum opens")
        changed = fed._replace(content_hash="h1b")
        assert follows.unchecked([changed, strike, museum]) == [(changed, True), (museum, False)]
        follows.checked([(changed.id, changed.content_hash)])
        assert follows.unchecked([changed, strike, museum]) == [(museum, False)]
        follows.checked([(museum.id, museum.content_hash)])
        assert follows.unchecked([museum]) == [], "a removed article is forgotten"
        assert follows.unchecked([museum, strike]) == [(strike, False)], "... and new if it is stored again"
