"""Old policy versions stay: a decision re-runs under the policy it was made with (issue 6)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator

import pytest

from aftersales.replay import History, check_decisions
from services.intake import policy
from services.intake.application import InboundCall, IntakeApplication
from services.intake.policy import current_policy, register_policy
from shared.events.decisions import PolicyVersionConflict
from shared.events.telephony import ComplaintReceivedV1, decode_telephony
from shared.runtime.settings import Settings
from shared.runtime.store import build_application
from tests.support import body, call

pytestmark = pytest.mark.integration

CN = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture
def app(settings: Settings) -> Iterator[IntakeApplication]:
    application = build_application(IntakeApplication, settings.database_url, settings.names.db_schema("intake"))
    yield application
    application.close()


def inbound(call_id: str) -> InboundCall:
    decoded = decode_telephony(body(call(call_id, received_at="2026-11-23T09:00:00+08:00")))
    assert isinstance(decoded, ComplaintReceivedV1)
    return InboundCall(decoded, f"test:{call_id}")


def test_v1_fines_still_verify_after_v2_changes_the_amount(app: IntakeApplication, settings: Settings) -> None:
    v2 = register_policy(dataclasses.replace(current_policy(), version="intake-test-v2", fine_relay_late_fen=10_000))
    app.register([inbound("CALL-V1")])
    assert app.fire_due(dt.datetime(2026, 11, 23, 14, 0, tzinfo=CN)) >= 1  # relay deadline 13:00 passed
    app.policy = v2  # the regulation changes
    app.register([inbound("CALL-V2")])
    assert app.fire_due(dt.datetime(2026, 11, 23, 14, 30, tzinfo=CN)) >= 1

    history = History(settings)
    try:
        steps = list(history.steps())
    finally:
        history.close()
    fines = [s for s in steps if s.envelope.type == "FineLevied"]
    assert sorted((f.envelope.policy_version, f.envelope.data["amount_fen"]) for f in fines) == [
        (policy.CURRENT_VERSION, 5_000),
        ("intake-test-v2", 10_000),
    ]
    assert all(step.reproduced for step in steps)  # every decision, v1 ones included
    v1_fine = next(f for f in fines if f.envelope.policy_version == policy.CURRENT_VERSION)
    # Re-run under the wrong version, the v1 fine would not reproduce: the version is what counts.
    assert (
        policy.evaluate("FIN-RELAY-LATE", "intake-test-v2", v1_fine.envelope.inputs or {})
        != (v1_fine.envelope.data["outputs"])
    )
    assert check_decisions("intake", v1_fine.envelope)[0].reproduced


def test_a_published_policy_version_cannot_be_changed() -> None:
    with pytest.raises(PolicyVersionConflict):
        register_policy(dataclasses.replace(current_policy(), fine_relay_late_fen=1))
