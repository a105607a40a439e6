"""Process settings, read once in each composition root from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, unquote, urlparse

from shared.events.subjects import Names


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
        )


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
