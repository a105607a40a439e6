"""The dashboard (/) in chromium, on the simulated week: every chart drawn with data, a fine levied
during the test shows without a reload, and nothing is loaded from outside the server."""

from __future__ import annotations

import time
from typing import Any

from tests.browser.conftest import ConsolePage, ConsoleSystem

LIVE_WITHIN_MS = 2_000
"""The issue's promise: the page shows a new event within 2 s, without a reload."""

CHART_DATA = """name => {
  const chart = echarts.getInstanceByDom(document.querySelector(`[data-chart="${name}"]`));
  const option = chart.getOption();
  const categories = (option.xAxis && option.xAxis[0] && option.xAxis[0].data) || [];
  return {categories, series: option.series.map(s => ({name: s.name, data: s.data}))};
}"""


async def charts_drawn(console_page: ConsolePage) -> dict[str, str]:
    page = console_page.page
    await console_page.until("() => [...document.querySelectorAll('[data-chart]')].every(c => c.dataset.hasData)")
    drawn: dict[str, str] = await page.eval_on_selector_all(
        "[data-chart]", "cs => Object.fromEntries(cs.map(c => [c.dataset.chart, c.dataset.hasData]))"
    )
    return drawn


def yuan_of(chart: dict[str, Any], person: str) -> float:
    index = chart["categories"].index(person)
    return float(sum((s["data"][index] or 0) for s in chart["series"]))


async def test_every_chart_of_the_dashboard_is_drawn_with_the_weeks_data(
    console: ConsoleSystem, console_page: ConsolePage
) -> None:
    await console_page.open("/")
    drawn = await charts_drawn(console_page)
    assert len(drawn) >= 9
    assert drawn == dict.fromkeys(drawn, "true"), drawn
    canvases = await console_page.page.eval_on_selector_all("[data-chart] canvas", "cs => cs.length")
    assert canvases >= len(drawn)
    fines = await console_page.page.evaluate(CHART_DATA, "fines-by-person")
    assert {"agent-017", "eng-sc-1", "eng-hb-1"} <= set(fines["categories"])
    assert yuan_of(fines, "eng-hb-1") == 200.0  # FIN-RETURN-UNAPPROVED, 20 000 fen
    kpis = await console_page.page.inner_text("[data-testid=kpis]")
    assert "服务及时率" in kpis
    assert "目标" in kpis
    console_page.guard.assert_same_origin()


async def test_a_fine_levied_now_shows_on_the_open_dashboard_within_2_s_without_a_reload(
    console: ConsoleSystem, console_page: ConsolePage
) -> None:
    page = console_page.page
    await console_page.open("/")
    await charts_drawn(console_page)
    await page.wait_for_selector("[data-testid=live].on", timeout=10_000)  # the event stream is connected
    await page.evaluate("window.__sameDocument = true")
    before = yuan_of(await page.evaluate(CHART_DATA, "fines-by-person"), "eng-sc-1")

    async with console.driver() as week:
        await week.command(console.week.complaints["serviced"], "fines", ("bm-1", "branch_manager"),
                           rule="FIN-FORM-FALSIFIED", amount_fen=12_300, reason="服务单签字与现场记录不符")  # fmt: skip
    levied = time.monotonic()
    await console_page.until(
        """([chart, before]) => {
             const i = echarts.getInstanceByDom(document.querySelector(`[data-chart="${chart}"]`)).getOption();
             const at = i.xAxis[0].data.indexOf("eng-sc-1");
             return at >= 0 && i.series.reduce((n, s) => n + (s.data[at] || 0), 0) > before;
           }""",
        ["fines-by-person", before],
        timeout_ms=LIVE_WITHIN_MS + 3_000,
    )
    shown_after_ms = (time.monotonic() - levied) * 1000
    after = yuan_of(await page.evaluate(CHART_DATA, "fines-by-person"), "eng-sc-1")
    assert round(after - before, 2) == 123.0
    assert await page.evaluate("window.__sameDocument === true")  # no reload
    assert shown_after_ms <= LIVE_WITHIN_MS, f"the fine showed after {shown_after_ms:.0f} ms"
    console_page.guard.assert_same_origin()
