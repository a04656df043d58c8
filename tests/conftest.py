"""Shared test setup: hypothesis without per-example deadlines (CI machines are shared and
slow; a deadline there fails a correct test), and `db_url`, one empty database per test on
SQLite and on PostgreSQL; `store`, an empty hallwatch store."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from hallwatch.store import Store
from tests.support.postgres import REQUIRE_ENV, PostgresServer, find_bindir

settings.register_profile("hallwatch", deadline=None)
settings.load_profile("hallwatch")

_numbers = itertools.count()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = find_bindir()
    if bindir is None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail("PostgreSQL server binaries not found (apt-get install postgresql)")
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql)")
    server = PostgresServer(bindir).start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: a SQLite file, or a new database on the test server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    import psycopg

    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"t{os.getpid()}_{next(_numbers)}"
    with psycopg.connect(server.url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return server.url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """An empty hallwatch store (SQLite) in the test's folder, closed after the test; a test
    module with a store of its own (users, data) defines `store` again."""
    opened = Store(tmp_path / "hw.db")
    yield opened
    opened.close()
