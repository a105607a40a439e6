"""The old part (旧件), whole: its record and the way back (part_base.py), its disposition, sale and
disposal (selling.py), and here its responsibility review (PRT-RESPONSIBILITY), whose due date is a
deadline on the shared engine (breached once: the escalation), and the supplier claim it may open
(PRT-SUPPLIER-CLAIM)."""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec

from services.parts.identity import CommandRejected, china_day, end_of_day
from services.parts.selling import Selling
from services.parts.state import Claim, Responsibility
from shared.domain.aggregate import applies
from shared.domain.deadlines import in_time
from shared.events import parts_events as pe
from shared.events.decisions import Actor, Decision

RESPONSIBILITY = "PRT-RESPONSIBILITY"


class OldPart(Selling):
    """One replaced part from its record (PRT-RECORD) to its return, sale or disposal."""

    # ------------------------------------------------------------------ responsibility (PRT-RESPONSIBILITY)
    def start_review(self, actor: Actor, deadline: Decision, at: dt.datetime, causation_id: str) -> None:
        if self.responsibility is not None:
            raise CommandRejected(
                f"part {self.part_id}'s responsibility review began on {self.responsibility.review_date}"
            )
        inputs = deadline.inputs
        self._decision(pe.ResponsibilityReviewStarted, deadline, at, causation_id, actor=actor.id,
                       part_class=inputs["part_class"], review_date=inputs["review_date"])  # fmt: skip

    @applies(pe.ResponsibilityReviewStarted)
    def _review_started(self, e: pe.ResponsibilityReviewStarted) -> None:
        due_date = e.outputs["due_date"]
        self.responsibility = Responsibility(e.part_class, e.review_date, due_date)
        self.deadlines = self.deadlines.set(RESPONSIBILITY, {"due_at": end_of_day(due_date).isoformat()})

    def escalate_responsibility(self, to: str, now: dt.datetime, causation_id: str) -> bool:
        """The clock passed the responsibility deadline with nothing settled: escalate, once (the
        deadline's breach on the shared engine)."""
        r = self.responsibility
        if r is None or self.deadlines.breach(RESPONSIBILITY, now) is None:
            return False
        self._trigger(pe.ResponsibilityEscalated, now, causation_id,
                      escalation_id=str(uuid.uuid5(self.id, f"{RESPONSIBILITY}:{r.review_date}")),
                      trigger_rule=RESPONSIBILITY, to=to,
                      reason=f"responsibility for part {self.part_id} not settled by {r.due_date}")  # fmt: skip
        return True

    @applies(pe.ResponsibilityEscalated)
    def _escalated(self, e: pe.ResponsibilityEscalated) -> None:
        if RESPONSIBILITY in self.deadlines:
            self.deadlines = self.deadlines.breached(RESPONSIBILITY, e.timestamp)

    def settle_responsibility(
        self, actor: Actor, attributed_to: str, party: str, cost_fen: int, claim: Decision, at: dt.datetime,
        causation_id: str,
    ) -> None:  # fmt: skip
        """The outcome attributes the cost to a department or to a supplier; a bought-in part that failed
        is claimed back from its supplier (PRT-SUPPLIER-CLAIM)."""
        r = self.responsibility
        if r is None:
            raise CommandRejected(f"part {self.part_id} has no responsibility review; start one first")
        if r.settled is not None:
            raise CommandRejected(f"part {self.part_id}'s responsibility was settled on {r.settled}")
        self._trigger(pe.ResponsibilitySettled, at, causation_id, actor=actor.id, attributed_to=attributed_to,
                      party=party, cost_fen=cost_fen, settled_on=china_day(at),
                      late=not in_time(self.deadlines[RESPONSIBILITY].due, at))  # fmt: skip
        if claim.outputs["claim"]:
            self._decision(pe.SupplierClaimOpened, claim, at, causation_id,
                           claim_id=str(uuid.uuid5(self.id, "PRT-SUPPLIER-CLAIM")), supplier=claim.outputs["supplier"],
                           amount_fen=claim.outputs["amount_fen"])  # fmt: skip

    @applies(pe.ResponsibilitySettled)
    def _settled(self, e: pe.ResponsibilitySettled) -> None:
        if self.responsibility is not None:
            self.responsibility = msgspec.structs.replace(self.responsibility, settled=e.settled_on)
            self.deadlines = self.deadlines.met(RESPONSIBILITY, e.timestamp)

    @applies(pe.SupplierClaimOpened)
    def _claim_opened(self, e: pe.SupplierClaimOpened) -> None:
        self.claim = Claim(e.claim_id, e.supplier, e.amount_fen)

    def settle_claim(self, actor: Actor, recovered_fen: int, at: dt.datetime, causation_id: str) -> None:
        if self.claim is None:
            raise CommandRejected(f"part {self.part_id} has no supplier claim")
        if self.claim.settled:
            raise CommandRejected(f"part {self.part_id}'s supplier claim is settled already")
        self._trigger(pe.SupplierClaimSettled, at, causation_id, actor=actor.id, claim_id=self.claim.claim_id,
                      recovered_fen=recovered_fen, settled_on=china_day(at))  # fmt: skip

    @applies(pe.SupplierClaimSettled)
    def _claim_settled(self, e: pe.SupplierClaimSettled) -> None:
        if self.claim is not None:
            self.claim = msgspec.structs.replace(self.claim, settled=True)
