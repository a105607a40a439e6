"""Poison messages: kept on `aftersales.deadletter.<source>` with original bytes, headers and reason."""

from __future__ import annotations

import base64
import datetime as dt
import json

import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from prometheus_client import Counter

from shared.events.subjects import Names

DEADLETTERS = Counter("aftersales_deadletters_total", "Messages put on a dead-letter subject", ["source"])
log = structlog.get_logger()


async def dead_letter(js: JetStreamContext, names: Names, source: str, msg: Msg, reason: str) -> None:
    """Publish the original message with its reason; the original is acked only after this succeeds."""
    headers = dict(msg.headers or {})
    meta = msg.metadata
    envelope = {
        "source": source,
        "reason": reason,
        "subject": msg.subject,
        "stream": meta.stream,
        "stream_seq": meta.sequence.stream,
        "dead_lettered_at": dt.datetime.now(dt.UTC).isoformat(),
        "headers": headers,
        "original_b64": base64.b64encode(msg.data).decode("ascii"),
    }
    out_headers = {
        "Aftersales-Reason": reason[:1000].replace("\r", " ").replace("\n", " "),
        "Nats-Msg-Id": f"dlq:{meta.stream}:{meta.sequence.stream}",
    }
    await js.publish(names.deadletter(source), json.dumps(envelope, ensure_ascii=False).encode(), headers=out_headers)
    DEADLETTERS.labels(source).inc()
    log.warning("dead_lettered", source=source, reason=reason, stream_seq=meta.sequence.stream)
