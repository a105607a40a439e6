"""Decisions and the rulebooks that make them (shared by every service's domain and policy).

A rule is a pure function `rule(policy, inputs) -> outputs` registered under its rule id in a
service's `Rulebook`; a `Decision` is its outcome together with everything needed to run it
again: the rule id, the policy version and the inputs. Policy versions are append-only, so every
decision can be re-run under the policy it was made with (`evaluate`), which is what
`aftersales replay` checks. Inputs and outputs are JSON-able.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Generic, Protocol, TypeVar

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
    """Who acts, and in which role (DOMAIN §7)."""

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

    def current(self) -> P:
        return self._policies[self.current_version]

    def register_policy(self, policy: P) -> P:
        """Add a policy version. A published version never changes (its decisions must re-run)."""
        existing = self._policies.get(policy.version)
        if existing is not None and existing != policy:
            raise PolicyVersionConflict(f"policy {policy.version} exists with other numbers; publish a new version")
        self._policies[policy.version] = policy
        return policy

    def rule(self, rule_id: str) -> Callable[[Callable[[P, Inputs], Outputs]], Callable[[P, Inputs], Outputs]]:
        def register(fn: Callable[[P, Inputs], Outputs]) -> Callable[[P, Inputs], Outputs]:
            self.rules[rule_id] = fn
            return fn

        return register

    def decide(self, rule_id: str, inputs: Inputs, policy: P) -> Decision:
        """Run a rule and package what it decided with everything needed to run it again."""
        return Decision(rule_id, policy.version, dict(inputs), self.evaluate(rule_id, policy.version, inputs))

    def evaluate(self, rule_id: str, policy_version: str, inputs: Inputs) -> Outputs:
        """Re-run `rule_id` of `policy_version` on recorded inputs (used by replay)."""
        try:
            fn = self.rules[rule_id]
            policy = self._policies[policy_version]
        except KeyError as exc:
            raise UnknownRule(f"no rule {rule_id} in policy {policy_version}: {exc}") from None
        return fn(policy, inputs)
