"""Poison messages: kept on `aftersales.deadletter.<source>` with original bytes, headers and reason.

A dead-letter record is one JSON document (see `deadletter_record`); it always fits under the
broker's max payload. An original too large for that (base64 grows it by a third) is kept
truncated, with its full size and sha256, so it can be recognised but not replayed.
`aftersales deadletter list|show|replay` reads them back (aftersales/deadletters.py).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from prometheus_client import Counter

from shared.events.subjects import Names
from shared.runtime.settings import MAX_DEADLETTER_BYTES

DEADLETTERS = Counter("aftersales_deadletters_total", "Messages put on a dead-letter subject", ["source"])
log = structlog.get_logger()

HDR_REASON = "Aftersales-Reason"
MAX_REASON_CHARS = 2000
_CONTROL = re.compile("[\x00-\x1f\x7f]")


def header_safe(text: str, limit: int = 1000) -> str:
    """A NATS header value: one line, no control characters."""
    return _CONTROL.sub(" ", text[:limit])


def deadletter_record(
    *,
    source: str,
    reason: str,
    subject: str,
    stream: str,
    stream_seq: int,
    headers: Mapping[str, str],
    data: bytes,
    dead_lettered_at: dt.datetime,
    max_bytes: int = MAX_DEADLETTER_BYTES,
) -> bytes:
    """The dead-letter document for one message, at most `max_bytes` long.

    `original_b64` holds the original bytes, or only their first part when the whole would not fit
    (`original_truncated: true`); `original_size` and `original_sha256` always describe the whole.
    Headers that alone would take more than half the room are replaced by a note.
    """
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[:MAX_REASON_CHARS] + "…"
    record: dict[str, Any] = {
        "source": source,
        "reason": reason,
        "subject": subject,
        "stream": stream,
        "stream_seq": stream_seq,
        "dead_lettered_at": dead_lettered_at.isoformat(),
        "headers": dict(headers),
        "original_size": len(data),
        "original_sha256": hashlib.sha256(data).hexdigest(),
        "original_truncated": False,
        "original_b64": "",
    }
    if len(_dumps(record)) > max_bytes // 2:
        record["headers"] = {"Aftersales-Headers-Dropped": f"{sum(len(k) + len(v) for k, v in headers.items())} chars"}
    room = max_bytes - len(_dumps(record)) - 16
    if room < 0:
        raise ValueError(f"max_bytes {max_bytes} leaves no room for the dead-letter record itself")
    keep = len(data) if 4 * -(-len(data) // 3) <= room else (room // 4) * 3
    record["original_truncated"] = keep < len(data)
    record["original_b64"] = base64.b64encode(data[:keep]).decode("ascii")
    return _dumps(record)


def _dumps(record: Mapping[str, Any]) -> bytes:
    # ASCII only: a header or a reason with a lone surrogate still encodes.
    return json.dumps(record, ensure_ascii=True).encode("ascii")


async def dead_letter(
    js: JetStreamContext,
    names: Names,
    source: str,
    msg: Msg,
    reason: str,
    max_bytes: int = MAX_DEADLETTER_BYTES,
) -> None:
    """Publish the original message with its reason; the original is acked only after this succeeds."""
    meta = msg.metadata
    document = deadletter_record(
        source=source,
        reason=reason,
        subject=msg.subject,
        stream=meta.stream,
        stream_seq=meta.sequence.stream,
        headers=dict(msg.headers or {}),
        data=msg.data,
        dead_lettered_at=dt.datetime.now(dt.UTC),
        max_bytes=max_bytes,
    )
    out_headers = {
        HDR_REASON: header_safe(reason),
        "Nats-Msg-Id": f"dlq:{meta.stream}:{meta.sequence.stream}",
    }
    await js.publish(names.deadletter(source), document, headers=out_headers)
    DEADLETTERS.labels(source).inc()
    log.warning("dead_lettered", source=source, reason=reason[:MAX_REASON_CHARS], stream_seq=meta.sequence.stream)
