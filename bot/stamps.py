"""The time stamps the server data records: UTC, ISO 8601, to the second (they sort as text)."""

from __future__ import annotations

from datetime import UTC, datetime


def now_stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
