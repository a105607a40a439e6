"""The composition root gives each application its store (`PostgresStore`): the application records
through that store, in the service's own schema and table, and refuses another service's store."""

from __future__ import annotations

import psycopg
import pytest

from services.dispatch.application import DispatchApplication
from services.intake.application import IntakeApplication
from shared.runtime.settings import Settings
from shared.runtime.store import PostgresStore

pytestmark = pytest.mark.integration


def test_an_application_records_through_the_store_it_is_given(settings: Settings) -> None:
    schema = settings.names.db_schema("intake")
    store = PostgresStore("intake", settings.database_url, schema, pool_size=1)
    app = IntakeApplication(store)
    try:
        assert app.recorder is store.recorder
        assert app.repository.event_store.recorder is store.recorder
        with psycopg.connect(settings.database_url) as conn:
            row = conn.execute("SELECT to_regclass(%s)", (f'"{schema}".intake_events',)).fetchone()
        assert row is not None
        assert row[0] is not None
    finally:
        app.close()


def test_another_services_store_is_refused(settings: Settings) -> None:
    store = PostgresStore("intake", settings.database_url, settings.names.db_schema("intake"), pool_size=1)
    try:
        with pytest.raises(ValueError, match="dispatch"):
            DispatchApplication(store)
    finally:
        store.close()
