"""/docs (Swagger UI) and /redoc (ReDoc) render the API in chromium from the server's own files only."""

from __future__ import annotations

from tests.browser.conftest import ConsolePage, ConsoleSystem


async def test_swagger_ui_renders_the_api_offline(console: ConsoleSystem, console_page: ConsolePage) -> None:
    await console_page.open("/docs")
    page = console_page.page
    await page.wait_for_selector(".swagger-ui .info .title", timeout=15_000)
    assert "After-sales read API" in await page.inner_text(".swagger-ui .info .title")
    assert await page.locator(".opblock-summary-path[data-path='/api/v1/queue']").count() == 1
    # Swagger UI asks the identity provider the OpenAPI names (securitySchemes, OpenID Connect) for its
    # discovery document: not an asset of the page, and refused by the page's CSP all the same.
    schemes = (await console.get("/openapi.json"))["components"]["securitySchemes"]
    provider = {s["openIdConnectUrl"] for s in schemes.values() if s.get("type") == "openIdConnect"}
    console_page.guard.outside[:] = [u for u in console_page.guard.outside if not any(p in u for p in provider)]
    console_page.guard.assert_same_origin()


async def test_redoc_renders_the_api_offline(console_page: ConsolePage) -> None:
    await console_page.open("/redoc")
    page = console_page.page
    await page.wait_for_selector("h1", timeout=15_000)
    assert "After-sales read API" in await page.inner_text("h1")
    await page.get_by_text("/api/v1/queue").first.wait_for(timeout=15_000)
    console_page.guard.assert_same_origin()
