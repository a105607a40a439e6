"""The dashboard's reads from the reporting read model — all its SQL, in one place."""

from __future__ import annotations

import datetime as dt
from typing import Any

from psycopg.sql import SQL, Composed, Identifier, Literal

from services.reporting.application import ReportingStore

FIELDS = ("complaint_no", "received_at", "status", "kind", "equipment", "site", "cause", "deadlines", "surveys",
          "service_fault", "fines", "fine_reversals", "escalations", "parts")  # fmt: skip


def _views_query(schema: str, region: str | None, model: str | None) -> Composed:
    pairs = SQL(", ").join(SQL("{0}::text, doc->{0}").format(Literal(field)) for field in FIELDS)
    conditions = [SQL("received_at >= %(since)s"), SQL("received_at < %(until)s"), SQL("status <> 'void'")]
    if region is not None:
        conditions.append(SQL("doc->'site'->>'region' = %(region)s"))
    if model is not None:
        conditions.append(SQL("doc->'equipment'->>'model' = %(model)s"))
    return SQL(
        "SELECT jsonb_build_object({0}) AS doc FROM {1}.complaints WHERE {2} ORDER BY received_at, complaint_no"
    ).format(pairs, Identifier(schema), SQL(" AND ").join(conditions))


def views(
    store: ReportingStore, since: dt.datetime, until: dt.datetime, region: str | None, model: str | None
) -> list[dict[str, Any]]:
    """The parts of each complaint view the dashboard needs: received in [since, until), of the region and model."""
    params = {"since": since, "until": until, "region": region, "model": model}
    with store.pool.connection() as conn:
        return [dict(r["doc"]) for r in conn.execute(_views_query(store.schema, region, model), params).fetchall()]


def filter_options(store: ReportingStore) -> dict[str, list[str]]:
    """The regions and models that occur, for the filter lists."""
    query = SQL(
        "SELECT array_remove(array_agg(DISTINCT doc->'site'->>'region'), NULL) AS regions,"
        " array_remove(array_agg(DISTINCT doc->'equipment'->>'model'), NULL) AS models"
        " FROM {0}.complaints WHERE status <> 'void'"
    ).format(Identifier(store.schema))
    with store.pool.connection() as conn:
        row = conn.execute(query).fetchone()
    return {"regions": sorted((row or {}).get("regions") or []), "models": sorted((row or {}).get("models") or [])}
