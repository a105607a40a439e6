"""The complaint's fines and escalations ledger as dispatch keeps it (docs/rules.md §4): its own fines
and escalations, and those intake and parts raised (noted here so that they can be disputed,
acknowledged and escalated further: history on their side is never edited).

A base of the dispatch `Case`; pure, like it. Fines, escalations and deadlines are the shared events
(`shared.events.common_events`).
"""

from __future__ import annotations

import datetime as dt

import msgspec

from services.dispatch.identity import CommandRejected, derived_id
from services.dispatch.state import EscalationEntry, FineEntry
from shared.domain.aggregate import EventSourced, applies
from shared.domain.org import department_of
from shared.events import common_events as ce
from shared.events import dispatch_events as de
from shared.events.base import DecisionEvent
from shared.events.decisions import Actor, Decision
from shared.security.duties import refuse_own


class Ledger(EventSourced):
    complaint_no: str
    fines: dict[str, FineEntry]
    escalations: dict[str, EscalationEntry]

    @property
    def correlation_id(self) -> str:
        return self.complaint_no

    def _decide(
        self, event_class: type[DecisionEvent] | type[ce.EscalationRaised], decision: Decision, at: dt.datetime,
        causation_id: str, **fields: object,
    ) -> None:  # fmt: skip
        self._trigger(event_class, at, causation_id, rule=decision.rule, policy_version=decision.policy_version,
                      inputs=decision.inputs, outputs=decision.outputs, **fields)  # fmt: skip

    # -------------------------------------------------------------------------------- fines
    @applies(ce.FineLevied)
    def _fine_levied(self, e: ce.FineLevied) -> None:
        self.fines[e.fine_id] = FineEntry(e.rule, e.person, e.role, e.department, e.amount_fen)

    @applies(de.IntakeFineNoted, de.PartFineNoted)
    def _fine_noted(self, e: de.IntakeFineNoted) -> None:
        self.fines[e.fine_id] = FineEntry(e.fine_rule, e.person, e.role, e.department, e.amount_fen)

    @applies(de.FineDisputed)
    def _fine_disputed(self, e: de.FineDisputed) -> None:
        fine = self.fines[e.fine_id]
        disputed_by = (*fine.disputed_by, e.actor)
        self.fines[e.fine_id] = msgspec.structs.replace(fine, status="disputed", disputed_by=disputed_by)

    @applies(de.FineReversed)
    def _fine_reversed(self, e: de.FineReversed) -> None:
        self.fines[e.fine_id] = msgspec.structs.replace(self.fines[e.fine_id], status="reversed")

    def levy_fine(self, decision: Decision, reason: str, key: object, at: dt.datetime, causation_id: str) -> str | None:
        """Levy a fine once per occurrence: `key` names the occurrence (a day late, a command)."""
        fine_id = derived_id(self.id, decision.rule, key)
        if fine_id in self.fines:
            return None
        role: str = decision.outputs["role"]
        self._decide(ce.FineLevied, decision, at, causation_id, fine_id=fine_id, person=decision.outputs["person"],
                     role=role, department=department_of(role), amount_fen=decision.outputs["amount_fen"],
                     reason=reason)  # fmt: skip
        return fine_id

    def note_intake_fine(
        self, fine_id: str, rule: str, person: str | None, role: str, department: str, amount_fen: int,
        at: dt.datetime, causation_id: str, source: str = "intake",
    ) -> bool:  # fmt: skip
        """Note a fine another service levied on this complaint, so that it can be disputed and
        reversed here (docs/rules.md §4: any fine can be)."""
        if fine_id in self.fines:
            return False
        event_class = de.PartFineNoted if source == "parts" else de.IntakeFineNoted
        self._trigger(event_class, at, causation_id, fine_id=fine_id, fine_rule=rule, person=person,
                      role=role, department=department, amount_fen=amount_fen)  # fmt: skip
        return True

    def _fine(self, fine_id: str) -> FineEntry:
        try:
            return self.fines[fine_id]
        except KeyError:
            raise CommandRejected(f"no fine {fine_id} on {self.complaint_no}") from None

    def dispute_fine(self, actor: Actor, fine_id: str, reason: str, at: dt.datetime, causation_id: str) -> None:
        fine = self._fine(fine_id)
        if fine.status != "levied":
            raise CommandRejected(f"fine {fine_id} is {fine.status}")
        self._trigger(de.FineDisputed, at, causation_id, fine_id=fine_id, actor=actor.id, reason=reason)

    def reverse_fine(self, actor: Actor, fine_id: str, reason: str, at: dt.datetime, causation_id: str) -> None:
        fine = self._fine(fine_id)
        if fine.status == "reversed":
            raise CommandRejected(f"fine {fine_id} was already reversed")
        refuse_own("SOD-OWN-FINE", actor.id, f"reverse fine {fine_id}", fine.person, *fine.disputed_by)
        self._trigger(de.FineReversed, at, causation_id, fine_id=fine_id, actor=actor.id, reason=reason,
                      fine_rule=fine.rule, person=fine.person, role=fine.role, department=fine.department,
                      amount_fen=fine.amount_fen)  # fmt: skip

    # --------------------------------------------------------------------------- escalations
    @applies(ce.EscalationRaised)
    def _escalation_raised(self, e: ce.EscalationRaised) -> None:
        self.escalations[e.escalation_id] = EscalationEntry(e.to, e.trigger_rule, e.ack_due_at)

    @applies(de.IntakeEscalationNoted)
    def _escalation_noted(self, e: de.IntakeEscalationNoted) -> None:
        self.escalations[e.escalation_id] = EscalationEntry(e.to, e.trigger_rule, e.ack_due_at)

    @applies(de.EscalationAcknowledged)
    def _escalation_acknowledged(self, e: de.EscalationAcknowledged) -> None:
        self.escalations[e.escalation_id] = msgspec.structs.replace(self.escalations[e.escalation_id],
                                                                    status="acknowledged")  # fmt: skip

    @applies(de.EscalationForwarded)
    def _escalation_forwarded(self, e: de.EscalationForwarded) -> None:
        self.escalations[e.escalation_id] = msgspec.structs.replace(self.escalations[e.escalation_id],
                                                                    status="forwarded")  # fmt: skip

    def escalate(self, trigger_rule: str, step: Decision, reason: str, at: dt.datetime, causation_id: str) -> None:
        """Raise an escalation to `step.inputs["to"]`; `step` (ESC-CHAIN) says when it goes further up."""
        to: str = step.inputs["to"]
        escalation_id = derived_id(self.id, "escalation", trigger_rule, to)
        if escalation_id in self.escalations:
            return
        self._decide(ce.EscalationRaised, step, at, causation_id, escalation_id=escalation_id,
                     trigger_rule=trigger_rule, to=to, reason=reason, ack_due_at=step.outputs["due_at"])  # fmt: skip

    def note_intake_escalation(
        self, escalation_id: str, trigger_rule: str, to: str, step: Decision, at: dt.datetime, causation_id: str
    ) -> bool:
        if escalation_id in self.escalations:
            return False
        self._decide(de.IntakeEscalationNoted, step, at, causation_id, escalation_id=escalation_id,
                     trigger_rule=trigger_rule, to=to, ack_due_at=step.outputs["due_at"])  # fmt: skip
        return True

    def acknowledge(self, actor: Actor, escalation_id: str, note: str, at: dt.datetime, causation_id: str) -> None:
        escalation = self.escalations.get(escalation_id)
        if escalation is None:
            raise CommandRejected(f"no escalation {escalation_id} on {self.complaint_no}")
        if escalation.status != "open":
            raise CommandRejected(f"escalation {escalation_id} is {escalation.status}")
        self._trigger(de.EscalationAcknowledged, at, causation_id, escalation_id=escalation_id, actor=actor.id,
                      note=note)  # fmt: skip

    def forward(self, escalation_id: str, step: Decision, now: dt.datetime, causation_id: str) -> bool:
        escalation = self.escalations.get(escalation_id)
        upper: str | None = step.outputs["next"]
        if escalation is None or escalation.status != "open" or upper is None:
            return False
        trigger = escalation.trigger_rule
        new_id = derived_id(self.id, "escalation", trigger, upper)
        self._decide(de.EscalationForwarded, step, now, causation_id, escalation_id=escalation_id,
                     forwarded_to=upper, forwarded_as=new_id)  # fmt: skip
        if new_id not in self.escalations:
            reason = f"unacknowledged by {escalation.to} (due {escalation.ack_due_at})"
            self._decide(ce.EscalationRaised, step, now, causation_id, escalation_id=new_id, trigger_rule=trigger,
                         to=upper, ack_due_at=None, reason=reason)  # fmt: skip
        return True
