"""The `articlebot` console script: the index commands plus `run`, which starts the Discord bot."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from index import Settings
from index import cli as index_cli


def _run(args: argparse.Namespace, out: TextIO) -> int:
    from .app import main as run_bot

    return run_bot(Path(args.index) if args.index else None)


def _add_run(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "run", parents=[common], help="start the Discord bot (settings from the environment or .env)"
    )
    parser.set_defaults(func=_run, logs_itself=True)  # through discord.py's logging set-up


def _copy_server_data(source: Settings, target: Settings) -> str:
    """`migrate`'s last copy: every server's watched channels, settings, question log and votes."""
    from contextlib import ExitStack, closing

    from .server_data import FILE_NAME, ServerData

    if not source.database_url and not (source.index_dir / FILE_NAME).is_file():
        return ""  # the bot never ran on this folder: no file to leave behind by looking
    with ExitStack() as stack:
        servers = stack.enter_context(closing(ServerData(source.index_dir, source.database_url)))
        if servers.is_empty():
            return ""
        into = stack.enter_context(closing(ServerData(target.index_dir, target.database_url)))
        return str(into.copy_from(servers))


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    return index_cli.main(argv, out, extra_commands=[_add_run], also_migrate=[_copy_server_data])
