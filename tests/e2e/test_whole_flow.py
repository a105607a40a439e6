"""All five processes, no event faked: a signed form's part goes late, and its fine is disputed.

intake → dispatch (form with a part) → parts (PRT-DUE-7D, FIN-PART-LATE) → dispatch notes the fine
→ disputed and reversed → the ledger nets to zero (docs/rules.md §4: any fine can be disputed and reversed).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.runtime.settings import Settings
from tests.e2e.conftest import Running
from tests.e2e.test_dispatch import BRANCH_MANAGER, ENGINEER, classified_fault, ok, settled, start, tick, visit
from tests.support import ServiceProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def started(e2e_settings: Settings, tmp_path: Path) -> Iterator[dict[str, ServiceProcess]]:
    port = str(e2e_settings.http_port)
    processes = {
        name: ServiceProcess(e2e_settings, tmp_path, name, AFTERSALES_HTTP_PORT=port).start()
        for name in ("intake", "dispatch", "parts", "reporting", "api")
    }
    yield processes
    for process in processes.values():
        process.stop()


def part_fines(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in view["fines"] if f["rule"] == "FIN-PART-LATE"]


async def test_a_late_part_from_a_real_form_is_fined_once_and_the_fine_reversed(running: Running) -> None:
    await start(running)
    no = await classified_fault(running, "CALL-FLOW-1", acceptance="2026-03-01", distance_km=120.0)
    await settled(running, no, lambda v: v["dispatch"] and v["dispatch"]["status"] == "dispatched", "the dispatch")
    await visit(running, no)  # signs a form replacing 2 × M-SEAL-25, completed 2026-11-23

    view = await settled(running, no, lambda v: len(v["parts"]) == 1, "the part recorded by parts")
    part = view["parts"][0]
    assert (part["material_code"], part["quantity"], part["due_date"]) == ("M-SEAL-25", 2, "2026-11-30")

    await tick(running, "2026-12-01T09:00:00+08:00")  # one day past due, no reason reported
    await tick(running, "2026-12-02T09:00:00+08:00")
    view = await settled(running, no, lambda v: part_fines(v) and v["parts"][0]["delay_days"] >= 2, "the late fine")
    (fine,) = part_fines(view)
    assert fine["person"] == ENGINEER[0]

    await ok(await running.command(no, "fines/dispute", ENGINEER, fine_id=fine["fine_id"], reason="配件运输延误"))
    await ok(await running.command(no, "fines/reverse", BRANCH_MANAGER, fine_id=fine["fine_id"], reason="核实属实"))
    view = await settled(running, no, lambda v: part_fines(v)[0]["status"] == "reversed", "the reversal")
    assert len(part_fines(view)) == 1  # fined once, however many ticks passed

    ledger = (await running.http.get("/api/v1/fines", params={"person": ENGINEER[0]})).json()
    late = [e for e in ledger["entries"] if e["fine_id"] == fine["fine_id"]]
    assert sorted(e["amount_fen"] for e in late) == [-fine["amount_fen"], fine["amount_fen"]]

    kpis = (await running.http.get("/api/v1/reports/kpis", params={"from": "2026-11-01", "to": "2026-12-01"})).json()
    by_name = {k["kpi"]: k for k in kpis["kpis"]}
    assert (by_name["service_on_time"]["numerator"], by_name["service_on_time"]["denominator"]) == (1, 1)
    assert by_name["service_at_fault"]["value"] == 0.0  # tq confirmed no service fault; fines do not count
    assert kpis["by_quarter"] == [{"quarter": "2026Q4", "model": "QY25K", "cause": "quality", "complaints": 1}]
    as_csv = await running.http.get("/api/v1/reports/kpis", headers={"Accept": "text/csv"})
    assert as_csv.text.lstrip("\ufeff").splitlines()[0].startswith("kpi,value,target,met")
