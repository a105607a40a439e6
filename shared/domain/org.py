"""The company's departments and the staff roles (docs/rules.md §7), one list for every service.

`department_of(role)` is the department a fine or an attribution is charged to; a role outside the
table (`deputy_gm`, `gm`, `finance`, `ops`, …) is its own department, as every service did before.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final, Literal, get_args

from shared.events.commands.common import Role  # the one list of roles (with the read-only viewer)

ROLES: Final[tuple[str, ...]] = get_args(Role)

Department = Literal[
    "customer_service", "technical_quality", "after_sales_service", "warehouse", "old_parts", "sales_branch"
]  # fmt: skip

DEPARTMENTS: Final = MappingProxyType(
    {
        "agent": "customer_service",
        "tq": "technical_quality",
        "engineer": "after_sales_service",
        "warehouse_keeper": "warehouse",
        "old_parts_officer": "old_parts",
        "branch_manager": "sales_branch",
        "auditor": "technical_quality",  # a rule's own name for the tq who audits (intake's fines)
    }
)
"""Role → department. The union of what intake and dispatch each kept: no role maps differently."""


def department_of(role: str) -> str:
    """The department charged for `role`; a role without one is named as itself."""
    return DEPARTMENTS.get(role, role)
