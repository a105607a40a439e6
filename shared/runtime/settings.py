"""Process settings, read once in each composition root from the environment."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, unquote, urlparse

from shared.events.subjects import Names
from shared.events.telephony import DoorLimits
from shared.runtime.natsauth import CredentialsError, NatsCredentials, connect_options
from shared.runtime.partitions import Partitioning

BROKER_MAX_PAYLOAD = 1024 * 1024
"""NATS `max_payload` (deploy/nats/*.conf and the embedded server's default): no message may be larger."""
MAX_EVENT_BYTES = 256 * 1024
"""The largest stored event (its state bytes) the event store accepts: with the envelope and headers
around it, and JSON escaping that at worst doubles it, its published form stays under the broker's max payload."""
MAX_DEADLETTER_BYTES = 512 * 1024
"""The largest dead-letter record; a larger original is kept truncated, with its size and sha256."""

_DOOR = DoorLimits()


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    nats_url: str
    database_url: str
    namespace: str = ""
    clock: Literal["wall", "external"] = "wall"
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    batch_size: int = 500
    stream_replicas: int = 1
    max_message_bytes: int = _DOOR.max_message_bytes
    max_field_chars: int = _DOOR.max_field_chars
    max_received_age: dt.timedelta = _DOOR.max_age
    max_received_ahead: dt.timedelta = _DOOR.max_ahead
    max_event_bytes: int = MAX_EVENT_BYTES
    checkpoint_key: str | None = None
    """Path of the Ed25519 private key that signs chain checkpoints (outside the database; `aftersales
    up` makes one in its data dir). None: links are not signed and the relay does not require it."""
    checkpoint_public_key: str | None = None
    """Path of the matching public key (PEM) for `audit verify` where the private key is not at hand."""
    checkpoint_interval_s: float = 5.0
    """How often (at most) each relay copies the newest signed checkpoint to the checkpoint stream."""
    partition_count: int = 1
    """Partitions of each consuming service's work (`AFTERSALES_PARTITION_COUNT`, the same in every
    process; `shared/runtime/partitions.py`)."""
    partitions: str = ""
    """The partitions this instance owns (`AFTERSALES_PARTITIONS`, e.g. `0-1`; empty: all; `auto`: leases)."""
    lease_ttl_s: float = 10.0
    """`AFTERSALES_LEASE_TTL_S`: how long a dynamic lease outlives its last renewal."""
    nats_credentials: Path | None = None
    """The file holding the process's NATS user (`AFTERSALES_NATS_CREDENTIALS`, one line
    `user:password`, mode 0600); None: connect without a user."""

    @property
    def partitioning(self) -> Partitioning:
        """Static ownership; with `AFTERSALES_PARTITIONS=auto` see `shared.runtime.leases.claim`."""
        return Partitioning.of(self.partition_count, "" if self.dynamic_partitions else self.partitions)

    @property
    def dynamic_partitions(self) -> bool:
        """`AFTERSALES_PARTITIONS=auto`: the partitions are taken with fenced leases (shared/runtime/leases.py)."""
        return self.partitions.strip() == "auto" and self.partition_count > 1

    def nats_user(self) -> NatsCredentials | None:
        """The user and password in `nats_credentials`, read now (a rotated file is taken at the next connect)."""
        return None if self.nats_credentials is None else NatsCredentials.read(self.nats_credentials)

    @property
    def nats_options(self) -> dict[str, str]:
        """Keyword arguments for `nats.connect`: the user and password, if any."""
        return connect_options(self.nats_user())

    @property
    def door_limits(self) -> DoorLimits:
        """What intake's door lets in (`shared.events.telephony.decode_telephony`)."""
        return DoorLimits(self.max_message_bytes, self.max_field_chars, self.max_received_age, self.max_received_ahead)

    @property
    def names(self) -> Names:
        return Names(self.namespace)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        try:
            nats_url = env["NATS_URL"]
            database_url = env["DATABASE_URL"]
        except KeyError as exc:
            raise SettingsError(f"{exc.args[0]} is not set (`aftersales up` sets it for you)") from None
        clock = env.get("AFTERSALES_CLOCK", "wall")
        if clock not in ("wall", "external"):
            raise SettingsError(f"AFTERSALES_CLOCK must be `wall` or `external`, not {clock!r}")
        return cls(
            nats_url=nats_url,
            database_url=database_url,
            namespace=env.get("AFTERSALES_NAMESPACE", ""),
            clock="external" if clock == "external" else "wall",
            http_host=env.get("AFTERSALES_HTTP_HOST", "127.0.0.1"),
            http_port=int(env.get("AFTERSALES_HTTP_PORT", "8080")),
            batch_size=int(env.get("AFTERSALES_BATCH_SIZE", "500")),
            stream_replicas=int(env.get("AFTERSALES_STREAM_REPLICAS", "1")),
            max_message_bytes=int(env.get("AFTERSALES_MAX_MESSAGE_BYTES", str(_DOOR.max_message_bytes))),
            max_field_chars=int(env.get("AFTERSALES_MAX_FIELD_CHARS", str(_DOOR.max_field_chars))),
            max_received_age=dt.timedelta(days=float(env.get("AFTERSALES_MAX_RECEIVED_AGE_DAYS", "30"))),
            max_received_ahead=dt.timedelta(hours=float(env.get("AFTERSALES_MAX_RECEIVED_AHEAD_HOURS", "24"))),
            max_event_bytes=_event_limit(int(env.get("AFTERSALES_MAX_EVENT_BYTES", str(MAX_EVENT_BYTES)))),
            checkpoint_key=env.get("AFTERSALES_CHECKPOINT_KEY") or None,
            checkpoint_public_key=env.get("AFTERSALES_CHECKPOINT_PUBLIC_KEY") or None,
            checkpoint_interval_s=float(env.get("AFTERSALES_CHECKPOINT_INTERVAL_S", "5")),
            partition_count=int(env.get("AFTERSALES_PARTITION_COUNT", "1")),
            partitions=env.get("AFTERSALES_PARTITIONS", ""),
            lease_ttl_s=float(env.get("AFTERSALES_LEASE_TTL_S", "10")),
            nats_credentials=nats_credentials(env),
        )


def nats_credentials(env: Mapping[str, str]) -> Path | None:
    """`AFTERSALES_NATS_CREDENTIALS` names a file `user:password` (mode 0600), checked now; unset: no user."""
    path = env.get("AFTERSALES_NATS_CREDENTIALS", "")
    if not path:
        return None
    try:
        NatsCredentials.read(Path(path))
    except CredentialsError as exc:
        raise SettingsError(f"AFTERSALES_NATS_CREDENTIALS: {exc}") from None
    return Path(path)


def _event_limit(limit: int) -> int:
    if not 0 < limit <= BROKER_MAX_PAYLOAD // 2:
        raise SettingsError(
            f"AFTERSALES_MAX_EVENT_BYTES must be between 1 and {BROKER_MAX_PAYLOAD // 2} (half the broker's max"
            f" payload), not {limit}"
        )
    return limit


def postgres_env(database_url: str) -> dict[str, str]:
    """The eventsourcing library's POSTGRES_* settings for a `postgresql://` URL (socket dirs too)."""
    url = urlparse(database_url)
    if url.scheme not in ("postgresql", "postgres"):
        raise SettingsError(f"DATABASE_URL must be a postgresql:// URL, not {database_url!r}")
    query = parse_qs(url.query)
    host = query.get("host", [url.hostname or "127.0.0.1"])[0]
    return {
        "POSTGRES_HOST": host,
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_DBNAME": unquote(url.path.lstrip("/")) or "postgres",
        "POSTGRES_USER": unquote(url.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(url.password or ""),
    }
