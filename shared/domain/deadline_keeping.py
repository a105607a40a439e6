"""How an aggregate keeps its deadlines from the shared events (`DeadlineSet`, `DeadlineMet`,
`DeadlineBreached`): one set of appliers for every service (the engine itself is
`shared.domain.deadlines`). A service's aggregate subclasses `KeepsDeadlines` and sets
`self.deadlines = Deadlines()` when it is created."""

from __future__ import annotations

from shared.domain.aggregate import EventSourced, applies
from shared.domain.deadlines import Deadlines
from shared.events import common_events as ce


class KeepsDeadlines(EventSourced):
    deadlines: Deadlines

    @applies(ce.DeadlineSet)
    def _deadline_set(self, e: ce.DeadlineSet) -> None:
        self.deadlines = self.deadlines.set(e.rule, e.outputs)

    @applies(ce.DeadlineMet)
    def _deadline_met(self, e: ce.DeadlineMet) -> None:
        self.deadlines = self.deadlines.met(e.deadline, e.met_at)

    @applies(ce.DeadlineBreached)
    def _deadline_breached(self, e: ce.DeadlineBreached) -> None:
        self.deadlines = self.deadlines.breached(e.deadline, e.breached_at)

    def deadline_open(self, rule: str) -> bool:
        return self.deadlines.is_open(rule)
