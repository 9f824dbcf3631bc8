"""The `articlebot` command line: ingest, ask, sources, remove, feeds, migrate, eval, bench (`run` is added by the
bot package)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .ingest.parse import SUPPORTED_TYPES
from .printable import printable
from .settings import Settings, SettingsError

if TYPE_CHECKING:
    from .answer.results import Answer
    from .article_index import ArticleIndex


class CliError(Exception):
    """A one-line error for the user; the command exits with status 1."""


def _open_index(args: argparse.Namespace) -> ArticleIndex:
    from .article_index import ArticleIndex
    from .errors import ModelError, StoreError

    settings = args.settings
    try:
        return ArticleIndex.open(settings)
    except (ModelError, StoreError) as exc:
        raise CliError(str(exc)) from None


#: Characters that JSON leaves as they are but that some readers take as line breaks (Python's splitlines,
#: JavaScript): escaped, so that one JSON line is one line to every reader.
_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def json_line(value: object) -> str:
    """`value` as JSON on one line, text readable as written (not \\u-escaped) but for line breaks."""
    return json.dumps(value, ensure_ascii=False).translate(_LINE_BREAKS)


def format_answer(answer: Answer) -> str:
    """An answer as plain text for a terminal: quotes under their source, or the nearest sources."""
    lines = [f"Q: {answer.question}", *([f"Searching for: {answer.searched}"] if answer.searched else []), ""]
    if answer.note:
        lines += [answer.note, ""]
    if not answer.answered:
        lines.append("Nothing in the articles answers that.")
        if answer.sources:
            lines.append("Nearest sources:")
            lines += [f"  - {s.title}{_byline(s.outlet, s.published)}" for s in answer.sources]
        return "\n".join(lines)
    current = None
    for number, quote in enumerate(answer.quotes, start=1):
        if quote.article_id != current:
            current = quote.article_id
            lines.append(f"{quote.title}{_byline(quote.outlet, quote.published)}")
            if quote.url:
                lines.append(f"  {quote.url}")
        lines.append(
            f'  [{number}] "{quote.text}" (paragraph {quote.paragraph}'
            f"{', undated' if answer.since and not quote.published else ''})"
        )
        if quote.also:
            lines.append(f"      also in {', '.join(quote.also)}")
    return "\n".join(lines)


def _byline(outlet: str, published: str) -> str:
    parts = [p for p in (outlet, published) if p]
    return f" ({', '.join(parts)})" if parts else ""


def cmd_ingest(args: argparse.Namespace, out: TextIO) -> int:
    from .ingest.load import ingest_paths, is_url

    with _open_index(args) as index:
        report = ingest_paths(index, [p if is_url(p) else Path(p) for p in args.paths], progress=True)
    for r in report.results:
        detail = f"same text as {r.duplicate_of}" if r.status == "duplicate" else f"{r.chunks} passages"
        print(f"{r.status:9} {r.article_id}  {r.title} ({detail})", file=out)
        for note in r.notes:
            print(f"{'':9} note: {note}", file=out)
    for error in report.errors:
        print(f"articlebot: {error}", file=sys.stderr)
    return 1 if report.errors else 0


def stdin_lines(stream: TextIO) -> Iterator[str]:
    """Each line of `stream`, read as it comes, without its line break: every line counts, blank ones too,
    so that `ask -` answers each with exactly one output line. Lines are split at \\n alone (a Unicode
    line separator inside a question is part of it), and a byte that is not UTF-8 is kept as Python keeps
    it in arguments (a surrogate), which `check_question` refuses for that line alone."""
    lines: Iterable[str | bytes] = getattr(stream, "buffer", None) or stream
    for line in lines:
        text = line.decode("utf-8", "surrogateescape") if isinstance(line, bytes) else line
        yield text.removesuffix("\n").removesuffix("\r")


def _answer_each(index: ArticleIndex, questions: Iterable[str], args: argparse.Namespace, out: TextIO) -> int:
    """One answer, or one error, per question: with --json one line each, so output pairs with input."""
    from .answer.followups import Turn
    from .article_index import QuestionError
    from .storage.scope import Scope

    status = 0
    turn: Turn | None = None
    scope = Scope(None, args.since)
    for number, question in enumerate(questions, start=1):
        try:
            answer = index.ask(question, k=args.k, scope=scope, after=turn if args.conversation else None)
            turn = Turn(answer.searched or answer.question, answer.quotes[0].text if answer.quotes else "")
        except QuestionError as exc:
            if args.json:
                print(json_line({"question": printable(question), "error": str(exc)}), file=out)
            else:
                print(f"articlebot: {f'line {number}: ' if args.question == '-' else ''}{exc}", file=sys.stderr)
            status = 1
        else:
            print(json_line(answer.to_json()) if args.json else format_answer(answer), file=out)
            if not args.json and args.question == "-":
                print(file=out)
        out.flush()
    return status


def cmd_ask(args: argparse.Namespace, out: TextIO) -> int:
    from .answer.recency import SinceError, parse_since
    from .article_index import QuestionError, check_question
    from .ingest.load import ensure_seeded

    try:
        args.since = parse_since(args.since) if args.since else ""
    except SinceError as exc:
        raise CliError(str(exc)) from None
    if args.question == "-":
        questions: Iterable[str] = stdin_lines(sys.stdin)
    else:
        try:
            questions = [check_question(args.question)]
        except QuestionError as exc:
            raise CliError(str(exc)) from None
    with _open_index(args) as index:
        seeded = ensure_seeded(index, args.settings.seeds_dir)
        if seeded is not None:
            for error in seeded.errors:
                print(f"articlebot: seeds: {error}", file=sys.stderr)
        if not len(index):
            raise CliError(
                f"the index is empty and there are no seed articles in {printable(args.settings.seeds_dir)}; "
                "add some with: articlebot ingest PATH"
            )
        return _answer_each(index, questions, args, out)


def cmd_sources(args: argparse.Namespace, out: TextIO) -> int:
    with _open_index(args) as index:
        articles = index.articles()
    if args.json:
        rows = [
            {
                "article_id": a.id,
                "title": a.title,
                "url": a.url,
                "outlet": a.outlet,
                "author": a.author,
                "published": a.published,
                "passages": a.chunks,
                "added_at": a.added_at,
            }
            for a in articles
        ]
        print(json_line(rows), file=out)
        return 0
    if not articles:
        print("No articles yet. Add some with: articlebot ingest PATH", file=out)
    for a in articles:
        print(f"{a.id}  {a.title}{_byline(a.outlet, a.published)}, {a.chunks} passages", file=out)
    return 0


def cmd_remove(args: argparse.Namespace, out: TextIO) -> int:
    with _open_index(args) as index:
        article = index.article(args.article_id)
        if article is None or not index.remove(args.article_id):
            raise CliError(f"no article with id {printable(args.article_id)} (see: articlebot sources)")
        index.save()
    print(f"removed   {article.id}  {article.title}", file=out)
    return 0


def cmd_eval(args: argparse.Namespace, out: TextIO) -> int:
    from .errors import ModelError
    from .measure.evaluate import DatasetError, evaluate, format_report
    from .search.fusion import MODES

    modes = [m.strip() for m in args.mode.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise CliError(f"unknown mode {', '.join(unknown) or '(none)'}; choose from {', '.join(MODES)}")
    folder = Path(args.dataset)
    if not folder.is_dir():
        raise CliError(f"{folder}: no such dataset folder")
    if args.follows:
        from .measure.follow_eval import follow_eval, format_follows

        try:
            followed = follow_eval(folder, args.settings, seed=args.seed, misses=args.misses)
        except (DatasetError, ModelError) as exc:
            raise CliError(str(exc)) from None
        print(json_line(followed.to_json()) if args.json else format_follows(followed), file=out)
        return 0
    try:
        report = evaluate(
            folder,
            args.settings,
            limit=args.limit,
            seed=args.seed,
            modes=modes,
            unanswerable=args.unanswerable,
            progress=True,
            misses=args.misses,
            half=args.half,
            followups=args.followups,
        )
    except (DatasetError, ModelError) as exc:
        raise CliError(str(exc)) from None
    print(json_line(report.to_json()) if args.json else format_report(report), file=out)
    return 0


def cmd_bench(args: argparse.Namespace, out: TextIO) -> int:
    from .measure.bench import bench, format_reports, to_json
    from .settings import BACKENDS

    try:
        sizes = [int(s) for s in args.passages.split(",") if s.strip()]
    except ValueError:
        raise CliError(f"--passages must be numbers separated by commas, got {args.passages!r}") from None
    if not sizes or min(sizes) < 1:
        raise CliError("--passages needs at least one positive size")
    folder = Path(args.dataset)
    if not (folder / "articles.jsonl").is_file():
        raise CliError(f"{folder}: no articles.jsonl (a SQuAD-format dataset folder)")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()] if args.backends else []
    if unknown := [b for b in backends if b not in BACKENDS]:
        raise CliError(f"unknown backend {', '.join(unknown)}; choose from {', '.join(BACKENDS)}")
    reports = bench(folder, sizes, args.settings, args.encode_limit, backends)
    print(json_line(to_json(reports)) if args.json else format_reports(reports), file=out)
    return 0


def cmd_migrate(args: argparse.Namespace, out: TextIO) -> int:
    """Copy this index, the feeds it follows and what packages built on it keep beside it (`also_migrate`: the
    bot's server data) into another store (PostgreSQL ↔ SQLite folder) and check the copy."""
    import tempfile

    from .article_index import ArticleIndex
    from .errors import StoreError
    from .migrate import migrate
    from .settings import is_postgres_url
    from .storage.database import redact

    settings, to = args.settings, args.to.strip()
    if is_postgres_url(to):
        if to == settings.database_url:
            raise CliError("the index already lives in that database")
        target = replace(settings, database_url=to)
        where = redact(to)
    else:
        folder = Path(to).expanduser()
        if not settings.database_url and folder.resolve() == settings.index_dir.resolve():
            raise CliError("the index already lives in that folder")
        target = replace(settings, index_dir=folder, database_url="")
        where = str(folder)
    source = _open_index(args)
    with tempfile.TemporaryDirectory(prefix="articlebot-migrate-") as tmp:
        # With PostgreSQL, this process's own BM25 index for the check; each bot process builds its own.
        checked = replace(target, index_dir=Path(tmp) / "index") if target.database_url else target

        def open_target() -> ArticleIndex:
            try:
                return ArticleIndex(checked.index_dir, source.encoder, checked)
            except StoreError as exc:
                raise CliError(str(exc)) from None

        def progress(done: int, total: int) -> None:
            if done == total or done % 100 == 0:
                print(f"\rcopying articles: {done:,} of {total:,}", end="", file=sys.stderr, flush=True)

        try:
            report = migrate(source, open_target, progress)
        finally:
            source.close()
    feeds_copied, feeds_there = _copy_feeds(settings, target)
    try:
        also = [line for copy in args.also_migrate if (line := copy(settings, target))]
    except StoreError as exc:
        raise CliError(str(exc)) from None
    print(file=sys.stderr)
    print(f"copied {report.copied:,} articles to {where} ({report.skipped:,} already there)", file=out)
    if feeds_copied or feeds_there:
        print(f"copied {feeds_copied:,} feeds ({feeds_there:,} already there)", file=out)
    for line in also:
        print(line, file=out)
    articles, passages = report.source_counts
    print(
        f"{articles - len(report.unlike):,} of {articles:,} articles ({passages:,} passages) are there alike; "
        f"it holds {report.target_articles:,} articles in all",
        file=out,
    )
    for article_id in report.unlike[:10]:
        print(f"  missing or unlike: {article_id}", file=out)
    print(f"the same answers to {report.same_answers} of {report.asked} sample questions", file=out)
    for question in report.differences:
        print(f"  answered differently: {question}", file=out)
    print("verified" if report.verified else "NOT verified: see above", file=out)
    return 0 if report.verified else 1


def _copy_feeds(source: Settings, target: Settings) -> tuple[int, int]:
    """Copy the feeds `source` follows into `target`'s list: (copied, already there)."""
    from contextlib import ExitStack, closing

    from .errors import StoreError
    from .ingest.feeds import FILE_NAME, FeedList
    from .migrate import copy_feeds

    if not source.database_url and not (source.index_dir / FILE_NAME).is_file():
        return 0, 0  # it never followed a feed: no file to leave behind by looking
    try:
        with ExitStack() as stack:
            feeds = stack.enter_context(closing(FeedList(source.index_dir, source.database_url)))
            if not feeds.feeds():
                return 0, 0
            into = stack.enter_context(closing(FeedList(target.index_dir, target.database_url)))
            return copy_feeds(feeds, into)
    except StoreError as exc:
        raise CliError(str(exc)) from None


def _positive(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 10:
        raise argparse.ArgumentTypeError("must be between 1 and 10")
    return value


#: Adds a subcommand to the parser; how packages built on the index (the bot) add theirs.
def cmd_feeds(args: argparse.Namespace, out: TextIO) -> int:
    """The shared collection's feeds: add, list, remove; poll every feed now."""
    import asyncio

    from .errors import StoreError
    from .ingest.feeds import FeedError, FeedList, FeedPoller
    from .ingest.fetch import Fetcher, FetchPolicy

    try:
        feeds = FeedList(args.settings.index_dir, args.settings.database_url)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    try:
        if args.action == "list":
            return _list_feeds(feeds.feeds(), args.json, out)
        if args.action == "remove":
            if not feeds.remove("", args.url):
                raise CliError(f"no feed {args.url} (see: articlebot feeds list)")
            print(f"removed   {args.url}", file=out)
            return 0

        async def run(index: ArticleIndex | None) -> int:
            async with Fetcher(FetchPolicy.from_env()) as fetcher:
                poller = FeedPoller(index, feeds, fetcher)  # type: ignore[arg-type]  # add needs no index
                if args.action == "add":
                    try:
                        parsed = await poller.check(args.url)
                    except FeedError as exc:
                        raise CliError(str(exc)) from None
                    if feeds.add("", args.url, parsed.title) is None:
                        raise CliError(f"{args.url} is already followed")
                    print(
                        f"following {args.url}  {parsed.title} ({len(parsed.items)} items; "
                        "`articlebot feeds poll` reads them)",
                        file=out,
                    )
                    return 0
                errors = 0
                for result in await poller.poll_all(feeds.feeds()):
                    added = [r for r in result.added if r.status in ("added", "updated")]
                    state = (
                        f"error: {result.error}"
                        if result.error
                        else "not modified"
                        if result.not_modified
                        else f"{result.new_items} new, {len(added)} added"
                    )
                    print(f"{result.feed.url}  {state}", file=out)
                    errors += bool(result.error)
                if index is not None:
                    await asyncio.to_thread(index.save)
                return 1 if errors else 0

        if args.action != "poll":
            return asyncio.run(run(None))
        with _open_index(args) as index:
            return asyncio.run(run(index))
    finally:
        feeds.close()


def _list_feeds(feeds: Sequence, as_json: bool, out: TextIO) -> int:
    if as_json:
        rows = [
            {
                "url": f.url,
                "title": f.title,
                "last_checked": f.last_checked,
                "last_new": f.last_new,
                "error": f.last_error,
                "failures": f.failures,
            }
            for f in feeds
        ]
        print(json_line(rows), file=out)
        return 0
    if not feeds:
        print("No feeds yet. Follow one with: articlebot feeds add URL", file=out)
    for f in feeds:
        checked = f"checked {f.last_checked}" if f.last_checked else "not polled yet"
        new = f", new items {f.last_new}" if f.last_new else ""
        error = f", failing ({f.failures}×): {f.last_error}" if f.last_error else ""
        print(f"{f.url}  {f.title or '(untitled)'}: {checked}{new}{error}", file=out)
    return 0


#: Copies what a package built on the index keeps beside it (the bot's per-server data) from the
#: source's settings to the target's, as part of `migrate`: a line saying what it copied, or "" when
#: there was nothing. Resumable like the rest: run again, it copies only what the target lacks.
Migration = Callable[[Settings, Settings], str]

#: Adds a subcommand, given the parser's subcommands (argparse's action, whose class argparse keeps
#: private) and the parser of the options every command takes.
CommandAdder = Callable[[Any, argparse.ArgumentParser], None]


def build_parser(
    extra_commands: Sequence[CommandAdder] = (), also_migrate: Sequence[Migration] = ()
) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index", metavar="DIR", help="index folder (default: $ARTICLEBOT_INDEX or .articlebot/index)")
    parser = argparse.ArgumentParser(prog="articlebot", description="Answer questions about articles by quoting them.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ingest", parents=[common], help=f"add articles from files, folders ({SUPPORTED_TYPES}) or URLs")
    p.add_argument("paths", nargs="+", metavar="PATH_FOLDER_OR_URL")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser(
        "ask", parents=[common], help="answer a question with quotes ('-' reads one per line from stdin)"
    )
    p.add_argument("question", metavar="QUESTION")
    p.add_argument("--k", type=_positive, default=None, help="the most quotes to show (1-10)")
    p.add_argument("--json", action="store_true", help="print one JSON object per question")
    p.add_argument(
        "--since",
        default="",
        metavar="WHEN",
        help="only articles published on or after WHEN (7d, 2w, 3m or a date like 2024-03-01); undated ones too",
    )
    p.add_argument(
        "--conversation",
        action="store_true",
        help="with '-': read each line as a follow-up of the lines before it ('what about France?')",
    )
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("sources", parents=[common], help="list the articles in the index")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(func=cmd_sources)

    p = sub.add_parser("remove", parents=[common], help="remove an article by id")
    p.add_argument("article_id", metavar="ARTICLE_ID")
    p.set_defaults(func=cmd_remove)
    p = sub.add_parser("feeds", help="RSS/Atom feeds of the shared collection: add, list, remove, poll")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (("add", "follow a feed (checked now; `poll` reads it)"), ("remove", "stop following a feed")):
        action = actions.add_parser(name, parents=[common], help=text)
        action.add_argument("url", metavar="URL")
    action = actions.add_parser("list", parents=[common], help="the feeds, when they were last checked, their errors")
    action.add_argument("--json", action="store_true", help="print a JSON list")
    actions.add_parser(
        "poll", parents=[common], help="poll every feed now and add what is new (for cron or a first fill)"
    )
    p.set_defaults(func=cmd_feeds)

    p = sub.add_parser(
        "migrate",
        parents=[common],
        help="copy the index, its feeds and the servers' data into PostgreSQL (--to postgresql://...) or back into a "
        "folder, and check it",
    )
    p.add_argument(
        "--to",
        required=True,
        metavar="URL_OR_FOLDER",
        help="a PostgreSQL URL, or an index folder for SQLite; an interrupted copy resumes when run again",
    )
    p.set_defaults(func=cmd_migrate, also_migrate=tuple(also_migrate))

    p = sub.add_parser("eval", help="measure retrieval and quote quality on a question set (answer or evidence spans)")
    p.add_argument("dataset", metavar="DATASET_DIR", help="folder with articles.jsonl and questions.jsonl")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="ask a fixed sample of N questions")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the sample (default 0)")
    p.add_argument("--mode", default="bm25,dense,fused,hybrid", help="search modes to compare, comma-separated")
    p.add_argument(
        "--unanswerable",
        action="store_true",
        help="index every other article and also ask about the others (the answer is 'not found')",
    )
    p.add_argument(
        "--half",
        type=int,
        choices=(1, 2),
        default=None,
        help="ask only about half of the articles (every other by id; the quote model is fitted on half 1)",
    )
    p.add_argument(
        "--followups",
        action="store_true",
        help="also measure follow-up questions made elliptical (a name the question before also names "
        "becomes 'it'), with and without the rewrite",
    )
    p.add_argument(
        "--follows",
        action="store_true",
        help="instead: follow every question on an empty index, add half 2's articles one at a time "
        "(shuffled by --seed), and score the notices (ARTICLEBOT_FOLLOW_MIN_SCORE sets the bar)",
    )
    p.add_argument(
        "--misses",
        type=Path,
        default=None,
        metavar="FILE",
        help="write each question whose first quote is off target (JSON lines: gold and quotes shown); "
        "with --follows, each follow noticed off target or not noticed by its article",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("bench", help="measure ingest throughput, query latency, memory and disk by collection size")
    p.add_argument(
        "dataset",
        metavar="DATASET_DIR",
        nargs="?",
        default="../shared/eval/squad-v1.1-dev",
        help="a SQuAD-format folder whose paragraphs become passages",
    )
    p.add_argument("--passages", default="1000,10000", metavar="N,N,...", help="collection sizes (default 1000,10000)")
    p.add_argument(
        "--backends", default="", metavar="B,B", help="encoder backends to measure in turn (default: the setting)"
    )
    p.add_argument(
        "--encode-limit",
        type=int,
        default=20_000,
        metavar="N",
        help="embed every passage up to this size; larger sizes reuse embedded vectors with noise (default 20000)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_bench)

    for add in extra_commands:
        add(sub, common)
    return parser


def _log_to_stderr(level: str) -> None:
    """Log records at `level` and above as `articlebot: message` lines, libraries' warnings included (pypdf's
    name the file they are about: index/ingest/pdf.py). Nothing when the process has set up logging already."""
    import logging

    logging.basicConfig(level=level, format="articlebot: %(message)s")
    logging.captureWarnings(True)


def main(
    argv: Sequence[str] | None = None,
    out: TextIO | None = None,
    extra_commands: Sequence[CommandAdder] = (),
    also_migrate: Sequence[Migration] = (),
) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser(extra_commands, also_migrate).parse_args(argv)
    index_dir = getattr(args, "index", None)
    try:
        args.settings = Settings.from_env(index_dir=Path(index_dir) if index_dir else None)
    except SettingsError as exc:
        print(f"articlebot: {exc}", file=sys.stderr)
        return 1
    if not getattr(args, "logs_itself", False):
        _log_to_stderr(args.settings.log_level or "WARNING")
    func: Callable[[argparse.Namespace, TextIO], int] = args.func
    try:
        return func(args, out or sys.stdout)
    except CliError as exc:
        print(f"articlebot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("articlebot: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
