"""The PostgreSQL the tests start (tests/support/postgres.py) works as the PostgreSQL store will need it: pgvector's
HNSW index answers nearest-neighbour queries, and LISTEN/NOTIFY carries a change to another connection."""

from __future__ import annotations

import numpy as np
import pytest


def test_pgvector_finds_the_nearest_vectors_with_an_hnsw_index(postgres_url: str) -> None:
    import psycopg
    from pgvector.psycopg import register_vector

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(500, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with psycopg.connect(postgres_url, autocommit=True) as db:
        register_vector(db)
        db.execute("CREATE TABLE chunks (id bigint PRIMARY KEY, vector vector(16) NOT NULL)")
        with db.cursor() as cursor:
            cursor.executemany("INSERT INTO chunks VALUES (%s, %s)", [(i + 1, v) for i, v in enumerate(vectors)])
        db.execute("CREATE INDEX ON chunks USING hnsw (vector vector_ip_ops)")
        query = vectors[41] + 0.01
        found = [r[0] for r in db.execute("SELECT id FROM chunks ORDER BY vector <#> %s LIMIT 5", (query,))]
    assert found[0] == 42
    assert set(found) <= set((np.argsort(-(vectors @ query))[:10] + 1).tolist())


def test_a_notification_reaches_another_connection(postgres_url: str) -> None:
    import psycopg

    with (
        psycopg.connect(postgres_url, autocommit=True) as listener,
        psycopg.connect(postgres_url, autocommit=True) as writer,
    ):
        listener.execute("LISTEN changes")
        writer.execute("SELECT pg_notify('changes', '7')")
        received = [n.payload for n in listener.notifies(timeout=2, stop_after=1)]
    assert received == ["7"]


def test_postgres_is_reachable_at_its_url(postgres_server: str) -> None:
    import psycopg

    with psycopg.connect(postgres_server) as db:
        assert db.execute("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'").fetchone()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(postgres_server.replace("/postgres?", "/no_such_database?"), connect_timeout=2)
