"""What becomes of an old part that does not return to headquarters: its disposition (PRT-DISPOSITION),
a local sale against the price floor (PRT-PRICE-FLOOR, PRT-REMOTE), or its destruction or give-away at
the approval level of its window's lots (PRT-SCRAP-APPROVAL). Pure, like the rest of the part."""

from __future__ import annotations

import datetime as dt
from typing import NoReturn

import msgspec

from services.parts.identity import CommandRejected, china_day
from services.parts.part_base import PartBase
from services.parts.state import Disposal, Sale, Superseded
from shared.domain.aggregate import applies
from shared.events import parts_events as pe
from shared.events.decisions import Actor, Decision
from shared.security.duties import refuse_own


class Selling(PartBase):
    """The old part's disposition, sale and disposal (see the module's docstring)."""

    # ------------------------------------------------------------------ disposition (PRT-DISPOSITION)
    def decide_disposition(self, actor: Actor, decision: Decision, at: dt.datetime, causation_id: str) -> None:
        self._require_open()
        if self.shipped_on is not None or self.sale is not None or self.disposal is not None:
            raise CommandRejected(f"part {self.part_id} is already being returned, sold or disposed of")
        if not decision.outputs["accepted"]:
            raise CommandRejected(
                f"PRT-DISPOSITION: {decision.outputs['disposition']} does not fit the facts; "
                f"allowed: {', '.join(decision.outputs['allowed'])}"
            )
        self._decision(pe.DispositionDecided, decision, at, causation_id, actor=actor.id,
                       disposition=decision.outputs["disposition"])  # fmt: skip

    @applies(pe.DispositionDecided)
    def _disposition_decided(self, e: pe.DispositionDecided) -> None:
        self.disposition = e.disposition

    # ------------------------------------------------------------------ local sale (PRT-PRICE-FLOOR)
    def report_sale(
        self, actor: Actor, buyer: str, price_fen: int, quotes: list[pe.SaleQuote], reason: str | None,
        floor: Decision, at: dt.datetime, causation_id: str,
    ) -> None:  # fmt: skip
        """A sale report (旧件变卖申请单): buyer quotes, price, and the floor decided from the market."""
        self._require_open()
        self.require_record_for_sale(floor)
        if self.disposition != "sell_local":
            raise CommandRejected(
                f"part {self.part_id} is not to be sold locally (disposition "
                f"{self.disposition or 'undecided'}); decide the disposition first"
            )
        out = floor.outputs
        if not out["quotes_ok"]:
            raise CommandRejected(
                f"PRT-PRICE-FLOOR: a sale needs at least {out['min_quotes']} buyer quotes "
                f"(name, contact, price); got {len(quotes)}"
            )
        if not out["remote"]["allowed"]:
            raise CommandRejected(
                f"PRT-REMOTE: a reduction of {out['remote']['reduction']} is not allowed in "
                f"{floor.inputs['region']} (remote regions only, 0.05–0.10)"
            )
        if out["below_floor"] and not (reason or "").strip():
            raise CommandRejected(
                f"PRT-PRICE-FLOOR: {price_fen} fen is below the floor of {out['floor_fen']} fen; "
                "a written reason is required"
            )
        self._decision(pe.SaleReported, floor, at, causation_id, actor=actor.id, buyer=buyer, price_fen=price_fen,
                       quotes=quotes, reason=reason)  # fmt: skip

    @applies(pe.SaleReported)
    def _sale_reported(self, e: pe.SaleReported) -> None:
        floor = Decision(e.rule, e.policy_version, e.inputs, e.outputs)
        self.sale = Sale(e.buyer, e.price_fen, list(e.quotes), e.reason, floor, reported_by=e.actor)

    def _pending_sale(self) -> Sale:
        self._require_open()
        if self.sale is None:
            raise CommandRejected(f"part {self.part_id} has no sale report")
        return self.sale

    def verify_sale(self, actor: Actor, at: dt.datetime, causation_id: str) -> None:
        """The old-parts officer verifies the sale report and its quotes."""
        sale = self._pending_sale()
        refuse_own("SOD-OWN-SALE", actor.id, "verify their own sale report", sale.reported_by)
        self._trigger(pe.SaleVerified, at, causation_id, actor=actor.id)

    @applies(pe.SaleVerified)
    def _sale_verified(self, e: pe.SaleVerified) -> None:
        if self.sale is not None:
            self.sale = msgspec.structs.replace(self.sale, verified_by=e.actor)

    def approve_sale(self, actor: Actor, at: dt.datetime, causation_id: str) -> None:
        """The general manager approves a sale below the floor."""
        sale = self._pending_sale()
        refuse_own("SOD-OWN-SALE", actor.id, "approve their own sale report", sale.reported_by)
        self._trigger(pe.SaleApproved, at, causation_id, actor=actor.id)

    @applies(pe.SaleApproved)
    def _sale_approved(self, e: pe.SaleApproved) -> None:
        if self.sale is not None:
            self.sale = msgspec.structs.replace(self.sale, approved_by=e.actor)

    def record_sale(self, actor: Actor, record_check: Decision, at: dt.datetime, causation_id: str) -> None:
        """PRT-PRICE-FLOOR: the part is sold; the event names its floor (outputs), its quotes and its rule;
        the proceeds go to finance only (PRT-SCRAP-APPROVAL)."""
        sale = self._pending_sale()
        self.require_record_for_sale(record_check)
        if sale.below_floor and (sale.verified_by is None or sale.approved_by is None):
            missing = [
                who
                for who, by in (
                    ("the old-parts officer's verification", sale.verified_by),
                    ("the general manager's approval", sale.approved_by),
                )
                if by is None
            ]
            raise CommandRejected(
                f"PRT-PRICE-FLOOR: {sale.price_fen} fen is below the floor of "
                f"{sale.floor_fen} fen and needs {' and '.join(missing)}"
            )
        self._decision(pe.PartSold, sale.floor, at, causation_id, actor=actor.id, buyer=sale.buyer,
                       price_fen=sale.price_fen, proceeds_fen=sale.price_fen, floor_fen=sale.floor_fen,
                       below_floor=sale.below_floor, quotes=sale.quotes, reason=sale.reason,
                       verified_by=sale.verified_by, approved_by=sale.approved_by, payable_to="finance")  # fmt: skip

    @applies(pe.PartSold)
    def _sold(self, e: pe.PartSold) -> None:
        self.status = "sold"

    # ------------------------------------------------------------------ destroy / give away (PRT-SCRAP-APPROVAL)
    def request_disposal(self, actor: Actor, approval: Decision, at: dt.datetime, causation_id: str) -> None:
        self._require_open()
        if self.disposition not in ("destroy_local", "give_away"):
            raise CommandRejected(
                f"part {self.part_id} is not to be destroyed or given away (disposition "
                f"{self.disposition or 'undecided'})"
            )
        if self.disposal is not None:
            raise CommandRejected(f"part {self.part_id} has a disposal request already")
        self._decision(pe.DisposalRequested, approval, at, causation_id, actor=actor.id, disposition=self.disposition,
                       original_value_fen=int(approval.inputs["lot"]["original_value_fen"]))  # fmt: skip

    @applies(pe.DisposalRequested)
    def _disposal_requested(self, e: pe.DisposalRequested) -> None:
        out = e.outputs
        self.disposal = Disposal(e.disposition, out["level"], out["total_fen"], list(out["approvers"]),
                                 requested_on=china_day(e.timestamp),
                                 ledger=(self.record.material_code or "", self.record.region or ""))  # fmt: skip

    def approve_disposal(self, actor: Actor, approval: Decision, at: dt.datetime, causation_id: str) -> None:
        """Approved at the level the whole window's lots need (re-decided at approval: no splitting)."""
        self._require_open()
        if self.disposal is None:
            raise CommandRejected(f"part {self.part_id} has no disposal request")
        if self.disposal.approved_by is not None:
            raise CommandRejected(f"part {self.part_id}'s disposal was already approved")
        self._decision(pe.DisposalApproved, approval, at, causation_id, actor=actor.id, role=actor.role)

    @applies(pe.DisposalApproved)
    def _disposal_approved(self, e: pe.DisposalApproved) -> None:
        if self.disposal is not None:
            out = e.outputs
            self.disposal = msgspec.structs.replace(self.disposal, approved_by=e.actor, level=out["level"],
                                                    total_fen=out["total_fen"],
                                                    approvers=list(out["approvers"]))  # fmt: skip

    def relevel_disposal(self, decision: Decision, at: dt.datetime, causation_id: str) -> bool:
        """PRT-SCRAP-APPROVAL (parts-2026.2): lots of the same spec and source requested since raised the
        window's sum past a threshold; a requested or approved, not yet carried out, disposal now needs the
        higher level, and an approval given below it no longer carries it."""
        if self.disposal is None or self.closed or not decision.outputs.get("raised"):
            return False
        self._decision(pe.DisposalRelevelled, decision, at, causation_id, level_before=self.disposal.level,
                       superseded_approval=self.disposal.approved_by)  # fmt: skip
        return True

    @applies(pe.DisposalRelevelled)
    def _disposal_relevelled(self, e: pe.DisposalRelevelled) -> None:
        if self.disposal is not None:
            out = e.outputs
            superseded = self.disposal.superseded
            if e.superseded_approval is not None:
                superseded = Superseded(e.superseded_approval, e.level_before)
            self.disposal = msgspec.structs.replace(self.disposal, level=out["level"], total_fen=out["total_fen"],
                                                    approvers=list(out["approvers"]), approved_by=None,
                                                    superseded=superseded)  # fmt: skip

    def _refuse_unapproved_disposal(self) -> NoReturn:
        d = self.disposal
        if d is None:
            raise CommandRejected(f"PRT-SCRAP-APPROVAL: part {self.part_id} has no disposal request")
        if d.superseded is not None:
            raise CommandRejected(
                f"PRT-SCRAP-APPROVAL: part {self.part_id}'s disposal was approved at {d.superseded.level} level "
                f"by {d.superseded.by}, but lots of the same spec now total {d.total_fen} fen and need "
                f"{d.level} approval ({', '.join(d.approvers)})"
            )
        raise CommandRejected(
            f"PRT-SCRAP-APPROVAL: part {self.part_id}'s disposal is not approved; it needs {d.level} approval "
            f"({', '.join(d.approvers)})"
        )

    def dispose(self, actor: Actor, recipient: str | None, at: dt.datetime, causation_id: str) -> None:
        """The part is destroyed or given away."""
        self._require_open()
        if self.disposal is None or self.disposal.approved_by is None:
            self._refuse_unapproved_disposal()
        if self.disposal.disposition == "give_away" and not (recipient or "").strip():
            raise CommandRejected("a give-away names its recipient")
        self._trigger(pe.PartDisposed, at, causation_id, actor=actor.id, disposition=self.disposal.disposition,
                      recipient=recipient, disposed_on=china_day(at))  # fmt: skip

    @applies(pe.PartDisposed)
    def _disposed(self, e: pe.PartDisposed) -> None:
        self.status = "disposed"
