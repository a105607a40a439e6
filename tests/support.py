"""Helpers for integration and e2e tests."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import nats
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from shared.events.base import DomainEvent
from shared.events.subjects import Names
from shared.runtime.natsauth import NatsCredentials
from shared.runtime.settings import Settings

E = TypeVar("E", bound=DomainEvent)


def wire_event(cls: type[E], **fields: Any) -> E:
    """A `shared.events` Struct with its own fields only, as a test publishes it for another service:
    the store's metadata is the envelope's (placeholders here; consumers read it from the envelope)."""
    return cls(originator_id=uuid.UUID(int=0), originator_version=1, timestamp=dt.datetime.now(dt.UTC),
               correlation_id="", causation_id="", **fields)  # fmt: skip


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], timeout_s: float = 30.0, interval_s: float = 0.05, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what or predicate}")


def call(call_id: str, **overrides: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "schema": "ComplaintReceived/1",
        "call_id": call_id,
        "received_at": "2026-11-23T09:15:00+08:00",
        "agent_id": "agent-017",
        "kind": "fault",
        "customer": {"name": "中铁十局物资公司", "phone": "13800000000"},
        "equipment": {"serial": "QY25K-2024-00871", "model": "QY25K", "acceptance_date": "2025-06-01"},
        "site": {"region": "四川", "distance_km": 420.0, "address": "成都市"},
        "description": "主臂伸缩油缸漏油, 无法作业",
    }
    message.update(overrides)
    return message


def body(message: dict[str, Any]) -> bytes:
    return json.dumps(message, ensure_ascii=False).encode()


class Bus:
    """A test's own NATS connection."""

    def __init__(self, nc: NatsClient, names: Names) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self.names = names

    @classmethod
    async def connect(cls, settings: Settings) -> Bus:
        return cls(await nats.connect(settings.nats_url, **settings.nats_options), settings.names)

    async def publish_call(self, message: dict[str, Any] | bytes, msg_id: str | None = None) -> None:
        data = message if isinstance(message, bytes) else body(message)
        headers = {"Nats-Msg-Id": msg_id} if msg_id else None
        await self.js.publish(self.names.complaint_received, data, headers=headers)

    async def stream_count(self, stream: str) -> int:
        info = await self.js.stream_info(stream)
        return int(info.state.messages)

    async def close(self) -> None:
        await self.nc.drain()


def service_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of an `aftersales …` child: `settings`, and its NATS user if it has one."""
    env = dict(os.environ)
    env.pop("AFTERSALES_NATS_CREDENTIALS", None)
    if settings.nats_credentials is not None:
        env["AFTERSALES_NATS_CREDENTIALS"] = str(settings.nats_credentials)
    env.update(
        NATS_URL=settings.nats_url,
        DATABASE_URL=settings.database_url,
        AFTERSALES_NAMESPACE=settings.namespace,
        AFTERSALES_CLOCK=settings.clock,
        **extra,
    )
    return env


def nats_user_options(settings: Settings, user: str) -> dict[str, str]:
    """`nats.connect` options for `user`, whose credentials file lies next to the settings' own (a NATS
    with users, as tests/e2e/conftest.py `secured_nats` runs it); none for a NATS without users."""
    if settings.nats_credentials is None:
        return {}
    return NatsCredentials.read(settings.nats_credentials.parent / f"{user}.credentials").connect_options()


class ServiceProcess:
    """One `aftersales run …` child process, killable like in production."""

    def __init__(self, settings: Settings, log_dir: Path, *args: str, **env: str) -> None:
        self.args = args
        self.env = service_env(settings, **env)
        if settings.nats_credentials is not None:  # NATS with users: the process connects as its own
            process = args[0] + ("-relay" if "--relay-only" in args else "")
            own = settings.nats_credentials.parent / f"{process}.credentials"
            if own.exists() and "AFTERSALES_NATS_CREDENTIALS" not in env:
                self.env["AFTERSALES_NATS_CREDENTIALS"] = str(own)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = log_dir / f"{'-'.join(args).replace('--', '')}.log"

    def start(self) -> ServiceProcess:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "aftersales.cli", "run", *self.args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""
