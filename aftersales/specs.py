"""The machine-readable contract, generated from the code: AsyncAPI (NATS) and OpenAPI (HTTP)."""

from __future__ import annotations

import json
from typing import Any, cast

import msgspec
from faststream import FastStream
from faststream.nats import JStream, NatsBroker
from faststream.specification import AsyncAPI

from services.dispatch.handlers import build_router as dispatch_router
from services.intake.handlers import build_router as intake_router
from services.parts.handlers import build_router as parts_router
from services.reporting.handlers import build_router as reporting_router
from shared.events.base import ENVELOPE_FIELDS, META_FIELDS, DomainEvent
from shared.events.catalog import all_specs
from shared.events.envelope import Envelope
from shared.events.subjects import Names
from shared.events.telephony import ComplaintReceivedV1, SurveyCompletedV1
from shared.runtime.service import Ports

API_VERSION = "1.0.0"


def asyncapi_document() -> dict[str, Any]:
    names = Names()
    broker = NatsBroker("nats://127.0.0.1:4222")
    unused: Any = None  # the handlers are only described here, never called
    broker.include_router(intake_router(unused, Ports(names), names, 500))
    broker.include_router(dispatch_router(unused, Ports(names), names, 500))
    broker.include_router(parts_router(unused, Ports(names), names, 500))
    broker.include_router(reporting_router(unused, Ports(names), names, 500))
    for spec in all_specs():
        broker.publisher(
            names.event(spec.service, spec.event_type),
            stream=JStream(names.events_stream(spec.service), declare=False),
            title=f"{spec.service}/{spec.event_type}",
            description=f"{spec.summary} Envelope of docs/contract.md §3; `data` is {spec.event_type} v{spec.version}.",
        )
    for inbound, subject in (
        (ComplaintReceivedV1, names.complaint_received),
        (SurveyCompletedV1, names.survey_completed),
    ):
        broker.publisher(subject, title=f"telephony/{inbound.__name__}")
    broker.publisher(names.deadletter("<source>"), title="deadletter", description="Poison messages with reason")
    app = FastStream(
        broker,
        specification=AsyncAPI(title="After-sales events", version=API_VERSION, description="docs/contract.md §1–3"),
    )
    document = cast(dict[str, Any], app.schema.to_specification().to_jsonable())
    _add_payload_schemas(document)
    return document


DEADLETTER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "DeadLetter",
    "required": ["source", "reason", "subject", "original_b64", "headers"],
    "properties": {
        "source": {"type": "string"},
        "reason": {"type": "string", "description": "Why the message can never be processed"},
        "subject": {"type": "string"},
        "stream": {"type": "string"},
        "stream_seq": {"type": "integer"},
        "dead_lettered_at": {"type": "string", "format": "date-time"},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "original_b64": {"type": "string", "description": "The original bytes (only their start if truncated), base64"},
        "original_size": {"type": "integer", "description": "Length of the whole original, in bytes"},
        "original_sha256": {"type": "string", "description": "sha256 of the whole original, hex"},
        "original_truncated": {"type": "boolean", "description": "true if the original was over the dead-letter limit"},
    },
}


def _strip(schema: dict[str, Any], names: frozenset[str]) -> None:
    schema["properties"] = {k: v for k, v in schema.get("properties", {}).items() if k not in names}
    required = [name for name in schema.get("required", []) if name not in names]
    if required:
        schema["required"] = required
    else:
        schema.pop("required", None)


def _add_payload_schemas(document: dict[str, Any]) -> None:
    """faststream describes payloads with pydantic; ours are msgspec structs, so fill them in here."""
    specs = all_specs()
    types: list[Any] = [Envelope, ComplaintReceivedV1, SurveyCompletedV1, *[s.payload for s in specs]]
    (_, components) = msgspec.json.schema_components(types, ref_template="#/components/schemas/{name}")
    schemas: dict[str, Any] = document["components"]["schemas"]
    for spec in specs:  # a domain event's metadata travels in the envelope, not in `data`
        if issubclass(spec.payload, DomainEvent):
            _strip(components[spec.payload.__name__], META_FIELDS | ENVELOPE_FIELDS)
    schemas.update(components)

    def ref(name: str) -> dict[str, str]:
        return {"$ref": f"#/components/schemas/{name}"}

    schemas["intake.telephony:Message:Payload"] = {"oneOf": [ref("ComplaintReceivedV1"), ref("SurveyCompletedV1")]}
    for upstream in ("intake", "dispatch", "parts"):
        schemas[f"reporting.{upstream}:Message:Payload"] = ref("Envelope")
    for spec in specs:
        schemas[f"{spec.service}.{spec.event_type}:Message:Payload"] = {
            "allOf": [ref("Envelope"), {"properties": {"data": ref(spec.payload.__name__)}}]
        }
    schemas["telephony.ComplaintReceivedV1:Message:Payload"] = ref("ComplaintReceivedV1")
    schemas["telephony.SurveyCompletedV1:Message:Payload"] = ref("SurveyCompletedV1")
    schemas["deadletter:Message:Payload"] = DEADLETTER_SCHEMA


def asyncapi_json() -> str:
    return json.dumps(asyncapi_document(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def openapi_json() -> str:
    from services.reporting.api import create_api

    api = create_api(lambda: cast(Any, None))
    return json.dumps(api.openapi(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
