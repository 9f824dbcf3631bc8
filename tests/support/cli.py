"""Running the command line in the test's process, as a terminal or a pipe would."""

from __future__ import annotations

import io
import sys

from index.cli import main


def run(*argv: str, stdin: str | bytes = "") -> tuple[int, str]:
    out = io.StringIO()
    old_stdin = sys.stdin
    # As a terminal or a pipe gives it: text over bytes, which may not be UTF-8.
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin.encode() if isinstance(stdin, str) else stdin), encoding="utf-8")
    try:
        status = main(list(argv), out)
    finally:
        sys.stdin = old_stdin
    return status, out.getvalue()
