"""The AsyncAPI and OpenAPI documents in docs/ are generated from the code and must not be stale."""

from __future__ import annotations

from pathlib import Path

from aftersales.specs import asyncapi_json, openapi_json

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_asyncapi_document_is_current() -> None:
    assert (DOCS / "asyncapi.json").read_text(encoding="utf-8") == asyncapi_json(), (
        "docs/asyncapi.json is stale: run `aftersales asyncapi`"
    )


def test_openapi_document_is_current() -> None:
    assert (DOCS / "openapi.json").read_text(encoding="utf-8") == openapi_json(), (
        "docs/openapi.json is stale: run `aftersales openapi`"
    )


def test_asyncapi_names_every_contract_subject() -> None:
    text = asyncapi_json()
    for subject in ("telephony.complaint.received", "telephony.survey.completed", "aftersales.intake.ComplaintReceived",
                    "aftersales.deadletter."):  # fmt: skip
        assert subject in text
