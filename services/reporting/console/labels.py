"""Chinese names of the codes the console shows (causes, departments, roles, levels), one table for
every page; `labels` in templates and `window.consoleLabels` in scripts. A code without a name shows as is."""

from __future__ import annotations

LABELS: dict[str, dict[str, str]] = {
    "cause": {"quality": "质量问题", "non_quality": "非质量问题", "unclassified": "未分类"},
    "department": {
        "customer_service": "客服部", "technical_quality": "技质部", "after_sales_service": "售后服务部",
        "warehouse": "仓库", "old_parts": "旧件管理", "sales_branch": "销售分公司",
    },
    "role": {
        "agent": "客服专员", "tq": "技质部", "engineer": "服务工程师", "warehouse_keeper": "库管员",
        "old_parts_officer": "旧件管理员", "branch_manager": "分公司经理", "deputy_gm": "副总经理", "gm": "总经理",
        "finance": "财务", "ops": "运维", "viewer": "只读", "management": "公司领导",
    },
    "level": {"site": "现场", "department": "部门", "leadership": "公司领导"},
}  # fmt: skip


def label(kind: str, code: str | None) -> str:
    return "" if code is None else LABELS.get(kind, {}).get(code, code)
