"""Decisions and the rulebooks that make them (shared by every service's domain and policy).

A rule is a pure function `rule(policy, inputs) -> outputs` registered under its rule id in a
service's `Rulebook`; a `Decision` is its outcome together with everything needed to run it
again: the rule id, the policy version and the inputs. Policy versions are append-only, so every
decision can be re-run under the policy it was made with (`evaluate`), which is what
`aftersales replay` checks. Inputs and outputs are JSON-able.

A rule registered with `calendar=True` reads the working calendar from `policy.calendar`. It runs on a
tracking view, and its decision records the calendar version of every year it looked at under
`inputs["calendar"]` (and `outputs["calendar_provisional"]`, the years it had to take as provisional).
Re-running it pins exactly those versions (`shared.workcal.CalendarRegistry.pinned`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Generic, Protocol, TypeVar

from shared.workcal import CalendarRegistry, WorkingCalendar, default_calendar, is_provisional_version

Inputs = Mapping[str, Any]
Outputs = dict[str, Any]


@dataclass(frozen=True)
class Decision:
    """A rule's outcome with everything needed to re-run it: rule id, policy version, inputs."""

    rule: str
    policy_version: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]

    def as_record(self) -> dict[str, Any]:
        return {"rule": self.rule, "policy_version": self.policy_version, "inputs": self.inputs,
                "outputs": self.outputs}  # fmt: skip


@dataclass(frozen=True)
class Actor:
    """Who acts, and in which role (docs/rules.md §7)."""

    id: str
    role: str


class UnknownRule(LookupError):
    pass


class PolicyVersionConflict(ValueError):
    pass


class Versioned(Protocol):
    @property
    def version(self) -> str: ...


P = TypeVar("P", bound=Versioned)


class Rulebook(Generic[P]):
    """One service's rules by id and its policy versions (frozen values, one per version)."""

    def __init__(self, first: P) -> None:
        self._policies: dict[str, P] = {first.version: first}
        self.policies: Mapping[str, P] = MappingProxyType(self._policies)
        self.current_version = first.version
        self.rules: dict[str, Callable[[P, Inputs], Outputs]] = {}
        self.calendar_rules: set[str] = set()

    def current(self) -> P:
        return self._policies[self.current_version]

    def register_policy(self, policy: P) -> P:
        """Add a policy version. A published version never changes (its decisions must re-run)."""
        existing = self._policies.get(policy.version)
        if existing is not None and existing != policy:
            raise PolicyVersionConflict(f"policy {policy.version} exists with other numbers; publish a new version")
        self._policies[policy.version] = policy
        return policy

    def rule(
        self, rule_id: str, *, calendar: bool = False
    ) -> Callable[[Callable[[P, Inputs], Outputs]], Callable[[P, Inputs], Outputs]]:
        """Register a rule; `calendar=True` for a rule that reads `policy.calendar` (working time)."""

        def register(fn: Callable[[P, Inputs], Outputs]) -> Callable[[P, Inputs], Outputs]:
            self.rules[rule_id] = fn
            if calendar:
                self.calendar_rules.add(rule_id)
            return fn

        return register

    def decide(self, rule_id: str, inputs: Inputs, policy: P) -> Decision:
        """Run a rule and package what it decided with everything needed to run it again."""
        fn = self._rule(rule_id, policy.version)
        if rule_id not in self.calendar_rules:
            return Decision(rule_id, policy.version, dict(inputs), fn(policy, inputs))
        calendar: WorkingCalendar = getattr(policy, "calendar")  # noqa: B009 - policies with calendar rules have one
        outputs, used = _on_calendar(fn, policy, inputs, calendar)
        return Decision(rule_id, policy.version, {**inputs, "calendar": used}, outputs)

    def evaluate(
        self, rule_id: str, policy_version: str, inputs: Inputs, calendars: CalendarRegistry | None = None
    ) -> Outputs:
        """Re-run `rule_id` of `policy_version` on recorded inputs (used by replay). A calendar rule
        runs on the calendar versions it recorded (looked up in `calendars`); a decision recorded
        before calendars were versioned runs on the seed years."""
        fn = self._rule(rule_id, policy_version)
        policy = self._policies[policy_version]
        if rule_id not in self.calendar_rules:
            return fn(policy, inputs)
        recorded = inputs.get("calendar")
        calendar = default_calendar() if recorded is None else (calendars or CalendarRegistry()).pinned(recorded)
        return _on_calendar(fn, policy, inputs, calendar)[0]

    def _rule(self, rule_id: str, policy_version: str) -> Callable[[P, Inputs], Outputs]:
        try:
            fn = self.rules[rule_id]
            self._policies[policy_version]
        except KeyError as exc:
            raise UnknownRule(f"no rule {rule_id} in policy {policy_version}: {exc}") from None
        return fn


def _on_calendar(
    fn: Callable[[P, Inputs], Outputs], policy: P, inputs: Inputs, calendar: WorkingCalendar
) -> tuple[Outputs, dict[str, str]]:
    """Run a calendar rule on a tracking view; the versions it used, and which were provisional."""
    view = calendar.tracking()
    # The same frozen policy deciding on the view: a shallow copy (dataclasses.replace re-runs
    # __init__ and costs several times more; this is on every registration's hot path).
    on_view = copy.copy(policy)
    object.__setattr__(on_view, "calendar", view)
    outputs = fn(on_view, inputs)
    used = {str(year): version for year, version in sorted((view.used or {}).items())}
    provisional = [int(year) for year, version in used.items() if is_provisional_version(version)]
    if provisional:
        outputs = {**outputs, "calendar_provisional": provisional}
    return outputs, used
