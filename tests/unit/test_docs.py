"""The repository stands alone: its rulebook (docs/rules.md) and contract (docs/contract.md) agree
with the code, and nothing in it reads or cites documents that live outside the repository."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from services.dispatch import application as dispatch_app
from services.dispatch import policy as dispatch_policy
from services.intake import application as intake_app
from services.intake import policy as intake_policy
from services.parts import application as parts_app
from services.parts import policy as parts_policy

ROOT = Path(__file__).resolve().parents[2]
RULES_DOC = ROOT / "docs" / "rules.md"
CONTRACT_DOC = ROOT / "docs" / "contract.md"
CODE_DIRS = ("services", "shared", "aftersales")
RULE_ID = r"[A-Z]{3}-[A-Z0-9]+(?:-[A-Z0-9]+)*"
# The ids of the regulations and the project's decisions (docs/rules.md §1–5, §10); more may be added.
RULEBOOK_IDS = {
    "INT-REGISTER", "INT-DEDUP", "INT-REQUIRED", "INT-RELAY-4WH", "INT-REPLY-8WH", "INT-CLASSIFY", "INT-LEVELS",
    "WAR-PERIOD", "WAR-FREE", "WAR-MISUSE", "WAR-PAYER", "WAR-EXTEND-60D", "WAR-LEMON", "WAR-LOANER",
    "WAR-EXPIRY-NOTICE", "WAR-OUT",
    "DSP-ARRIVE", "DSP-FEE-CONSENT", "DSP-ASSIGN", "DSP-FORM", "DSP-RETURN-APPROVAL", "DSP-REPORT-3WD",
    "DSP-AUDIT-5WD", "DSP-FOLLOWUP",
    "FIN-RELAY-LATE", "FIN-RECORD-INCOMPLETE", "FIN-RETURN-UNAPPROVED", "FIN-AUDIT-LATE", "FIN-FORM-FALSIFIED",
    "FIN-PART-LATE", "ESC-CHAIN",
    "PRT-RECORD", "PRT-DUE-7D", "PRT-DISPOSITION", "PRT-PRICE-FLOOR", "PRT-REMOTE", "PRT-RESPONSIBILITY",
    "PRT-SCRAP-APPROVAL", "PRT-SUPPLIER-CLAIM",
}  # fmt: skip
RULEBOOKS: dict[str, Mapping[str, object]] = {
    "intake": intake_policy.RULES,
    "dispatch": dispatch_policy.RULES,
    "parts": parts_policy.RULES,
}


def rule_rows(text: str) -> dict[str, list[str]]:
    """Every table row of docs/rules.md whose first cell is a rule id, as its cells."""
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| ") and re.fullmatch(RULE_ID, cells[0]):
            if cells[0] in rows:
                raise ValueError(f"{cells[0]} has two rows in docs/rules.md")
            rows[cells[0]] = cells
    return rows


def registered_in(rows: dict[str, list[str]], service: str) -> set[str]:
    """The ids whose *in code* cell (the last) says the service's rulebook registers them."""
    return {rule for rule, cells in rows.items() if cells[-1] == f"registered in {service}"}


def rule_ids_in_code() -> dict[str, str]:
    """Every rule id the code uses, as a string literal or cited by one of the rulebook's prefixes."""
    found: dict[str, str] = {}
    cited = re.compile(rf'"({RULE_ID})"|\b((?:INT|WAR|DSP|FIN|PRT|ESC)-[A-Z0-9]+(?:-[A-Z0-9]+)*)\b')
    for folder in CODE_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for match in cited.finditer(path.read_text(encoding="utf-8")):
                found.setdefault(match.group(1) or match.group(2), str(path.relative_to(ROOT)))
    return found


def tracked_files() -> Iterator[Path]:
    """The files git tracks; outside a git checkout (an unpacked archive), every file but caches."""
    try:
        listing = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        skipped = {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
        for path in ROOT.rglob("*"):
            if path.is_file() and not skipped & set(path.relative_to(ROOT).parts):
                yield path
        return
    for name in listing.decode().split("\0"):
        if name and (ROOT / name).is_file():
            yield ROOT / name


def text_of(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None


# ------------------------------------------------------------------------------- docs/rules.md


def test_rules_doc_has_the_rulebook_sections_and_a_row_per_rule() -> None:
    text = RULES_DOC.read_text(encoding="utf-8")
    rows = rule_rows(text)
    headings = re.findall(r"^## (\d+)\. ", text, re.MULTILINE)
    assert headings == [str(n) for n in range(1, 12)]
    assert set(rows) >= RULEBOOK_IDS
    for rule, cells in rows.items():
        assert cells[-2], f"{rule} names no seed section"
        assert cells[-1], f"{rule} does not say where the code has it"


def test_every_rule_id_the_code_uses_is_documented() -> None:
    documented = set(rule_rows(RULES_DOC.read_text(encoding="utf-8")))
    undocumented = {rule: path for rule, path in rule_ids_in_code().items() if rule not in documented}
    assert not undocumented, f"rule ids used in the code but missing from docs/rules.md: {undocumented}"


@pytest.mark.parametrize("service", sorted(RULEBOOKS))
def test_the_rules_documented_as_registered_are_exactly_those_the_rulebook_registers(service: str) -> None:
    rows = rule_rows(RULES_DOC.read_text(encoding="utf-8"))
    documented = registered_in(rows, service)
    registered = set(RULEBOOKS[service])
    assert documented - registered == set(), f"docs/rules.md claims {service} registers these, it does not"
    assert registered - documented == set(), f"{service} registers these; docs/rules.md does not say so"


def test_rules_kept_outside_a_rulebook_name_files_that_enforce_them() -> None:
    rows = rule_rows(RULES_DOC.read_text(encoding="utf-8"))
    for rule, cells in rows.items():
        if cells[-1].startswith("registered in "):
            continue
        paths = re.findall(r"`([\w/.]+\.py)`", cells[-1])
        assert paths, f"{rule}: the in-code cell names no file"
        for name in paths:
            path = ROOT / name
            assert path.is_file(), f"{rule}: {name} does not exist"
            assert rule in path.read_text(encoding="utf-8"), f"{rule}: {name} does not mention it"


def test_roles_the_services_authorize_are_the_documented_roles() -> None:
    section = RULES_DOC.read_text(encoding="utf-8").split("## 7. ")[1].split("\n## ")[0]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", section, re.MULTILINE))
    used: set[str] = set(intake_app.CALENDAR_PUBLISHERS)
    for permissions in (intake_app.PERMISSIONS, dispatch_app.PERMISSIONS, parts_app.PERMISSIONS):
        for roles in permissions.values():
            used |= roles
    for approvers in parts_policy.current_policy().scrap_approvers.values():
        used |= approvers
    assert used, "no role found in the services' permissions"
    assert used <= documented, f"roles the code authorizes but docs/rules.md §7 does not list: {used - documented}"


# ------------------------------------------------------------------------------ the citations


def test_every_section_cited_in_the_repository_exists() -> None:
    sections = {
        name: {int(n) for n in re.findall(r"^## (\d+)\. ", (ROOT / "docs" / name).read_text(encoding="utf-8"), re.M)}
        for name in ("rules.md", "contract.md")
    }
    assert sections["contract.md"] == {1, 2, 3, 4, 5, 6}
    citation = re.compile(r"docs/(rules|contract)\.md §(\d+)(?:[–-](\d+))?")
    broken: list[str] = []
    cited = 0
    for path in tracked_files():
        for match in citation.finditer(text_of(path) or ""):
            cited += 1
            first, last = int(match.group(2)), int(match.group(3) or match.group(2))
            if not set(range(first, last + 1)) <= sections[f"{match.group(1)}.md"]:
                broken.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
    assert cited > 20
    assert not broken, f"citations of sections that do not exist: {broken}"


def test_no_tracked_file_reads_or_cites_documents_outside_the_repository() -> None:
    # Spelled in pieces so that this file does not match itself.
    outside = ["/".join(("..", "shared")), "/".join(("", "work", "shared")), "DOMAIN" + ".md", "CONTRACT" + ".md"]
    old_citation = re.compile(r"\b(?:DOMAIN|CONTRACT) §")
    offenders: list[str] = []
    files = 0
    for path in tracked_files():
        text = text_of(path)
        if text is None:
            continue
        files += 1
        for number, line in enumerate(text.splitlines(), 1):
            if any(needle in line for needle in outside) or old_citation.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert files > 50
    assert not offenders, "files that point outside the repository:\n" + "\n".join(offenders)
