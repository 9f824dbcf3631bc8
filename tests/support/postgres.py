"""A real PostgreSQL with pgvector for the tests: the `pgserver` wheel's server, started in a temporary
folder on a unix socket, once per test session; tests that need it are skipped, saying why, only
when no server can be started here."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

#: The server log of each server started, by its URL.
_LOGS: dict[str, Path] = {}


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a running PostgreSQL server with the `vector` extension available."""
    try:
        import pgserver
    except ImportError as exc:
        pytest.skip(f"no PostgreSQL for the tests: pgserver is not installed ({exc}); pip install -e '.[test]'")
    folder = Path(tempfile.mkdtemp(prefix="articlebot-pg-"))
    try:
        server = pgserver.get_server(str(folder), cleanup_mode="stop")
        server.psql("CREATE EXTENSION IF NOT EXISTS vector;")
    except Exception as exc:  # whatever stops a server from starting here, the tests say so and skip
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"no PostgreSQL for the tests: the pgserver server did not start ({exc})")
    _LOGS[server.get_uri()] = server.log
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_log(postgres_server: str) -> Path:
    """The session server's log file, where it notes clients that went away without closing their connections."""
    return _LOGS[postgres_server]


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the session's server, dropped afterwards."""
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = postgres_server.replace("/postgres?", f"/{name}?")
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("CREATE EXTENSION IF NOT EXISTS vector")
    try:
        yield url
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
