"""JetStream streams the project owns (docs/contract.md §1: nothing lost while a service is down)."""

from __future__ import annotations

import structlog
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from shared.events.subjects import SERVICES, Names

DUPLICATE_WINDOW_S = 120.0


def stream_configs(names: Names, replicas: int = 1) -> list[StreamConfig]:
    """Limits retention without limits: the streams are the log every projection rebuilds from."""

    def cfg(name: str, subjects: list[str], description: str) -> StreamConfig:
        return StreamConfig(
            name=name,
            subjects=subjects,
            description=description,
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            duplicate_window=DUPLICATE_WINDOW_S,
            num_replicas=replicas,
        )

    configs = [
        cfg(names.telephony_stream, [names.telephony_all], "Inbound telephony messages (docs/contract.md §1)"),
        cfg(names.deadletter_stream, [names.deadletter_all], "Poison messages with their reason"),
        cfg(names.clock_stream, [names.clock_tick], "External clock ticks (docs/contract.md §2)"),
    ]
    checkpoints = cfg(names.checkpoints_stream, [names.checkpoints_all], "Signed chain checkpoints (audit verify)")
    checkpoints.deny_delete = checkpoints.deny_purge = True  # nobody rewrites the anchor of the chain
    checkpoints.allow_rollup_hdrs = False
    configs.append(checkpoints)
    configs += [cfg(names.events_stream(s), [names.events_of(s)], f"Domain events recorded by {s}") for s in SERVICES]
    return configs


log = structlog.get_logger()


async def ensure_streams(js: JetStreamContext, names: Names, replicas: int = 1) -> None:
    """Create the streams that do not exist yet. An existing stream is left as it is (operators
    manage production streams from deploy/jetstream, e.g. with 3 replicas); a difference in its
    subjects is logged, never "fixed" by overwriting."""
    for config in stream_configs(names, replicas):
        try:
            info = await js.stream_info(config.name or "")
        except NotFoundError:
            await js.add_stream(config)
            continue
        if sorted(info.config.subjects or []) != sorted(config.subjects or []):
            log.warning("stream_differs", stream=config.name, has=info.config.subjects, expected=config.subjects)
