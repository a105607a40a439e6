"""The complaint page (/console/complaints/{no}) and its dossier in chromium, on the simulated week: the
Chinese timeline with rule ids and 已复核, the dossier PDF with the same timeline, nothing from outside."""

from __future__ import annotations

import io
import re

from pypdf import PdfReader

from tests.browser.conftest import ConsolePage, ConsoleSystem

RELAY = "应于 14:30 前转交技质部（INT-RELAY-4WH：4 个工作小时，001 §6.1.3）"
FINE = "罚款 50 元给受理人 agent-017（FIN-RELAY-LATE"


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


async def test_the_complaint_page_tells_the_late_relay_in_chinese_with_its_rules(
    console: ConsoleSystem, console_page: ConsolePage
) -> None:
    no = console.week.complaints["relayed_late"]
    await console_page.open(f"/console/complaints/{no}")
    page = console_page.page
    text = await page.inner_text("main")
    assert await page.get_attribute("html", "lang") == "zh-CN"
    assert RELAY in text
    assert FINE in text
    assert "已复核" in text
    assert "复核不一致" not in text
    for rule in ("INT-RELAY-4WH", "FIN-RELAY-LATE", "INT-CLASSIFY"):
        assert rule in text, rule
    assert "_fen" not in text
    console_page.guard.assert_same_origin()


async def test_the_dossier_pdf_has_the_timeline(console: ConsoleSystem, console_page: ConsolePage) -> None:
    no = console.week.complaints["relayed_late"]
    await console_page.open(f"/api/v1/complaints/{no}/dossier?format=html")
    assert FINE in await console_page.page.inner_text("body")
    pdf = await console_page.page.request.get(f"{console.base_url}/api/v1/complaints/{no}/dossier?format=pdf")
    assert pdf.ok
    assert pdf.headers["content-type"] == "application/pdf"
    text = flat("".join(p.extract_text() for p in PdfReader(io.BytesIO(await pdf.body())).pages))
    assert flat(RELAY) in text
    assert flat(FINE) in text
    assert "已复核" in text
    console_page.guard.assert_same_origin()
