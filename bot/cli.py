"""The `articlebot` console script: the index commands plus `run`, which starts the Discord bot."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from index import cli as index_cli


def _run(args: argparse.Namespace, out: TextIO) -> int:
    from .app import main as run_bot

    return run_bot(Path(args.index) if args.index else None)


def _add_run(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("run", parents=[common], help="start the Discord bot (settings from the environment or .env)")
    parser.set_defaults(func=_run)


def main(argv: Sequence[str] | None = None) -> int:
    return index_cli.main(argv, extra_commands=[_add_run])
