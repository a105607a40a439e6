"""The work queue page (/console/queue) in chromium, on the simulated week: each role's pending work
sorted by due time, the overdue marked, and nothing loaded from outside the server."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.browser.conftest import ConsolePage, ConsoleSystem, page_as

if TYPE_CHECKING:
    from playwright.async_api import Browser


async def rows(console_page: ConsolePage) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await console_page.page.eval_on_selector_all(
        "[data-testid=queue-item]",
        """rows => rows.map(r => ({kind: r.dataset.kind, due: r.dataset.due, overdue: r.dataset.overdue === 'true',
              marked: r.classList.contains('overdue'), cells: [...r.cells].map(c => c.innerText.trim())}))""",
    )
    return found


def sorted_by_due(found: list[dict[str, Any]]) -> bool:
    dated = [r["due"] for r in found if r["due"]]
    undated_after = all(not r["due"] for r in found[len(dated) :])
    return dated == sorted(dated) and undated_after  # every due time is +08:00: the strings sort as times


async def test_technical_quality_sees_the_weeks_classifications_and_audit_by_due_time(
    console: ConsoleSystem, console_page: ConsolePage
) -> None:
    await console_page.open("/console/queue?role=tq")
    page = console_page.page
    assert await page.title() == "工作队列 · 售后服务控制台"
    found = await rows(console_page)
    expected = await console.get("/api/v1/queue", role="tq")
    assert len(found) == expected["count"] > 5
    assert [r["kind"] for r in found] == [i["kind"] for i in expected["items"]]
    assert sorted_by_due(found)
    assert all(r["overdue"] == r["marked"] == ("已超时" in r["cells"][1]) for r in found)
    assert sum(r["overdue"] for r in found) == expected["overdue"] > 0

    c = console.week.complaints
    by_complaint = {(r["cells"][3], r["kind"]): r for r in found}
    unclassified = by_complaint[(c["unclassified"], "classify")]
    assert unclassified["overdue"]
    assert unclassified["cells"][0] == "2026-11-27 09:00"
    assert unclassified["cells"][4] == "INT-REPLY-8WH"
    assert not by_complaint[(c["no_solution"], "solution")]["overdue"]
    audit = by_complaint[(c["left_site"], "audit")]
    assert (audit["cells"][2], audit["cells"][5], audit["overdue"]) == ("服务质量确认与费用审核", "tq-005", False)
    customers = {r["cells"][6] for r in found}
    assert "吉*****" in customers  # 吉林长白物流, masked for a reader who is nobody in particular (PII-VIEW)
    assert not any("pii:" in name or "长白" in name for name in customers)
    summary = await page.inner_text("[data-testid=queue-summary]")
    assert f"共 {expected['count']} 项待办" in summary
    assert "2026-11-27 16:00" in summary  # the week's clock, China time
    link = page.locator(f"[data-testid=queue] a[href='/console/complaints/{c['unclassified']}']")
    assert await link.count() == 1
    console_page.guard.assert_same_origin()


async def test_an_engineer_sees_the_late_part_first_and_the_one_due_monday_after(
    console: ConsoleSystem, console_page: ConsolePage
) -> None:
    await console_page.open("/console/queue?role=engineer&person=eng-sc-1")
    found = await rows(console_page)
    assert [(r["kind"], r["cells"][0], r["overdue"]) for r in found] == [
        ("hand_in", "2026-11-24（当天）", True),
        ("hand_in", "2026-11-30（当天）", False),
    ]
    assert "M-FILTER-25" in found[0]["cells"][7]
    assert "M-SEAL-25" in found[1]["cells"][7]
    await console_page.open("/console/queue?role=engineer&person=eng-cq-1")
    assert [(r["kind"], r["overdue"]) for r in await rows(console_page)] == [("arrive", True)]
    console_page.guard.assert_same_origin()


async def test_choosing_a_role_in_the_form_shows_its_queue(console: ConsoleSystem, console_page: ConsolePage) -> None:
    await console_page.open("/console/queue")
    page = console_page.page
    await page.select_option("[data-testid=queue-filter] select[name=role]", label="销售分公司经理")
    async with page.expect_navigation():
        await page.click("[data-testid=queue-filter] button[type=submit]")
    assert "role=branch_manager" in page.url
    found = await rows(console_page)
    assert sorted_by_due(found)
    dispute = [r for r in found if r["kind"] == "decide_dispute"]
    assert [r["cells"][3] for r in dispute] == [console.week.complaints["relayed_late"]]
    assert "FIN-RELAY-LATE 50.00 元" in dispute[0]["cells"][7]
    assert await page.locator("h1").inner_text() == "工作队列 · 销售分公司经理"
    console_page.guard.assert_same_origin()


async def test_a_logged_in_engineer_sees_their_own_queue_whatever_the_query_asks(
    browser: Browser, console: ConsoleSystem
) -> None:
    async with page_as(browser, console, "eng-sc-1", "engineer") as console_page:
        await console_page.open("/console/queue?role=gm&person=gm-1")
        page = console_page.page
        assert await page.locator("h1").inner_text() == "工作队列 · 售后服务技术人员（eng-sc-1）"
        assert await page.locator("[data-testid=queue-filter]").count() == 0  # no choosing someone else's
        found = await rows(console_page)
        assert [(r["kind"], r["cells"][0]) for r in found] == [
            ("hand_in", "2026-11-24（当天）"), ("hand_in", "2026-11-30（当天）"),
        ]  # fmt: skip
        assert {r["cells"][6] for r in found} == {"中铁十局物资公司"}  # the engineer sees the customer (PII-VIEW)
        assert "eng-sc-1" in await page.inner_text("[data-testid=principal]")
        console_page.guard.assert_same_origin()
