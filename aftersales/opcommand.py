"""Sending an operator's staff command over NATS request/reply with their API token (`AFTERSALES_TOKEN`),
as `aftersales calendar publish` and `aftersales privacy erase` do; the service checks the token again."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from shared.events.commands import CommandReply, decode_reply
from shared.security.authn import AUTH_HEADER


async def send_command(
    nats_url: str, subject: str, command: dict[str, Any], token: str, timeout_s: float, nats_options: Mapping[str, str]
) -> CommandReply:
    """Send `command` on `subject` with the token in the `Authorization` header; the service's reply."""
    import nats

    nc = await nats.connect(nats_url, connect_timeout=timeout_s, max_reconnect_attempts=1, **nats_options)
    try:
        headers = {AUTH_HEADER: f"Bearer {token}"}
        msg = await nc.request(subject, msgspec.json.encode(command), timeout=timeout_s, headers=headers)
    finally:
        await nc.close()
    return decode_reply(msg.data)
