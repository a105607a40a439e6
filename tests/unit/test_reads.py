"""What the read routes share (services/reporting/reads.py, read_filter.py, the store's where_clause), pure parts."""

from __future__ import annotations

import datetime as dt

from psycopg.sql import Composed

from services.reporting.api import kpi_csv_rows
from services.reporting.api_dispatch import in_period
from services.reporting.application import where_clause
from services.reporting.read_filter import ReadFilter
from services.reporting.reads import china_time, china_times, day_start


def test_every_date_time_comes_out_in_china_time_and_nothing_else_changes() -> None:
    doc = {
        "received_at": "2026-11-23T01:15:00+00:00",
        "nested": [{"at": "2026-12-31T16:30:00Z"}, {"at": "2026-11-23T09:15:00.123456+08:00"}],
        "due_at": "2026-11-23T10:00:00-05:00",
        "until": "2027-06-01",  # a date stays a date
        "naive": "2026-11-23T09:15:00",  # no offset: left as it is
        "text": "回访 2026-11-23T01:15:00+00:00 已完成",  # a sentence is not a time
        "amount_fen": 5000,
        "none": None,
    }
    assert china_times(doc) == {
        "received_at": "2026-11-23T09:15:00+08:00",
        "nested": [{"at": "2027-01-01T00:30:00+08:00"}, {"at": "2026-11-23T09:15:00.123456+08:00"}],
        "due_at": "2026-11-23T23:00:00+08:00",
        "until": "2027-06-01",
        "naive": "2026-11-23T09:15:00",
        "text": "回访 2026-11-23T01:15:00+00:00 已完成",
        "amount_fen": 5000,
        "none": None,
    }
    assert china_time("2026-13-45T99:99:00+00:00") == "2026-13-45T99:99:00+00:00"  # not a time after all


def test_a_filter_is_one_sql_condition_with_only_the_given_parts() -> None:
    condition, params = where_clause(ReadFilter())
    assert (condition.as_string(None), params) == ("", {})
    where = ReadFilter(since=day_start(dt.date(2026, 11, 1)), region="四川", agent="agent-017", include_void=False)
    condition, params = where_clause(where)
    assert isinstance(condition, Composed)
    assert condition.as_string(None) == (
        " WHERE received_at >= %(since)s AND doc->'site'->>'region' = %(region)s AND doc->>'agent_id' = %(agent)s"
        " AND status <> 'void'"
    )
    assert params == {"since": dt.datetime(2026, 11, 1, tzinfo=day_start(dt.date(2026, 11, 1)).tzinfo),
                      "region": "四川", "agent": "agent-017"}  # fmt: skip
    assert params["since"].utcoffset() == dt.timedelta(hours=8)


def test_fines_are_in_a_period_by_the_instant_not_the_text() -> None:
    start, end = day_start(dt.date(2026, 11, 23)), day_start(dt.date(2026, 11, 24))
    assert in_period("2026-11-22T16:00:00+00:00", start, end)  # 00:00 on the 23rd in China
    assert not in_period("2026-11-22T15:59:59+00:00", start, end)
    assert not in_period("2026-11-24T00:00:00+08:00", start, end)  # `to` is exclusive
    assert in_period("1999-01-01T00:00:00+08:00", None, None)


def test_the_kpi_csv_has_both_tables() -> None:
    result = {"kpis": [{"kpi": "service_on_time", "value": 1.0}],
              "by_quarter": [{"quarter": "2026Q4", "model": "QY25K", "cause": "quality", "complaints": 3}]}  # fmt: skip
    assert kpi_csv_rows(result) == [
        {"section": "kpi", "kpi": "service_on_time", "value": 1.0},
        {"section": "by_quarter", "quarter": "2026Q4", "model": "QY25K", "cause": "quality", "complaints": 3},
    ]
