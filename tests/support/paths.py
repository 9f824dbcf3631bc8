"""Where the repository and its seed articles are, and writing test files."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


SEEDS = REPO / "seeds"


SEED_FILE = SEEDS / "000_34bfb7fccf2cc602.txt"


def write(folder: Path, name: str, text: str) -> Path:
    """Write a UTF-8 file below `folder` and return its path."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
