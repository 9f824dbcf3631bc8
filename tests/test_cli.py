"""The `articlebot` command line, as a user runs it."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from index import ArticleIndex, Settings
from tests.support.cli import run
from tests.support.paths import REPO, write
from tests.support.pdfs import make_pdf
from tests.support.texts import XI_SENTENCE
from tests.support.web import QuietHandler, serving

ARTICLE = "Bridge closes\n\nThe city council voted on Tuesday to close the old river bridge for repairs."


def test_ask_on_an_empty_index_builds_it_from_the_seeds(index_dir: Path) -> None:
    status, out = run("ask", "How did China react?")
    assert status == 0
    lines = out.splitlines()
    assert lines[2].startswith("North Korea's Kim Jong Un Congratulates Vladimir Putin on Election Win (Newsweek")
    assert lines[3].startswith(f'  [1] "{XI_SENTENCE}')


def test_ask_json_is_one_object_with_the_documented_shape(index_dir: Path) -> None:
    status, out = run("ask", "What percentage of votes did Putin win?", "--json", "--k", "1")
    data = json.loads(out)
    assert status == 0 and data["answered"] is True
    assert len(data["quotes"]) == 1 and "77 percent" in data["quotes"][0]["text"]
    assert data["quotes"][0]["outlet"] == "Newsweek"


def test_not_found_is_said_plainly_with_the_nearest_sources(index_dir: Path) -> None:
    status, out = run("ask", "What is the capital of Peru?")
    assert status == 0
    assert "Nothing in the articles answers that." in out
    assert "Nearest sources:" in out and '"' not in out


def test_ask_dash_answers_one_question_per_line(index_dir: Path) -> None:
    status, out = run("ask", "-", "--json", stdin="How did China react?\nWhat is the capital of Peru?\n")
    rows = [json.loads(line) for line in out.splitlines()]
    assert status == 0
    assert [r["question"] for r in rows] == ["How did China react?", "What is the capital of Peru?"]
    assert [r["answered"] for r in rows] == [True, False]


#: Lines that once got no output line, or a traceback: whitespace alone (Unicode spaces too), bytes that
#: are not UTF-8, line separators that JSON leaves raw.
AWKWARD_LINES = [
    b"",
    b"   ",
    "\u3000".encode(),
    "\u202f\u1680".encode(),
    "\x85".encode(),
    b"\t\x0b\x0c",
    b"caf\xe9?",
    b"\xff\xfe",
    "What\u2028happened?".encode(),
    "Who won?\x85".encode(),
    b"How did China react?\r",
    b"\x00",
    b"\x1b[31mred?",
    b"x" * 1001,
]


def test_ask_dash_pairs_every_input_line_with_one_output_line(index_dir: Path) -> None:
    rng = random.Random(7)
    fuzzed = [
        bytes(rng.choice(b"ab ?\t\r\x00\x85\xc2\xa0\xe3\x80\x80\xff") for _ in range(rng.randint(0, 12)))
        for _ in range(60)
    ]
    lines = [b"How did China react?", *AWKWARD_LINES, *fuzzed]
    status, out = run("ask", "-", "--json", stdin=b"\n".join(lines) + b"\n")
    rows = [json.loads(line) for line in out.splitlines()]
    assert status == 1 and len(rows) == len(lines)
    assert rows[0]["answered"] is True
    errors = {line: row["error"] for line, row in zip(lines, rows) if "error" in row}
    assert errors[b"caf\xe9?"] == "the question is not UTF-8 text" and rows[7]["question"] == "caf\\xe9?"
    for blank in AWKWARD_LINES[:6]:
        assert errors[blank] == "the question is empty"
    assert errors[b"x" * 1001].startswith("the question is too long")
    assert "answered" in rows[9] and "answered" in rows[11], "a line separator inside a question is part of it"


def test_ask_dash_reports_a_line_it_cannot_ask_by_its_number(index_dir: Path, capsys) -> None:
    status, out = run("ask", "-", stdin=b"How did China react?\n\xe9\n \nWhat is the capital of Peru?\n")
    assert status == 1
    assert out.count("Q: ") == 2
    assert capsys.readouterr().err.splitlines() == [
        "articlebot: line 2: the question is not UTF-8 text",
        "articlebot: line 3: the question is empty",
    ]


def test_a_question_argument_that_is_not_utf8_is_refused_in_one_line(index_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "index.cli", "ask", b"caf\xe9?"], cwd=REPO, capture_output=True, timeout=120
    )
    assert done.returncode == 1
    assert done.stderr == b"articlebot: the question is not UTF-8 text\n"


def test_ingest_reports_each_article_and_is_idempotent(index_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    write(folder, "a.txt", ARTICLE)
    write(folder, "sub/b.md", "# Museum opens\n\nA new science museum opened downtown on Saturday with a planetarium.")
    status, out = run("ingest", str(folder))
    assert status == 0
    assert [line.split()[0] for line in out.splitlines()] == ["added", "added"]
    status, out = run("ingest", str(folder))
    assert [line.split()[0] for line in out.splitlines()] == ["unchanged", "unchanged"]
    status, out = run("sources", "--json")
    assert sorted(a["title"] for a in json.loads(out)) == ["Bridge closes", "Museum opens"]


def test_ingest_errors_are_one_line_each_and_the_rest_is_added(index_dir: Path, tmp_path: Path, capsys) -> None:
    good = write(tmp_path, "good.txt", ARTICLE)
    binary = tmp_path / "photo.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    status, out = run("ingest", str(good), str(binary), str(tmp_path / "missing.txt"))
    errors = capsys.readouterr().err.strip().splitlines()
    assert status == 1
    assert out.startswith("added")
    assert errors == [
        f"articlebot: {tmp_path / 'missing.txt'}: no such file or folder",
        f"articlebot: {binary}: looks like a binary file, not text",
    ]


def test_sources_and_remove(index_dir: Path, tmp_path: Path, capsys) -> None:
    run("ingest", str(write(tmp_path, "a.txt", ARTICLE)))
    status, out = run("sources")
    article_id = out.split()[0]
    assert status == 0 and "Bridge closes" in out and "1 passages" in out
    assert run("remove", article_id) == (0, f"removed   {article_id}  Bridge closes\n")
    assert run("sources")[1].startswith("No articles yet")
    assert run("remove", article_id)[0] == 1
    assert "no article with id" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ask", ""], "articlebot: the question is empty"),
        (["ask", "   "], "articlebot: the question is empty"),
        (["ingest", "/no/such/folder"], "articlebot: /no/such/folder: no such file or folder"),
    ],
)
def test_user_errors_are_one_clear_line_and_exit_1(index_dir: Path, capsys, argv: list[str], message: str) -> None:
    assert run(*argv)[0] == 1
    assert capsys.readouterr().err.strip() == message


def test_a_bad_setting_is_reported(index_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("ARTICLEBOT_MIN_SCORE", "high")
    assert run("sources")[0] == 1
    assert "ARTICLEBOT_MIN_SCORE must be a float" in capsys.readouterr().err


def test_the_installed_command_answers_from_a_fresh_index(tmp_path: Path) -> None:
    env = {**os.environ, "ARTICLEBOT_INDEX": str(tmp_path / "index")}
    env.pop("ARTICLEBOT_SEEDS", None)
    done = subprocess.run(
        [sys.executable, "-m", "index.cli", "ask", "How did China react?"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert XI_SENTENCE in done.stdout
    assert "Traceback" not in done.stderr


PAGE = b"""<html><head><title>Harbour strike ends</title><meta property="og:site_name" content="Port News">
<meta name="author" content="Sam Reed"><meta property="article:published_time" content="2024-06-01"></head>
<body><article><h1>Harbour strike ends</h1><p>Dock workers ended their nine-day strike on Friday after winning a
pay rise of 5 percent, the union said.</p><p>Ships that waited outside the harbour began to unload on Saturday.</p>
</article></body></html>"""


@pytest.fixture
def article_server():
    """An HTTP server on 127.0.0.1 serving one article at /harbour."""

    class Handler(QuietHandler):
        pages = {"/harbour": PAGE}

    with serving(Handler) as url:
        yield url


def test_ingest_a_url_when_private_addresses_are_allowed(
    index_dir: Path, article_server: str, monkeypatch, capsys
) -> None:
    status, out = run("ingest", f"{article_server}/harbour")
    assert status == 1 and out == ""
    assert capsys.readouterr().err.startswith(f"articlebot: {article_server}/harbour: refused: 127.0.0.1")
    monkeypatch.setenv("ARTICLEBOT_ALLOW_PRIVATE_URLS", "1")
    status, out = run("ingest", f"{article_server}/harbour", f"{article_server}/missing")
    assert status == 1 and out.startswith("added") and "Harbour strike ends" in out
    assert "HTTP 404" in capsys.readouterr().err
    [row] = [a for a in json.loads(run("sources", "--json")[1]) if a["title"] == "Harbour strike ends"]
    assert (row["url"], row["outlet"], row["author"], row["published"]) == (
        f"{article_server}/harbour",
        "Port News",
        "Sam Reed",
        "2024-06-01",
    )
    answer = json.loads(run("ask", "How long was the harbour strike?", "--json")[1])
    assert "nine-day strike" in answer["quotes"][0]["text"]


def test_feeds_are_followed_listed_polled_and_removed(index_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from tests.support.feed_site import FeedSite, serving_feeds

    monkeypatch.setenv("ARTICLEBOT_ALLOW_PRIVATE_URLS", "1")
    site = FeedSite(items=3)
    with serving_feeds(site) as base:
        url = f"{base}/feed.xml"
        assert run("feeds", "add", url) == (
            0,
            f"following {url}  Port News (3 items; `articlebot feeds poll` reads them)\n",
        )
        assert run("feeds", "add", url)[0] == 1 and "already followed" in capsys.readouterr().err
        assert run("feeds", "add", f"{base}/item/1")[0] == 1
        assert "not a feed: content type text/html" in capsys.readouterr().err
        assert run("feeds", "list") == (0, f"{url}  Port News: not polled yet\n")
        assert run("feeds", "poll") == (0, f"{url}  3 new, 3 added\n")
        assert run("feeds", "poll") == (0, f"{url}  not modified\n")
        [listed] = json.loads(run("feeds", "list", "--json")[1])
        assert listed["url"] == url and listed["last_checked"] and listed["last_new"] and not listed["error"]
    status, out = run("ask", "How many cracked girders did bridge number 2 have?")
    assert status == 0 and "4 cracked girders" in out
    assert run("feeds", "remove", url) == (0, f"removed   {url}\n")
    assert run("feeds", "list") == (0, "No feeds yet. Follow one with: articlebot feeds add URL\n")


def test_a_path_with_a_line_break_is_shown_on_one_line(index_dir: Path, tmp_path: Path, capsys) -> None:
    odd = tmp_path / "bad\nname\x1b[2J.txt"
    odd.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert run("ingest", str(odd), str(tmp_path / "gone\n.txt"))[0] == 1
    assert capsys.readouterr().err.splitlines() == [
        f"articlebot: {tmp_path}/gone\\n.txt: no such file or folder",
        f"articlebot: {tmp_path}/bad\\nname\\x1b[2J.txt: looks like a binary file, not text",
    ]


def test_library_warnings_about_a_pdf_are_lines_about_its_path_at_the_level_chosen(
    index_dir: Path, tmp_path: Path
) -> None:
    whole = make_pdf([["The council voted on Tuesday to close the old river bridge for repairs, officials said."]])
    damaged = tmp_path / "bridge.pdf"
    damaged.write_bytes(whole[: whole.rindex(b"%%EOF")])  # truncated: pypdf warns, then cannot read it

    def ingest(**env: str) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-m", "index.cli", "ingest", str(damaged)],
            cwd=REPO,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 1 and done.stdout == ""
        return done.stderr.splitlines()

    lines = ingest()
    assert lines[-1] == f"articlebot: {damaged}: not a readable PDF (PdfStreamError)"
    assert f"articlebot: {damaged}: EOF marker not found" in lines
    assert all(line.startswith(f"articlebot: {damaged}: ") for line in lines)
    assert ingest(ARTICLEBOT_LOG_LEVEL="error") == [lines[-1]]


def test_ingest_help_names_every_file_type_read() -> None:
    from index.cli import build_parser

    [ingest] = [a for a in build_parser()._subparsers._group_actions[0]._choices_actions if a.dest == "ingest"]
    assert ".pdf" in ingest.help and ".txt" in ingest.help


def test_the_encoder_cache_follows_the_index_option(tmp_path: Path) -> None:
    assert Settings.from_env({}, index_dir=tmp_path / "data" / "idx").encoder_cache == tmp_path / "data" / "encoders"
    assert (
        Settings.from_env({"ARTICLEBOT_INDEX": "elsewhere/idx"}, index_dir=tmp_path / "idx").index_dir
        == tmp_path / "idx"
    )
    set_apart = {"ARTICLEBOT_ENCODER_CACHE": str(tmp_path / "cache")}
    assert Settings.from_env(set_apart, index_dir=tmp_path / "idx").encoder_cache == tmp_path / "cache"


def test_every_command_closes_the_index_it_opened(
    index_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[ArticleIndex] = []
    closed: list[ArticleIndex] = []
    open_index, close_index = ArticleIndex.open.__func__, ArticleIndex.close  # type: ignore[attr-defined]

    def opening(cls: type[ArticleIndex], settings: Settings) -> ArticleIndex:
        opened.append(open_index(cls, settings))
        return opened[-1]

    def closing(self: ArticleIndex) -> None:
        closed.append(self)
        close_index(self)

    monkeypatch.setattr(ArticleIndex, "open", classmethod(opening))
    monkeypatch.setattr(ArticleIndex, "close", closing)
    article = write(tmp_path, "a.txt", ARTICLE)
    for argv, status in (
        (["ask", "How did China react?"], 0),
        (["ask", "-"], 0),
        (["ingest", str(article)], 0),
        (["ingest", str(tmp_path / "missing.txt")], 1),
        (["sources"], 0),
        (["remove", "no-such-id"], 1),
        (["feeds", "poll"], 0),
    ):
        assert run(*argv)[0] == status, argv
        assert len(opened) == len(closed) and opened[-1] is closed[-1], argv


def test_commands_on_postgresql_leave_no_broken_connection_in_the_server_log(
    index_dir: Path, tmp_path: Path, postgres_url: str, postgres_log: Path
) -> None:
    env = {**os.environ, "ARTICLEBOT_DATABASE_URL": postgres_url}
    before = postgres_log.stat().st_size
    for argv in (["ingest", str(write(tmp_path, "a.txt", ARTICLE))], ["sources"], ["ask", "Which bridge closes?"]):
        done = subprocess.run(
            [sys.executable, "-m", "index.cli", *argv], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
    with postgres_log.open("rb") as log:
        log.seek(before)
        written = log.read().decode("utf-8", "replace")
    assert "unexpected EOF" not in written and "Connection reset" not in written, written
