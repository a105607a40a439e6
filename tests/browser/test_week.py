"""The simulated week the browser tests run on leaves what aftersales/week.py says it does."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import ConsolePage, ConsoleSystem


def rules(view: dict[str, Any], key: str) -> list[str]:
    return [item["rule"] for item in view[key]]


async def test_the_week_leaves_work_waiting_and_work_done(console: ConsoleSystem) -> None:
    c = console.week.complaints
    serviced = await console.get(f"/api/v1/complaints/{c['serviced']}")
    assert serviced["dispatch"]["status"] == "audited"
    assert serviced["surveys"][0]["rating"] == 5
    assert "FIN-PART-LATE" in rules(serviced, "fines")
    assert {p["material_code"]: p["status"] for p in serviced["parts"]} == {
        "M-SEAL-25": "awaiting_hand_in", "M-FILTER-25": "awaiting_hand_in",
    }  # fmt: skip
    late = await console.get(f"/api/v1/complaints/{c['relayed_late']}")
    assert [(f["rule"], f["status"]) for f in late["fines"]] == [("FIN-RELAY-LATE", "disputed")]
    stranded = await console.get(f"/api/v1/complaints/{c['not_arrived']}")
    assert [(e["to"], e["status"]) for e in stranded["escalations"] if e["rule"] == "DSP-ARRIVE"] == [
        ("branch_manager", "forwarded"), ("management", "open"),
    ]  # fmt: skip
    assert (await console.get(f"/api/v1/complaints/{c['fee_refused']}"))["dispatch"]["status"] == "awaiting_deputy_gm"
    assert (await console.get(f"/api/v1/complaints/{c['fee_pending']}"))["dispatch"]["status"] == "awaiting_fee_consent"
    left = await console.get(f"/api/v1/complaints/{c['left_site']}")
    assert "FIN-RETURN-UNAPPROVED" in rules(left, "fines")
    assert left["parts"][0]["status"] == "handed_in"
    assert (await console.get(f"/api/v1/complaints/{c['unrelayed']}"))["relayed_at"] is None
    assert len(console.week.generated) == 12
    register = await console.get("/api/v1/reports/tracking-register")
    assert len(register) == len(c) + len(console.week.generated)


async def test_a_page_requesting_another_origin_is_caught(console_page: ConsolePage) -> None:
    await console_page.open("/healthz")
    await console_page.page.evaluate("fetch('https://cdn.example.invalid/x.js').catch(() => null)")
    assert console_page.guard.outside == ["https://cdn.example.invalid/x.js"]
    assert console_page.guard.requests[0].endswith("/healthz")
    console_page.guard.outside.clear()  # caught: the teardown check passes


async def test_a_load_the_content_security_policy_refuses_is_caught_too(console_page: ConsolePage) -> None:
    await console_page.open("/console/queue?role=gm")
    await console_page.page.evaluate(
        "() => { const s = document.createElement('script'); s.src = 'https://cdn.example.invalid/y.js';"
        " document.head.append(s); }"
    )
    await console_page.page.wait_for_timeout(300)
    assert any("cdn.example.invalid/y.js" in url for url in console_page.guard.outside), console_page.guard.outside
    console_page.guard.outside.clear()
