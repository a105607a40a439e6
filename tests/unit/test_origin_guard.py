"""What the browser tests count as a request outside the server (aftersales/browser.py)."""

from __future__ import annotations

import pytest

from aftersales.browser import OriginGuard


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:8000/console/static/console.css", True),
        ("ws://127.0.0.1:8000/api/v1/events", True),
        ("data:image/svg+xml;base64,PHN2Zz4=", True),
        ("blob:http://127.0.0.1:8000/4b1c", True),
        ("about:blank", True),
        ("http://127.0.0.1:8001/x.js", False),
        ("http://localhost:8000/x.js", False),
        ("https://127.0.0.1:8000/x.js", False),
        ("https://cdn.jsdelivr.net/npm/echarts/dist/echarts.min.js", False),
        ("https://cdn.redoc.ly/redoc/logo-mini.svg", False),
        ("wss://fonts.example.com/", False),
    ],
)
def test_only_the_servers_own_origin_and_local_data_are_allowed(url: str, allowed: bool) -> None:
    assert OriginGuard("http://127.0.0.1:8000").allowed(url) is allowed


def test_an_outside_request_fails_the_check_and_marks_it_done() -> None:
    guard = OriginGuard("http://127.0.0.1:8000", outside=["https://cdn.example.com/a.js"])
    with pytest.raises(AssertionError, match=r"cdn\.example\.com"):
        guard.assert_same_origin()
    assert guard.checked
    OriginGuard("http://127.0.0.1:8000").assert_same_origin()
