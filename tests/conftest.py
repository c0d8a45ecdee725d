"""Shared fixtures: real stores (a DuckDB file, a PostgreSQL server), fresh per test."""
from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models import db  # noqa: E402

if TYPE_CHECKING:
    from tests.pg import PostgresServer

_counter = itertools.count()


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own data folder; nothing touches the developer's data/."""
    monkeypatch.setenv("HOMEWARD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("HOMEWARD_DB_URL", raising=False)
    monkeypatch.setenv("HOMEWARD_PSEUDO_KEY", "test-key-not-secret")
    monkeypatch.delenv("HOMEWARD_PLACES", raising=False)
    monkeypatch.delenv("HOMEWARD_DEMO", raising=False)
    # The suites written before sign-in run as the no-sign-in admin; access tests set local explicitly.
    monkeypatch.setenv("HOMEWARD_AUTH", "none")
    monkeypatch.delenv("HOMEWARD_SECRET_KEY", raising=False)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[object]:
    from tests.pg import PostgresServer

    if os.environ.get("HOMEWARD_TEST_PG_URL"):
        yield None
        return
    server = PostgresServer().start()
    # A template with schema and geography makes each test's database cheap.
    admin = sa.create_engine(server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text("CREATE DATABASE homeward_template"))
    admin.dispose()
    engine = db.make_engine(server.url("homeward_template"))
    db.create_schema(engine)
    from models import geography

    geography.load_reference(engine)
    engine.dispose()
    try:
        yield server
    finally:
        server.stop()


def _fresh_pg_url(server: PostgresServer) -> str:
    name = f"t_{os.getpid()}_{next(_counter)}"
    admin = sa.create_engine(server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name} TEMPLATE homeward_template"))
    admin.dispose()
    return server.url(name)


@pytest.fixture
def duck_url(tmp_path: Path) -> str:
    return f"duckdb:///{tmp_path / 'store.duckdb'}"


@pytest.fixture
def duck_store(duck_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[sa.Engine]:
    """A fresh DuckDB file with schema and reference geography; HOMEWARD_DB_URL points at it."""
    monkeypatch.setenv("HOMEWARD_DB_URL", duck_url)
    engine = db.init_store(duck_url)
    yield engine
    db.dispose_all()


@pytest.fixture(params=["duckdb", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sa.Engine]:
    """The same test on both stores: a DuckDB file and a real PostgreSQL database."""
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path / 'store.duckdb'}"
        monkeypatch.setenv("HOMEWARD_DB_URL", url)
        engine = db.init_store(url)
    else:
        server = request.getfixturevalue("pg_server")
        url = os.environ.get("HOMEWARD_TEST_PG_URL") or _fresh_pg_url(server)
        monkeypatch.setenv("HOMEWARD_DB_URL", url)
        engine = db.get_engine(url)
    yield engine
    db.dispose_all()


@pytest.fixture
def pg_store(pg_server: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[sa.Engine]:
    """A fresh PostgreSQL database with schema and reference geography; HOMEWARD_DB_URL points at it."""
    url = os.environ.get("HOMEWARD_TEST_PG_URL") or _fresh_pg_url(pg_server)
    monkeypatch.setenv("HOMEWARD_DB_URL", url)
    engine = db.get_engine(url)
    yield engine
    db.dispose_all()
