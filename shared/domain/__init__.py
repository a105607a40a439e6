"""The shared domain: what every service's aggregates have in common (pure, no I/O, no clock).

- `shared.events.base`: `DomainEvent` / `CreatedEvent` / `DecisionEvent` / `DecisionOutputs` — msgspec
  Structs that are at once the eventsourcing domain events and the wire payloads (one definition per
  event); `shared.runtime.mapper.EventMapper` stores them as msgspec JSON (set by `build_application`).
- `shared.domain.aggregate`: `EventSourced`, the aggregate base: `_open` (first event), `_trigger`,
  `_trigger_as`, and `@applies(EventType)` methods that change the (typed) state.
- `shared.domain.deadlines`: the one deadline engine (`Deadlines`: set, meet, breach once, overdue;
  `in_time`, `missed`, `DueIn`); `shared.domain.org`: departments and roles (`department_of`).
- `shared.events.common_events`: DeadlineSet/Met/Breached, FineLevied, FineAttributed, EscalationRaised.
- `shared.events.legacy.LEGACY_TOPICS`: old topic → new Struct (events stored before stay readable).

HOWTO: migrate a service (dispatch, parts) the way intake was migrated (services/intake/*, issue 12)
1. Events. For each nested event class of the service's aggregates, write one Struct in
   `shared/events/<svc>_events.py` (replacing the wire copy there): subclass `CreatedEvent` for a first
   event, `DecisionOutputs` for a decision whose data is only its outputs, `DecisionEvent` for a decision
   with more fields, else `DomainEvent`; `frozen=True, kw_only=True`; field names and types exactly as
   the old class had them (nested dicts become value Structs, e.g. `shared.events.values`); set
   `wire_type = "..."` only where the class name differs from the wire type. Deadline, fine and
   escalation events are the shared ones in `common_events` (a field one service lacks gets a default,
   e.g. `EscalationRaised.ack_due_at`; a decision variant may subclass it). Register each in the
   catalog (`register(EventSpec(wire_type, 1, Struct, "<svc>", summary))`); consumers then get the Struct
   from `payload(envelope)` with its metadata filled in from the envelope.
2. Old topics. Add one line per removed nested class to `LEGACY_TOPICS`
   (`"services.<svc>.domain:Case.Opened": "shared.events.<svc>_events:DispatchCaseOpened"`), and one for
   an aggregate class that moves. List them with `get_topic` over the old classes *before* deleting
   them, and capture a stored history with the old code (see tests/data/legacy_intake_events.json and
   tests/integration/test_intake_legacy_store.py) to prove every old event still loads, no field lost.
   Keep `services/<svc>/domain.py` as the module re-exporting the aggregates: created events name them
   by that module.
3. Aggregates. Subclass `EventSourced`; declare typed state as class annotations (Structs/dataclasses
   from a small `state.py`, never `dict[str, Any]`); create with `cls._open(Created, id, at,
   correlation_id, causation_id, **fields)`; trigger with `self._trigger(Event, at, causation_id, ...)`
   (correlation from the `correlation_id` property); move each old `apply` body into an
   `@applies(Event)` method of the aggregate; `isinstance(e, Case.X)` in the application becomes
   `isinstance(e, X)`.
4. Deadlines. State `deadlines: Deadlines`; `@applies` DeadlineSet/Met/Breached call `.set/.met/.breached`;
   dispatch records a DeadlineSet only `if self.deadlines.settable(rule, keep_first=True)` (as before);
   `meet` returns `(breach, met)` — record the breach first (with the service's consequences: its own
   fine and escalation rule ids), then the met event; `breach(rule, now)` returns the breach to record or
   None (never twice); `overdue(now)` lists what to breach before acting at `now`. Fines and
   attributions take their department from `department_of(role)`.
5. Split modules so that none is over 500 lines (intake: complaint.py, units.py, state.py,
   identity.py); run the service's unit/integration/e2e tests unchanged in their expected values (a
   test that read `state["x"]` reads `state.x`), ruff, `mypy --strict`, and update docs/rules.md where a
   rule's enforcing file moved (test_docs checks) and `aftersales asyncapi`.
"""
