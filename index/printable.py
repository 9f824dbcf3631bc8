"""Text shown on one line whatever it came from: a path, a URL or a question as the user gave them."""

from __future__ import annotations

import os
import re
from pathlib import Path

#: Control characters and line or paragraph separators: a terminal would break the line at them or act on
#: them (an escape sequence), and a message of one line must stay one line.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: str | bytes | Path) -> str:
    """`text` with each byte that is not UTF-8 shown as `\\xff` (a str holds them as surrogates, as Python
    decodes file names and arguments) and each control character as its escape (`\\n`, `\\x1b`), so that
    it prints, and prints as one line."""
    if isinstance(text, bytes):
        raw = text
    else:
        text = os.fspath(text)
        try:
            raw = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a surrogate that stands for no byte: not from decoding, shown as its escape
            raw = text.encode("utf-8", "backslashreplace")
    shown = raw.decode("utf-8", "backslashreplace")
    return _CONTROLS.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), shown)
