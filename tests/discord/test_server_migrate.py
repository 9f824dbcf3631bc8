"""`articlebot migrate` takes the servers' data along: watched channels, settings, question log,
votes, followed questions and announce channels reach PostgreSQL (and come back to a folder) as the
bot's commands showed them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bot.cli import main
from bot.server_data import FILE_NAME, ServerData
from index import ArticleIndex, ArticleVersion

PORT, HILL = 1_100_000_000_000_000_001, 1_100_000_000_000_000_002  # 64-bit, as Discord's ids are
EDITOR, READER = 900_000_000_000_000_001, 900_000_000_000_000_002
NEWS, LINKS, TALK = 800_000_000_000_000_001, 800_000_000_000_000_002, 800_000_000_000_000_003
QUOTE = ("art-1", "Harbour reopens", "The harbour reopened on Monday after the storm.")
#: An article stored before the bot first started, one checked against the follows since, one not yet.
STORED, CHECKED = ArticleVersion("art-1", "", "h1", "Harbour reopens"), ArticleVersion("art-2", "", "h2", "Boats back")
UNCHECKED = ArticleVersion("art-3", "", "h3", "Storm warning")


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def fill(data: ServerData) -> int:
    """Two servers as the bot leaves them after some use; the id of one voted-down question."""
    data.watch(PORT, LINKS, EDITOR)
    data.watch(PORT, NEWS, EDITOR)
    data.watch(HILL, TALK, EDITOR)
    data.set_answers_in_threads(HILL, False)
    # Hill town asks first, so that a copy made server by server would number the questions differently.
    storm = data.log_question(HILL, TALK, READER, "How strong was the storm?", "storm", True, [QUOTE])
    reopened = data.log_question(PORT, NEWS, READER, "When did the harbour reopen?", "harbour reopen", True, [QUOTE])
    data.log_question(PORT, NEWS, READER, "What is the capital of Peru?", "capital Peru", False, [])
    boats = data.log_question(PORT, TALK, EDITOR, "Did the boats return?", "boats return", True, [QUOTE])
    data.vote(reopened, PORT, READER, True)
    data.vote(reopened, PORT, EDITOR, True)
    data.vote(boats, PORT, READER, False)
    data.vote(storm, HILL, READER, False)
    harbour = data.follows.follow(PORT, NEWS, READER, "Has the harbour reopened?", keep_open=True)
    data.follows.claim(harbour.id, "story-1", "art-1")
    data.announcements.set_channel(HILL, TALK, EDITOR)
    assert data.follows.unchecked([STORED]) == [], "the bot's first start"
    data.follows.checked([(CHECKED.id, CHECKED.content_hash)])
    return boats


def shown(data: ServerData) -> dict[int, tuple]:
    """What /stats, /watch list, /settings, /following and /announce show of each server."""
    return {
        g: (
            data.stats(g),
            data.watched(g),
            data.answers_in_threads(g),
            data.follows.following(g, READER),
            data.follows.counts(g),
            data.announcements.channel(g),
        )
        for g in (PORT, HILL)
    }


def shown_in(folder: Path, database_url: str = "") -> dict[int, tuple]:
    data = ServerData(folder, database_url)
    try:
        return shown(data)
    finally:
        data.close()


def test_the_servers_data_goes_to_postgresql_and_back(
    seed_index: ArticleIndex, postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_index.close()
    data = ServerData(seed_index.folder)
    boats = fill(data)
    before = shown(data)
    data.close()
    assert before[PORT][0].helpful == 2 and before[PORT][0].voted_down == ("Did the boats return?",)
    assert before[PORT][4] == (1, 1) and before[HILL][5] is not None
    monkeypatch.setenv("ARTICLEBOT_INDEX", str(seed_index.folder))
    monkeypatch.delenv("ARTICLEBOT_DATABASE_URL", raising=False)

    status, out = run("migrate", "--to", postgres_url)
    assert status == 0, out
    assert (
        "copied the data of 2 servers (3 watched channels, 4 questions, 4 votes, 1 followed questions, "
        "1 announcement records; 0 already there)"
    ) in out
    assert out.rstrip().endswith("verified")
    assert shown_in(tmp_path / "process", postgres_url) == before
    with ServerData(tmp_path / "process", postgres_url) as moved_data:
        assert moved_data.follows.unchecked([STORED, CHECKED, UNCHECKED]) == [(UNCHECKED, False)], (
            "what was checked before the move is known there: only what was not is checked at the next start"
        )

    status, out = run("migrate", "--to", postgres_url)  # again: nothing is copied twice
    assert status == 0
    assert (
        "copied the data of 0 servers (0 watched channels, 0 questions, 0 votes, 0 followed questions, "
        "0 announcement records; 9 already there)"
    ) in out
    assert shown_in(tmp_path / "process", postgres_url) == before

    # The bot has run on PostgreSQL since: a button under an answer sent before the move still counts for
    # its question, a new question gets an id of its own, and a server that deleted its log there does
    # not get it back.
    moved = ServerData(tmp_path / "process", postgres_url)
    assert moved.vote(boats, PORT, READER, True)
    assert moved.stats(PORT).voted_down == () and moved.stats(PORT).helpful == 3
    assert moved.vote(boats, PORT, READER, False)  # back as it was
    assert moved.log_question(HILL, TALK, READER, "Is the road open?", "road open", False, []) > boats
    assert moved.forget(HILL) == 2
    moved.close()
    monkeypatch.setenv("ARTICLEBOT_DATABASE_URL", postgres_url)
    monkeypatch.setenv("ARTICLEBOT_INDEX", str(tmp_path / "process"))
    status, out = run("migrate", "--to", str(tmp_path / "back"))
    assert status == 0 and out.rstrip().endswith("verified"), out
    assert (
        "copied the data of 2 servers (3 watched channels, 3 questions, 3 votes, 1 followed questions, "
        "1 announcement records; 0 already there)"
    ) in out
    back = shown_in(tmp_path / "back")
    assert back[PORT] == before[PORT]
    assert back[HILL][1:] == before[HILL][1:] and back[HILL][0].asked == 0, "the forgotten log stays forgotten"


def test_a_folder_the_bot_never_ran_on_gains_no_server_file(
    seed_index: ArticleIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_index.close()
    monkeypatch.setenv("ARTICLEBOT_INDEX", str(seed_index.folder))
    monkeypatch.delenv("ARTICLEBOT_DATABASE_URL", raising=False)
    status, out = run("migrate", "--to", str(tmp_path / "copy"))
    assert status == 0 and out.rstrip().endswith("verified"), out
    assert "servers" not in out
    assert not (seed_index.folder / FILE_NAME).exists() and not (tmp_path / "copy" / FILE_NAME).exists()


def test_what_the_target_already_has_wins_and_repeated_questions_stay_apart(tmp_path: Path) -> None:
    source, target = ServerData(tmp_path / "old"), ServerData(tmp_path / "new")
    fill(source)
    # The same question twice in a row (in the same second): two entries in the log, both copied.
    for _ in range(2):
        source.log_question(HILL, TALK, EDITOR, "Who owns the harbour?", "harbour owner", False, [])
    target.watch(PORT, NEWS, READER)
    target.set_answers_in_threads(HILL, True)
    target.log_question(PORT, NEWS, READER, "Is the ferry running?", "ferry", False, [])
    target.announcements.set_channel(HILL, NEWS, READER)

    copied = target.copy_from(source)
    assert str(copied) == (
        "copied the data of 2 servers (2 watched channels, 6 questions, 4 votes, 1 followed questions, "
        "0 announcement records; 2 already there)"
    )
    announced = target.announcements.channel(HILL)
    assert announced is not None and announced.channel_id == NEWS, "the target's own announce channel is kept"
    assert target.watched(PORT) == [NEWS, LINKS], "the target's own channel first, then those it gained in order"
    assert target.answers_in_threads(HILL), "the target's own setting is kept"
    assert target.stats(PORT).asked == 4 and target.stats(PORT).unanswered == (
        "What is the capital of Peru?",
        "Is the ferry running?",
    )
    assert target.stats(HILL).asked == 3
    assert (
        str(target.copy_from(source))
        == "copied the data of 0 servers (0 watched channels, 0 questions, 0 votes, 0 followed questions, "
        "0 announcement records; 11 already there)"
    )
    assert target.stats(HILL).asked == 3
    source.close()
    target.close()
