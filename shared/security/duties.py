"""Separation of duties (docs/rules.md §7): nobody decides about themselves, whatever their role.

- SOD-OWN-FINE: a fine is not reversed by the person it fines, nor by the person who disputed it
  (nobody disputes and reverses).
- SOD-OWN-SALE: a sale report is not verified or approved by the person who reported it.
- SOD-OWN-FEE: a dispatch whose fee the customer refused is not approved by the person who recorded
  the refusal (the fee exception).
Refused with 403 and logged with the principal, like a role that may not act.
"""

from __future__ import annotations


class SeparationOfDuties(PermissionError):
    """A decision about oneself."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule


def refuse_own(rule: str, actor_id: str, what: str, *people: str | None) -> None:
    """Raise `SeparationOfDuties` if the actor is one of `people`."""
    if actor_id in people:
        raise SeparationOfDuties(rule, f"{actor_id} may not {what} (a decision about themselves)")
